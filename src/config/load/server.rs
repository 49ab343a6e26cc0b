//! `[server]`: where credwatch listens and who may see what it serves.

use super::Loader;
use crate::config::defaults;
use crate::config::raw::{RawAuth, RawServer};
use crate::config::{AuthConfig, AuthMode, BasicUser, ConfigError, OidcConfig, RoleNames, ServerConfig, normalise_host};
use std::net::SocketAddr;
use url::Url;

impl Loader<'_> {
    /// `[server]`: the listen address (or `CREDWATCH_LISTEN`), the public URL and `[server.auth]`.
    pub(super) fn server(&self, raw: RawServer) -> Result<ServerConfig, ConfigError> {
        let (key, listen) = match self.var("CREDWATCH_LISTEN") {
            Some(v) => ("CREDWATCH_LISTEN", v),
            None => ("server.listen", raw.listen.unwrap_or_else(|| defaults::LISTEN.into())),
        };
        let listen: SocketAddr = listen.parse().map_err(|_| {
            let e = format!("{listen:?} is not an address with a port, e.g. \"127.0.0.1:8080\" or \"[::]:8080\"");
            if key == "server.listen" {
                self.err(key, e)
            } else {
                self.env_err(key, e)
            }
        })?;
        let public_url = match raw.public_url {
            Some(u) => self.url("server.public_url", &u)?,
            None => {
                let host = if listen.ip().is_unspecified() {
                    "127.0.0.1".to_string()
                } else {
                    listen.ip().to_string()
                };
                let host = if listen.is_ipv6() && !listen.ip().is_unspecified() {
                    format!("[{host}]")
                } else {
                    host
                };
                Url::parse(&format!("http://{host}:{}", listen.port())).map_err(|e| self.err("server.listen", e.to_string()))?
            }
        };
        let allowed_hosts = raw
            .allowed_hosts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                normalise_host(h).ok_or_else(|| {
                    self.err(
                        format!("server.allowed_hosts[{i}]"),
                        format!("{h:?} is not a host name or address (a port may follow; no scheme, no path)"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let auth = self.auth(raw.auth.unwrap_or_default(), listen, &public_url)?;
        if matches!(auth.mode, AuthMode::Basic { .. }) && !listen.ip().is_loopback() && public_url.scheme() == "http" {
            self.warn(
                "server.public_url",
                format!(
                    "mode = \"basic\" on {listen} with an http:// public_url: passwords cross the network in clear; put a TLS proxy in front (README, Deploy) and set public_url to its https:// address"
                ),
            );
        }
        let link_key = self.secret_source(
            "server.link_key_env",
            raw.link_key_env.as_deref(),
            "server.link_key_file",
            raw.link_key_file.as_deref(),
        )?;
        if let Some(key) = &link_key {
            use secrecy::ExposeSecret;
            // Shorter keys could be guessed offline from one signed link.
            if key.expose_secret().len() < 32 {
                let which = if raw.link_key_env.is_some() {
                    "server.link_key_env"
                } else {
                    "server.link_key_file"
                };
                return Err(self.err(
                    which,
                    "the key must be at least 32 characters long (e.g. `openssl rand -base64 33`)",
                ));
            }
        }
        Ok(ServerConfig {
            listen,
            public_url,
            allowed_hosts,
            auth,
            link_key,
        })
    }

    /// Refuses the keys of `[server.auth]` that belong to another mode than `mode`: left there,
    /// they would look as if they did something.
    fn other_mode_keys(&self, raw: &RawAuth, mode: &str) -> Result<(), ConfigError> {
        let set = [
            ("allow_anonymous", "none", raw.allow_anonymous.is_some()),
            ("anonymous_actions", "none", raw.anonymous_actions.is_some()),
            ("users", "basic", !raw.users.is_empty()),
            ("realm", "basic", raw.realm.is_some()),
            ("password_checks", "basic", raw.password_checks.is_some()),
            ("user_header", "proxy", raw.user_header.is_some()),
            ("trusted_proxies", "proxy", !raw.trusted_proxies.is_empty()),
            ("tenant_id", "oidc", raw.tenant_id.is_some()),
            ("client_id", "oidc", raw.client_id.is_some()),
            ("client_secret_env", "oidc", raw.client_secret_env.is_some()),
            ("client_secret_file", "oidc", raw.client_secret_file.is_some()),
            ("certificate_path", "oidc", raw.certificate_path.is_some()),
            ("authority_host", "oidc", raw.authority_host.is_some()),
            ("roles", "oidc", raw.roles.is_some()),
            ("allowed_tenants", "oidc", !raw.allowed_tenants.is_empty()),
        ];
        match set.iter().find(|(_, owner, present)| *present && *owner != mode) {
            Some((key, owner, _)) => Err(self.err(
                format!("server.auth.{key}"),
                format!("is a key of mode = \"{owner}\", but mode is \"{mode}\"; remove it or change the mode"),
            )),
            None => Ok(()),
        }
    }

    /// `[server.auth]`: the mode and its keys, and the metrics token.
    pub(super) fn auth(&self, mut raw: RawAuth, listen: SocketAddr, public_url: &Url) -> Result<AuthConfig, ConfigError> {
        let metrics_token = self.secret_source(
            "server.auth.metrics_token_env",
            raw.metrics_token_env.as_deref(),
            "server.auth.metrics_token_file",
            raw.metrics_token_file.as_deref(),
        )?;
        let mode_name = raw.mode.as_deref().unwrap_or(defaults::AUTH_MODE);
        let anonymous_actions = raw.anonymous_actions;
        if matches!(mode_name, "none" | "basic" | "proxy" | "oidc") {
            self.other_mode_keys(&raw, mode_name)?;
        }
        let mode = match mode_name {
            "none" => {
                if !listen.ip().is_loopback() && !raw.allow_anonymous.unwrap_or(defaults::ALLOW_ANONYMOUS) {
                    return Err(self.err(
                        "server.auth.mode",
                        format!(
                            "\"none\" would open the dashboard to anyone who reaches {listen}; set mode = \"basic\" or \"proxy\", listen on a loopback address, or set allow_anonymous = true if a firewall already guards it"
                        ),
                    ));
                }
                AuthMode::None
            }
            "basic" => {
                if raw.users.is_empty() {
                    return Err(self.err(
                        "server.auth.users",
                        "mode = \"basic\" needs at least one [[server.auth.users]] entry",
                    ));
                }
                let mut users = Vec::new();
                for (i, u) in raw.users.into_iter().enumerate() {
                    if u.name.is_empty() || u.name.contains(':') {
                        return Err(self.err(format!("server.auth.users[{i}].name"), "must be non-empty and contain no ':'"));
                    }
                    // Parsed as far as a check needs it (salt, output, costs), so no user is
                    // found unable to log in only when they try.
                    let usable = argon2::PasswordHash::new(&u.password_hash)
                        .is_ok_and(|h| h.salt.is_some() && h.hash.is_some() && argon2::Params::try_from(&h).is_ok());
                    if !usable || !u.password_hash.starts_with("$argon2") {
                        return Err(self.err(
                            format!("server.auth.users[{i}].password_hash"),
                            "is not an argon2 hash; make one with `credwatch hash-password`",
                        ));
                    }
                    users.push(BasicUser {
                        name: u.name,
                        password_hash: u.password_hash,
                    });
                }
                let realm = raw.realm.unwrap_or_else(|| defaults::REALM.into());
                if realm.contains('"') || realm.chars().any(char::is_control) {
                    return Err(self.err("server.auth.realm", "may not contain quotes or control characters"));
                }
                let password_checks = raw.password_checks.unwrap_or_else(defaults::password_checks);
                if password_checks == 0 {
                    return Err(self.err("server.auth.password_checks", "must be at least 1"));
                }
                AuthMode::Basic {
                    users,
                    realm,
                    password_checks,
                }
            }
            "proxy" => {
                if raw.trusted_proxies.is_empty() {
                    return Err(self.err(
                        "server.auth.trusted_proxies",
                        "mode = \"proxy\" needs the proxy's addresses, e.g. [\"127.0.0.1\"]",
                    ));
                }
                let trusted_proxies = raw
                    .trusted_proxies
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        p.parse::<ipnet::IpNet>()
                            .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                            .map_err(|_| {
                                self.err(
                                    format!("server.auth.trusted_proxies[{i}]"),
                                    format!("{p:?} is not an IP address or CIDR range"),
                                )
                            })
                    })
                    .collect::<Result<Vec<ipnet::IpNet>, _>>()?;
                // A /0 trusts every address: anyone could name any user in the header.
                if let Some(i) = trusted_proxies.iter().position(|net| net.prefix_len() == 0) {
                    return Err(self.err(
                        format!("server.auth.trusted_proxies[{i}]"),
                        format!(
                            "{:?} trusts every address, so anyone could name any user; list the proxy's own addresses",
                            raw.trusted_proxies[i]
                        ),
                    ));
                }
                let user_header = raw.user_header.unwrap_or_else(|| defaults::USER_HEADER.into());
                if actix_web::http::header::HeaderName::from_bytes(user_header.as_bytes()).is_err() {
                    return Err(self.err("server.auth.user_header", format!("{user_header:?} is not a header name")));
                }
                AuthMode::Proxy {
                    user_header,
                    trusted_proxies,
                }
            }
            "oidc" => AuthMode::Oidc(Box::new(self.oidc(&mut raw, public_url)?)),
            other => {
                return Err(self.err(
                    "server.auth.mode",
                    format!("{other:?} is not one of \"none\", \"basic\", \"proxy\", \"oidc\""),
                ));
            }
        };
        Ok(AuthConfig {
            mode,
            metrics_token,
            anonymous_actions: anonymous_actions.unwrap_or(defaults::ANONYMOUS_ACTIONS),
        })
    }

    /// `mode = "oidc"`: the tenant, the app and its credential, the role names.
    fn oidc(&self, raw: &mut RawAuth, public_url: &Url) -> Result<OidcConfig, ConfigError> {
        let required = |key: &str, value: Option<String>| match value.map(|v| v.trim().to_string()) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(self.err(
                format!("server.auth.{key}"),
                format!(
                    "mode = \"oidc\" needs {key}: the {} of credwatch's sign-in app registration",
                    if key == "tenant_id" {
                        "directory (tenant) ID"
                    } else {
                        "application (client) ID"
                    }
                ),
            )),
        };
        let tenant_id = required("tenant_id", raw.tenant_id.take())?;
        let client_id = required("client_id", raw.client_id.take())?;
        let credential = self.client_credential(
            "server.auth",
            super::environments::CredentialSources {
                secret_env: raw.client_secret_env.take(),
                secret_file: raw.client_secret_file.take(),
                certificate_path: raw.certificate_path.take(),
                federated_token_file: None,
            },
            "mode = \"oidc\" redeems sign-in codes with the app's credential; ",
        )?;
        let authority_host = match raw.authority_host.take() {
            Some(v) => self.secure_url("server.auth.authority_host", &v)?,
            None => self.default_authority()?,
        };
        let raw_roles = raw.roles.take().unwrap_or_default();
        let role = |key: &str, value: Option<String>, default: &str| match value {
            Some(v) if v.trim().is_empty() => Err(self.err(
                format!("server.auth.roles.{key}"),
                "may not be empty; name an app role of the app registration",
            )),
            Some(v) => Ok(v.trim().to_string()),
            None => Ok(default.to_string()),
        };
        let roles = RoleNames {
            read: role("read", raw_roles.read, defaults::ROLE_READ)?,
            operate: role("operate", raw_roles.operate, defaults::ROLE_OPERATE)?,
            admin: role("admin", raw_roles.admin, defaults::ROLE_ADMIN)?,
        };
        let allowed_tenants: Vec<String> = std::mem::take(&mut raw.allowed_tenants)
            .into_iter()
            .map(|t| t.trim().to_ascii_lowercase())
            .collect();
        if let Some(i) = allowed_tenants.iter().position(String::is_empty) {
            return Err(self.err(format!("server.auth.allowed_tenants[{i}]"), "is empty; list tenant IDs"));
        }
        let multi_tenant = matches!(tenant_id.to_ascii_lowercase().as_str(), "organizations" | "common");
        if multi_tenant && allowed_tenants.is_empty() {
            return Err(self.err(
                "server.auth.allowed_tenants",
                format!("tenant_id = {tenant_id:?} lets users of any tenant sign in; list the tenant IDs allowed in allowed_tenants"),
            ));
        }
        let secure_cookie = public_url.scheme() == "https";
        if !secure_cookie && !is_loopback_url(public_url) {
            return Err(self.err(
                "server.public_url",
                format!("mode = \"oidc\" sends sign-in codes and session cookies to {public_url}; it must be https (http only on a loopback address)"),
            ));
        }
        let redirect_uri = public_url
            .join("auth/callback")
            .map_err(|e| self.err("server.public_url", format!("cannot make the sign-in redirect URI from it: {e}")))?;
        Ok(OidcConfig {
            tenant_id,
            client_id,
            credential,
            authority_host,
            roles,
            allowed_tenants,
            redirect_uri,
            secure_cookie,
            session_idle: defaults::SESSION_IDLE,
            session_absolute: defaults::SESSION_ABSOLUTE,
        })
    }
}

fn is_loopback_url(url: &Url) -> bool {
    crate::config::is_loopback(url)
}
