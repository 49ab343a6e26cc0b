//! Typed configuration: the TOML file of SPEC.md plus the environment variables it names, parsed
//! and validated once at load. Every error names the file (or variable), the key and the problem,
//! so the process can exit before doing anything.
//!
//! The types here are what the rest of credwatch reads. `raw` is the file as serde sees it (one
//! field a key), `defaults` every value a key takes when left out, `load` the checks that turn the
//! first into the second.

mod defaults;
mod hosts;
mod load;
pub(crate) mod raw;

pub use hosts::normalise_host;

use crate::certificate::ClientCertificate;
use crate::domain::{Ladder, Thresholds};
use lettre::message::Mailbox;
use secrecy::SecretString;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use url::Url;

/// A configuration error: where it is, which key, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, or `environment` when the value came from an environment variable.
    pub origin: String,
    /// The key, e.g. `environments[1].client_secret_env` or `AZURE_TENANT_ID`.
    pub key: String,
    /// What is wrong, in words an operator can act on.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.origin, self.problem)
        } else {
            write!(f, "{}: {}: {}", self.origin, self.key, self.problem)
        }
    }
}

impl std::error::Error for ConfigError {}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from, if any.
    pub source: Option<PathBuf>,
    /// `[server]`: where the dashboard listens and who may see it.
    pub server: ServerConfig,
    /// `[database]`.
    pub database: DatabaseConfig,
    /// `[schedule]`: the cron strings of the sync and reminder jobs.
    pub schedule: ScheduleConfig,
    /// `[status]`: `critical_days` and `warning_days`.
    pub status: Thresholds,
    /// `[reminders]`: `days_before` and `expired_notice`.
    pub reminders: Ladder,
    /// `reminders.min_notice_days`: the latest a snooze may end is this many days before the
    /// credential's end.
    pub min_notice_days: i64,
    /// `[email]`: how reminders are sent, from whom, to whom.
    pub email: EmailConfig,
    /// `[calendar]`: the feed's token, size and patience.
    pub calendar: CalendarConfig,
    /// `[sync]`: how syncs talk to Graph.
    pub sync: SyncConfig,
    /// `[usage]`: what credential usage means and how often it is read.
    pub usage: UsageConfig,
    /// `[[environments]]`, or the one the `AZURE_*` variables define when the file names none.
    pub environments: Vec<EnvironmentConfig>,
    /// `[[exclusions]]` plus the built-in rules kept by `reminders.builtin_exclusions`.
    pub exclusions: crate::domain::Exclusions,
    /// `[[webhooks]]`: chat or JSON endpoints that receive reminders besides e-mail.
    pub webhooks: Vec<WebhookConfig>,
    /// `[escalation]`: urgent credentials nobody acknowledged, sent once to these; `None`
    /// without the table.
    pub escalation: Option<EscalationConfig>,
    /// What is risky but allowed (a secret file other users can read, a config file they can
    /// change, passwords over plain http): logged by every command at start.
    pub warnings: Vec<ConfigWarning>,
}

/// A risk in the configuration that does not stop credwatch, said like an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The file, or `environment`.
    pub origin: String,
    /// The key, e.g. `environments[0].client_secret_file`.
    pub key: String,
    /// What is risky and how to fix it.
    pub problem: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.origin, self.problem)
        } else {
            write!(f, "{}: {}: {}", self.origin, self.key, self.problem)
        }
    }
}

/// What a webhook expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookKind {
    /// `kind = "teams"`: a Microsoft Teams Workflows webhook ("Post to a channel when a webhook
    /// request is received"); the body is a message with an Adaptive Card.
    Teams,
    /// `kind = "json"`: a plain JSON document with every reminder, for any receiver.
    Json,
}

/// `[escalation]`: a credential ending within `within_days` that nobody acknowledged (or
/// snoozed) `after_hours` after its first reminder is sent, once, to `to` and/or `webhook`.
/// An expired credential still in use (when usage is known) is escalated at once.
#[derive(Debug, Clone)]
pub struct EscalationConfig {
    /// `escalation.within_days` (default `status.critical_days`).
    pub within_days: i64,
    /// `escalation.after_hours` (default 24).
    pub after_hours: i64,
    /// `escalation.to`.
    pub to: Vec<lettre::message::Mailbox>,
    /// `escalation.webhook`: a `[[webhooks]]` name.
    pub webhook: Option<String>,
}

/// One `[[webhooks]]` table.
#[derive(Clone)]
pub struct WebhookConfig {
    /// `name`: unique, `[a-z0-9-]+`; the reminder ledger records it as `webhook:{name}`.
    pub name: String,
    /// `kind`: `"teams"` or `"json"`.
    pub kind: WebhookKind,
    /// From `url_env` or `url_file`: webhook URLs carry their own credential (a signature), so
    /// they are secrets, never in the config file. https, or http to a loopback address.
    pub url: SecretString,
    /// `environments`: only these environments' reminders (default: all).
    pub environments: Vec<String>,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &"[REDACTED]")
            .field("environments", &self.environments)
            .finish()
    }
}

impl WebhookConfig {
    /// The recipient key of the reminder ledger.
    pub fn ledger_key(&self) -> String {
        format!("webhook:{}", self.name)
    }
}

/// `[server]`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address the dashboard listens on (`server.listen`, env `CREDWATCH_LISTEN`).
    pub listen: SocketAddr,
    /// Base of links in e-mails and calendar events (`server.public_url`).
    pub public_url: Url,
    /// `server.allowed_hosts`, normalised by [`normalise_host`] (lower case, no port): host names
    /// requests may name besides the listen address, `localhost` and `public_url`'s host.
    pub allowed_hosts: Vec<String>,
    /// Who may see the dashboard and API (`[server.auth]`).
    pub auth: AuthConfig,
    /// `server.link_key_env` / `link_key_file`: the key signing action links; `None`: the one
    /// credwatch keeps in its database.
    pub link_key: Option<SecretString>,
}

/// Access control of the web side. `/healthz` is always open; the calendar feed has its own
/// token (calendar clients cannot log in); `/metrics` may have its own bearer token.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `server.auth.mode` with the keys of that mode.
    pub mode: AuthMode,
    /// `server.auth.metrics_token_env` / `metrics_token_file`: a bearer token that opens
    /// `/metrics` alone, for a Prometheus scraper.
    pub metrics_token: Option<SecretString>,
    /// `server.auth.anonymous_actions`: with `mode = "none"`, dashboard actions for anyone.
    pub anonymous_actions: bool,
}

/// `server.auth.mode`.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// `mode = "none"`: anyone who reaches the port. Accepted only on a loopback address unless
    /// `allow_anonymous = true`.
    None,
    /// `mode = "basic"`: HTTP Basic against `[[server.auth.users]]` with argon2 password hashes
    /// (`credwatch hash-password` makes one).
    Basic {
        /// `[[server.auth.users]]`.
        users: Vec<BasicUser>,
        /// `server.auth.realm`.
        realm: String,
        /// `server.auth.password_checks`: argon2 checks that may run at once (default: one per
        /// core); a few more logins wait for a turn, the rest are answered 503.
        password_checks: usize,
    },
    /// `mode = "proxy"`: a reverse proxy authenticates and names the user in `user_header`;
    /// trusted only from `trusted_proxies` (addresses or CIDR ranges).
    Proxy {
        /// `server.auth.user_header`.
        user_header: String,
        /// `server.auth.trusted_proxies`.
        trusted_proxies: Vec<ipnet::IpNet>,
    },
    /// `mode = "oidc"`: sign-in with Microsoft Entra ID.
    Oidc(Box<OidcConfig>),
}

/// `mode = "oidc"`: people sign in with Microsoft Entra ID (authorization code flow with PKCE);
/// scripts send an access token for the same app.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// `server.auth.tenant_id`.
    pub tenant_id: String,
    /// `server.auth.client_id`.
    pub client_id: String,
    /// One of `client_secret_env`, `client_secret_file`, `certificate_path`.
    pub credential: ClientCredential,
    /// `server.auth.authority_host`.
    pub authority_host: Url,
    /// `server.auth.roles`.
    pub roles: RoleNames,
    /// `server.auth.allowed_tenants`: empty lets in only `tenant_id`'s users.
    pub allowed_tenants: Vec<String>,
    /// Where the authority sends the browser back: `public_url` + `/auth/callback`.
    pub redirect_uri: Url,
    /// The session cookie is `Secure` (public_url is https).
    pub secure_cookie: bool,
    /// A session ends after this long without a request.
    pub session_idle: std::time::Duration,
    /// A session ends this long after sign-in.
    pub session_absolute: std::time::Duration,
}

/// `server.auth.roles`: the app role names, as defined on the app registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleNames {
    /// `read`.
    pub read: String,
    /// `operate`.
    pub operate: String,
    /// `admin`.
    pub admin: String,
}

/// A dashboard user of `mode = "basic"`.
#[derive(Debug, Clone)]
pub struct BasicUser {
    /// `name`: the Basic user name.
    pub name: String,
    /// An argon2 PHC string (`$argon2id$v=19$…`); not a secret, but not shown either.
    pub password_hash: String,
}

/// `[database]`.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `database.url`, env `CREDWATCH_DATABASE_URL`, e.g. `sqlite://credwatch.db`.
    pub url: String,
}

/// A job's cron schedule; `None` when the job is turned off with `""`.
#[derive(Debug, Clone)]
pub struct Job {
    /// The cron string as configured, trimmed.
    pub expression: String,
    /// The parsed schedule, checked at load.
    pub schedule: Option<cron::Schedule>,
}

/// `[schedule]`: cron with seconds, in UTC.
#[derive(Debug, Clone)]
pub struct ScheduleConfig {
    /// `schedule.sync`: when to sync every environment (cron with seconds).
    pub sync: Job,
    /// `schedule.remind`: when to evaluate and send reminders.
    pub remind: Job,
}

/// Where reminder e-mails go.
#[derive(Debug, Clone)]
pub enum EmailTransport {
    /// `transport = "none"`: reminders are not sent (and not recorded).
    None,
    /// `transport = "smtp"`: `url` is `smtp://host:port` (STARTTLS when offered),
    /// `smtp://…?tls=required` or `smtps://host:port` (implicit TLS).
    Smtp {
        /// `email.url`.
        url: Url,
        /// How `email.url` says to use TLS (its scheme and `?tls=`). With a password and a host
        /// off this machine, only [`SmtpTls::Implicit`] or [`SmtpTls::Required`] load.
        tls: SmtpTls,
        /// `email.username`.
        username: Option<String>,
        /// From `email.password_env` or `email.password_file`.
        password: Option<SecretString>,
    },
    /// `transport = "file"`: one `.eml` file per message in `dir`.
    File {
        /// `email.dir`, relative to the config file.
        dir: PathBuf,
    },
}

/// TLS on the SMTP connection, from `email.url`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// `smtps://`: TLS from the first byte (port 465 by default).
    Implicit,
    /// `smtp://…?tls=required`: STARTTLS, and no mail when the server does not offer it.
    Required,
    /// `smtp://` or `?tls=opportunistic`: STARTTLS when the server offers it, else plain. A
    /// man-in-the-middle can remove the offer, so this is refused with a password unless the
    /// server is on this machine.
    Opportunistic,
    /// `?tls=none`: never encrypted (a relay on this machine).
    None,
}

/// `[email]`.
#[derive(Debug, Clone)]
pub struct EmailConfig {
    /// `email.transport` with the keys of that transport.
    pub transport: EmailTransport,
    /// `email.from`, required unless the transport is `none`.
    pub from: Option<Mailbox>,
    /// `email.to`: receives every reminder.
    pub to: Vec<Mailbox>,
}

/// `[calendar]`.
#[derive(Debug, Clone)]
pub struct CalendarConfig {
    /// The feed token from `calendar.token_env` or `calendar.token_file`; without one the feed is
    /// refused to everyone.
    pub token: Option<SecretString>,
    /// `calendar.max_events`: a feed that would hold more events than this (one per credential)
    /// holds one event per day instead, and says so in its name (default 2,000).
    pub max_events: u64,
    /// `calendar.stall_timeout_secs`: a feed download whose reader takes nothing for this long
    /// is cut off (default 30).
    pub stall_timeout: Duration,
}

/// How syncs talk to Graph (`[sync]`, all optional).
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// `sync.concurrency`: environments synced at once (default 4).
    pub concurrency: usize,
    /// `sync.request_timeout_secs`: timeout of every HTTP request to Graph or the token endpoint (default 30).
    pub request_timeout: Duration,
    /// `sync.max_attempts`: attempts per request when throttled or failing transiently (default 6).
    pub max_attempts: u32,
    /// `sync.max_backoff_secs`: longest wait between attempts, whatever `Retry-After` asks (default 60).
    pub max_backoff: Duration,
    /// Base of the exponential backoff when Graph gives no `Retry-After` (1 s; tests shorten it).
    pub backoff_base: Duration,
    /// `sync.fetch_owners`: read each application's owners with the listing (`$expand=owners`,
    /// default true). Graph then pages by 100 instead of 999, so a tenant with 10,000 apps
    /// takes 100 requests instead of 11.
    pub fetch_owners: bool,
    /// `sync.owners_refresh_hours`: how often owners are read again (default 24; 0 = at every
    /// sync). Syncs in between list credentials only, at 999 per page, and keep each
    /// application's stored owners; an application first seen in between has its owners read at
    /// the next refresh.
    pub owners_refresh: Duration,
}

impl Default for SyncConfig {
    /// What a config without `[sync]` gives.
    fn default() -> Self {
        SyncConfig {
            concurrency: defaults::SYNC_CONCURRENCY,
            request_timeout: defaults::REQUEST_TIMEOUT,
            max_attempts: defaults::MAX_ATTEMPTS,
            max_backoff: defaults::MAX_BACKOFF,
            backoff_base: defaults::BACKOFF_BASE,
            fetch_owners: defaults::FETCH_OWNERS,
            owners_refresh: Duration::from_secs(defaults::OWNERS_REFRESH_HOURS * 3600),
        }
    }
}

/// `[usage]`: credential usage from the sign-in activity reports (graph-facts §11).
#[derive(Debug, Clone)]
pub struct UsageConfig {
    /// `usage.active_days`: signed in within this many days is in use, else idle (default 30).
    pub active_days: i64,
    /// `usage.refresh_hours`: a sync reads the reports again once this long has passed since
    /// the last attempt (default 6; 0 = at every sync).
    pub refresh: Duration,
    /// `usage.incident_days`: an expired credential last used within this many days before its
    /// end heads Needs action as an incident (default 7).
    pub incident_days: i64,
    /// `usage.unused_days`: an idle credential unused this many days is a finding (default 90).
    pub unused_days: i64,
    /// `usage.idle_reminders`: what idle credentials get instead of in-use ones' ladder.
    pub idle_reminders: IdleReminders,
}

impl Default for UsageConfig {
    /// What a config without `[usage]` gives.
    fn default() -> Self {
        UsageConfig {
            active_days: defaults::USAGE_ACTIVE_DAYS,
            refresh: Duration::from_secs(defaults::USAGE_REFRESH_HOURS * 3600),
            incident_days: defaults::USAGE_INCIDENT_DAYS,
            unused_days: defaults::USAGE_UNUSED_DAYS,
            idle_reminders: IdleReminders::Cleanup,
        }
    }
}

/// `usage.idle_reminders` (defined in the domain, where the reminder ladder reads it).
pub use crate::domain::IdleReminders;

/// How credwatch signs in to one environment.
#[derive(Clone)]
pub enum ClientCredential {
    /// A client secret read from an environment variable at load.
    Secret(SecretString),
    /// A client secret read from a file at every sign-in, so a rotated file is picked up.
    SecretFile(PathBuf),
    /// A certificate and its private key (PEM); sign-in uses a signed JWT client assertion.
    Certificate(std::sync::Arc<ClientCertificate>),
    /// A federated token file whose content is the client assertion (workload identity); read at
    /// every sign-in because the platform rotates it.
    FederatedTokenFile(PathBuf),
}

impl fmt::Debug for ClientCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientCredential::Secret(_) => f.write_str("Secret([REDACTED])"),
            ClientCredential::SecretFile(p) => f.debug_tuple("SecretFile").field(p).finish(),
            ClientCredential::Certificate(c) => f.debug_tuple("Certificate").field(c).finish(),
            ClientCredential::FederatedTokenFile(p) => f.debug_tuple("FederatedTokenFile").field(p).finish(),
        }
    }
}

impl ClientCredential {
    /// How it signs in, for logs and `credwatch check`; never the secret.
    pub fn describe(&self) -> &'static str {
        match self {
            ClientCredential::Secret(_) | ClientCredential::SecretFile(_) => "client secret",
            ClientCredential::Certificate(_) => "certificate",
            ClientCredential::FederatedTokenFile(_) => "federated token",
        }
    }
}

/// One environment: a tenant and the app registration credwatch signs in with there.
#[derive(Debug, Clone)]
pub struct EnvironmentConfig {
    /// `name`: unique, `[a-z0-9-]+`.
    pub name: String,
    /// `tenant_id`: the directory (tenant) ID or domain.
    pub tenant_id: String,
    /// `client_id`: the application (client) ID of credwatch's own app registration.
    pub client_id: String,
    /// Exactly one of `client_secret_env`, `client_secret_file`, `certificate_path`,
    /// `federated_token_file`.
    pub credential: ClientCredential,
    /// `authority_host`, default `AZURE_AUTHORITY_HOST` or `https://login.microsoftonline.com`.
    pub authority_host: Url,
    /// `graph_url`, default `https://graph.microsoft.com`.
    pub graph_url: Url,
    /// `portal_url`: the Azure portal of this cloud, for links; derived from `graph_url` by default.
    pub portal_url: Url,
    /// `notify`: addresses that receive this environment's reminders besides `[email].to`.
    pub notify: Vec<Mailbox>,
    /// `notify_owners`: each application's owners (their `mail`) and the addresses its notes name
    /// after `credwatch-notify:` receive that application's reminders too (default false).
    pub notify_owners: bool,
    /// `include_service_principals`: also watch enterprise applications' credentials
    /// (`/servicePrincipals`, SAML signing certificates among them; default false).
    pub include_service_principals: bool,
    /// `usage`: read the sign-in activity reports of this tenant (default true on the global
    /// cloud, false on national clouds, which do not have them).
    pub usage: bool,
}

impl EnvironmentConfig {
    /// The "Certificates & secrets" blade of an app registration in the Azure portal.
    pub fn portal_link(&self, app_id: &str) -> String {
        crate::domain::portal_link(self.portal_url.as_str(), app_id)
    }
}

/// Reads environment variables; tests pass their own map instead of the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, for [`Config::load`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Config {
    /// Finds the config file as SPEC.md says: `--config`, else `$CREDWATCH_CONFIG`, else
    /// `./credwatch.toml` when it exists, else none.
    pub fn locate(flag: Option<&Path>, env: EnvLookup) -> Option<PathBuf> {
        if let Some(p) = flag {
            return Some(p.to_path_buf());
        }
        if let Some(p) = env("CREDWATCH_CONFIG").filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(p));
        }
        let default = PathBuf::from("credwatch.toml");
        default.exists().then_some(default)
    }

    /// Loads and validates the configuration from `path` (if any) and the environment.
    pub fn load(path: Option<&Path>, env: EnvLookup) -> Result<Config, ConfigError> {
        match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                    origin: path.display().to_string(),
                    key: String::new(),
                    problem: format!("cannot read the config file: {e}"),
                })?;
                Config::from_toml(&text, Some(path), env)
            }
            None => Config::from_toml("", None, env),
        }
    }

    /// Parses and validates config text; `source` names it in errors and anchors relative paths.
    pub fn from_toml(text: &str, source: Option<&Path>, env: EnvLookup) -> Result<Config, ConfigError> {
        load::from_toml(text, source, env)
    }

    /// The environment named `name`.
    pub fn environment(&self, name: &str) -> Option<&EnvironmentConfig> {
        self.environments.iter().find(|e| e.name == name)
    }
}

/// True when the URL's host is a loopback address (or `localhost`).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        // URLs of schemes the url crate does not know (smtp://) keep an IPv4 address as a name.
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost") || d.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
        }
        None => false,
    }
}
