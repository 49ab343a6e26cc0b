//! `[[environments]]`: the tenants credwatch watches and how it signs in to each, or the one
//! environment the Azure SDK's `AZURE_*` variables define.

use super::Loader;
use crate::certificate::{CertError, ClientCertificate};
use crate::config::raw::RawEnvironment;
use crate::config::{ClientCredential, ConfigError, EnvironmentConfig, defaults, is_loopback};
use crate::domain::default_portal;
use secrecy::SecretString;
use std::path::{Path, PathBuf};
use url::Url;

/// Where an app registration's credential may come from (see [`Loader::client_credential`]).
pub(super) struct CredentialSources {
    pub secret_env: Option<String>,
    pub secret_file: Option<PathBuf>,
    pub certificate_path: Option<PathBuf>,
    /// `None` where a federated token is not offered at all.
    pub federated_token_file: Option<Option<PathBuf>>,
}

impl Loader<'_> {
    /// `AZURE_AUTHORITY_HOST` when set, else the global cloud's token endpoint.
    pub(super) fn default_authority(&self) -> Result<Url, ConfigError> {
        match self.var("AZURE_AUTHORITY_HOST") {
            // The Azure SDK convention: a bare host or an https URL.
            Some(v) => {
                let v = v.trim().trim_end_matches('/');
                let full = if v.contains("://") { v.to_string() } else { format!("https://{v}") };
                let url =
                    Url::parse(&full).map_err(|e| self.env_err("AZURE_AUTHORITY_HOST", format!("{v:?} is not a host or URL: {e}")))?;
                if url.scheme() != "https" && !(url.scheme() == "http" && is_loopback(&url)) {
                    return Err(self.env_err(
                        "AZURE_AUTHORITY_HOST",
                        format!("{v:?} must be https (http only to a loopback address)"),
                    ));
                }
                Ok(url)
            }
            None => Ok(Url::parse(defaults::AUTHORITY).expect("constant URL")),
        }
    }

    /// An app registration's credential from its sources, exactly one of which must be set; keys
    /// are named under `key`. `why` (with its own separator) says what the credential is for.
    pub(super) fn client_credential(&self, key: &str, sources: CredentialSources, why: &str) -> Result<ClientCredential, ConfigError> {
        let k = |field: &str| format!("{key}.{field}");
        let mut names = vec!["client_secret_env", "client_secret_file", "certificate_path"];
        if sources.federated_token_file.is_some() {
            names.push("federated_token_file");
        }
        let set = [
            sources.secret_env.is_some(),
            sources.secret_file.is_some(),
            sources.certificate_path.is_some(),
            sources.federated_token_file.as_ref().is_some_and(Option::is_some),
        ];
        let count = set.iter().filter(|s| **s).count();
        if count != 1 {
            let problem = if count == 0 {
                "no secret source is set"
            } else {
                "more than one secret source is set"
            };
            return Err(self.err(key, format!("{problem}: {why}set exactly one of {}", names.join(", "))));
        }
        Ok(if let Some(var) = sources.secret_env {
            match self.var(&var) {
                Some(v) => ClientCredential::Secret(SecretString::from(v.trim().to_string())),
                None => return Err(self.err(k("client_secret_env"), format!("environment variable {var} is not set or empty"))),
            }
        } else if let Some(path) = sources.secret_file {
            self.read_secret_file(&k("client_secret_file"), &path)?;
            ClientCredential::SecretFile(self.path(&path))
        } else if let Some(path) = sources.certificate_path {
            let path = self.path(&path);
            let cert = ClientCertificate::load(&path).map_err(|e| self.err(k("certificate_path"), cert_problem(&path, e)))?;
            self.check_secret_file(&k("certificate_path"), &path);
            ClientCredential::Certificate(std::sync::Arc::new(cert))
        } else {
            let path = self.path(sources.federated_token_file.flatten().as_deref().expect("counted above"));
            self.read_secret_file(&k("federated_token_file"), &path)?;
            ClientCredential::FederatedTokenFile(path)
        })
    }

    /// One `[[environments]]` table, `key` naming it in errors.
    pub(super) fn environment(&self, key: &str, raw: RawEnvironment) -> Result<EnvironmentConfig, ConfigError> {
        let k = |field: &str| format!("{key}.{field}");
        let required = |field: &str, v: Option<String>| -> Result<String, ConfigError> {
            match v.map(|v| v.trim().to_string()) {
                Some(v) if !v.is_empty() => Ok(v),
                _ => Err(self.err(k(field), "is required")),
            }
        };
        let name = required("name", raw.name)?;
        if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(self.err(k("name"), format!("{name:?} may contain only a-z, 0-9 and -")));
        }
        let tenant_id = required("tenant_id", raw.tenant_id)?;
        if !tenant_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
            return Err(self.err(k("tenant_id"), format!("{tenant_id:?} is not a tenant ID or domain")));
        }
        let client_id = required("client_id", raw.client_id)?;
        let credential = self.client_credential(
            key,
            CredentialSources {
                secret_env: raw.client_secret_env,
                secret_file: raw.client_secret_file,
                certificate_path: raw.certificate_path,
                federated_token_file: Some(raw.federated_token_file),
            },
            "",
        )?;
        let authority_host = match raw.authority_host {
            Some(v) => self.secure_url(&k("authority_host"), &v)?,
            None => self.default_authority()?,
        };
        let graph_url = self.secure_url(&k("graph_url"), raw.graph_url.as_deref().unwrap_or(defaults::GRAPH))?;
        let portal_url = match raw.portal_url {
            Some(v) => self.url(&k("portal_url"), &v)?,
            None => default_portal(&graph_url),
        };
        let notify = raw
            .notify
            .iter()
            .enumerate()
            .map(|(i, n)| self.mailbox(&format!("{key}.notify[{i}]"), n))
            .collect::<Result<_, _>>()?;
        Ok(EnvironmentConfig {
            name,
            tenant_id,
            client_id,
            credential,
            authority_host,
            portal_url,
            notify,
            notify_owners: raw.notify_owners.unwrap_or(defaults::NOTIFY_OWNERS),
            include_service_principals: raw.include_service_principals.unwrap_or(defaults::INCLUDE_SERVICE_PRINCIPALS),
            usage: match raw.usage {
                Some(true) if !usage_available(&graph_url) => {
                    return Err(self.err(
                        k("usage"),
                        format!(
                            "the sign-in activity reports exist on the global service only, not on {} (graph-facts §11); remove the key or set it to false",
                            graph_url.host_str().unwrap_or_default()
                        ),
                    ));
                }
                Some(on) => on,
                None => defaults::USAGE && usage_available(&graph_url),
            },
            graph_url,
        })
    }

    /// The Azure SDK convention: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and a secret, certificate or
    /// federated token file define one environment when the file names none.
    pub(super) fn zero_config_environment(&self) -> Result<Option<EnvironmentConfig>, ConfigError> {
        let (Some(tenant_id), Some(client_id)) = (self.var("AZURE_TENANT_ID"), self.var("AZURE_CLIENT_ID")) else {
            return Ok(None);
        };
        let credential = if let Some(secret) = self.var("AZURE_CLIENT_SECRET") {
            ClientCredential::Secret(SecretString::from(secret.trim().to_string()))
        } else if let Some(path) = self.var("AZURE_CLIENT_CERTIFICATE_PATH") {
            let cert = ClientCertificate::load(Path::new(&path))
                .map_err(|e| self.env_err("AZURE_CLIENT_CERTIFICATE_PATH", cert_problem(Path::new(&path), e)))?;
            self.check_secret_env_file("AZURE_CLIENT_CERTIFICATE_PATH", Path::new(&path));
            ClientCredential::Certificate(std::sync::Arc::new(cert))
        } else if let Some(path) = self.var("AZURE_FEDERATED_TOKEN_FILE") {
            self.check_secret_env_file("AZURE_FEDERATED_TOKEN_FILE", Path::new(&path));
            ClientCredential::FederatedTokenFile(PathBuf::from(path))
        } else {
            return Err(self.env_err(
                "AZURE_CLIENT_SECRET",
                "AZURE_TENANT_ID and AZURE_CLIENT_ID are set but none of AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE",
            ));
        };
        let name = self
            .var("CREDWATCH_ENVIRONMENT")
            .unwrap_or_else(|| defaults::ZERO_CONFIG_ENVIRONMENT.into());
        if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(self.env_err("CREDWATCH_ENVIRONMENT", format!("{name:?} may contain only a-z, 0-9 and -")));
        }
        let graph_url = Url::parse(defaults::GRAPH).expect("constant URL");
        Ok(Some(EnvironmentConfig {
            name,
            tenant_id,
            client_id,
            credential,
            authority_host: self.default_authority()?,
            portal_url: default_portal(&graph_url),
            graph_url,
            notify: Vec::new(),
            notify_owners: defaults::NOTIFY_OWNERS,
            include_service_principals: defaults::INCLUDE_SERVICE_PRINCIPALS,
            usage: defaults::USAGE,
        }))
    }
}

/// Whether the sign-in activity reports exist on this Graph: the global service has them, the
/// national clouds (US Government `*.us`, China `*.cn`) do not.
pub(crate) fn usage_available(graph_url: &Url) -> bool {
    let host = graph_url.host_str().unwrap_or_default();
    !(host.ends_with(".us") || host.ends_with(".cn"))
}

/// A certificate error in words, naming the file (a read error names it already).
pub(super) fn cert_problem(path: &Path, e: CertError) -> String {
    match e {
        CertError::Read { .. } => e.to_string(),
        e => format!("{}: {e}", path.display()),
    }
}
