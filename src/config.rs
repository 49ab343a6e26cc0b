//! Typed configuration: the TOML file of SPEC.md plus the environment variables it names, parsed
//! and validated once at load. Every error names the file (or variable), the key and the problem,
//! so the process can exit before doing anything.

use crate::domain::{Ladder, Thresholds};
use crate::graph::token::ClientCertificate;
use lettre::message::Mailbox;
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;
use url::Url;

/// A configuration error: where it is, which key, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, or `environment` when the value came from an environment variable.
    pub origin: String,
    /// The key, e.g. `environments[1].client_secret_env` or `AZURE_TENANT_ID`.
    pub key: String,
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
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub schedule: ScheduleConfig,
    pub status: Thresholds,
    pub reminders: Ladder,
    pub email: EmailConfig,
    pub calendar: CalendarConfig,
    pub sync: SyncConfig,
    pub environments: Vec<EnvironmentConfig>,
    /// `[[exclusions]]` plus the built-in rules kept by `reminders.builtin_exclusions`.
    pub exclusions: crate::policy::Exclusions,
    /// `[[webhooks]]`: chat or JSON endpoints that receive reminders besides e-mail.
    pub webhooks: Vec<WebhookConfig>,
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

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address the dashboard listens on (`server.listen`, env `CREDWATCH_LISTEN`).
    pub listen: SocketAddr,
    /// Base of links in e-mails and calendar events (`server.public_url`).
    pub public_url: Url,
    /// Who may see the dashboard and API (`[server.auth]`).
    pub auth: AuthConfig,
}

/// Access control of the web side. `/healthz` is always open; the calendar feed has its own
/// token (calendar clients cannot log in); `/metrics` may have its own bearer token.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub mode: AuthMode,
    /// `server.auth.metrics_token_env` / `metrics_token_file`: a bearer token that opens
    /// `/metrics` alone, for a Prometheus scraper.
    pub metrics_token: Option<SecretString>,
}

#[derive(Debug, Clone)]
pub enum AuthMode {
    /// `mode = "none"`: anyone who reaches the port. Accepted only on a loopback address unless
    /// `allow_anonymous = true`.
    None,
    /// `mode = "basic"`: HTTP Basic against `[[server.auth.users]]` with argon2 password hashes
    /// (`credwatch hash-password` makes one).
    Basic { users: Vec<BasicUser>, realm: String },
    /// `mode = "proxy"`: a reverse proxy authenticates and names the user in `user_header`;
    /// trusted only from `trusted_proxies` (addresses or CIDR ranges).
    Proxy {
        user_header: String,
        trusted_proxies: Vec<ipnet::IpNet>,
    },
}

/// A dashboard user of `mode = "basic"`.
#[derive(Debug, Clone)]
pub struct BasicUser {
    pub name: String,
    /// An argon2 PHC string (`$argon2id$v=19$…`); not a secret, but not shown either.
    pub password_hash: String,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// `database.url`, env `CREDWATCH_DATABASE_URL`, e.g. `sqlite://credwatch.db`.
    pub url: String,
}

/// A job's cron schedule; `None` when the job is turned off with `""`.
#[derive(Debug, Clone)]
pub struct Job {
    pub expression: String,
    pub schedule: Option<cron::Schedule>,
}

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
        url: Url,
        username: Option<String>,
        password: Option<SecretString>,
    },
    /// `transport = "file"`: one `.eml` file per message in `dir`.
    File { dir: PathBuf },
}

#[derive(Debug, Clone)]
pub struct EmailConfig {
    pub transport: EmailTransport,
    /// `email.from`, required unless the transport is `none`.
    pub from: Option<Mailbox>,
    /// `email.to`: receives every reminder.
    pub to: Vec<Mailbox>,
}

#[derive(Debug, Clone)]
pub struct CalendarConfig {
    /// The feed token from `calendar.token_env` or `calendar.token_file`; without one the feed is
    /// refused to everyone.
    pub token: Option<SecretString>,
    /// `calendar.max_events`: a feed that would hold more events than this (one per credential)
    /// holds one event per day instead, and says so in its name (default 2,000: about 3 MB, and
    /// whatever the tenant's size a day-grouped feed stays under 5 MB).
    pub max_events: u64,
    /// `calendar.stall_timeout_secs`: a feed download whose reader takes nothing for this long
    /// is cut off (default 30).
    pub stall_timeout: Duration,
}

impl CalendarConfig {
    pub const DEFAULT_MAX_EVENTS: u64 = 2_000;
    pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(30);
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
    fn default() -> Self {
        SyncConfig {
            concurrency: 4,
            request_timeout: Duration::from_secs(30),
            max_attempts: 6,
            max_backoff: Duration::from_secs(60),
            backoff_base: Duration::from_secs(1),
            fetch_owners: true,
            owners_refresh: Duration::from_secs(24 * 3600),
        }
    }
}

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
}

impl EnvironmentConfig {
    /// The "Certificates & secrets" blade of an app registration in the Azure portal.
    pub fn portal_link(&self, app_id: &str) -> String {
        portal_link(&self.portal_url, app_id)
    }
}

/// The "Certificates & secrets" blade of an app registration, on the given portal.
pub fn portal_link(portal_url: &Url, app_id: &str) -> String {
    let app_id: String = url::form_urlencoded::byte_serialize(app_id.as_bytes()).collect();
    format!(
        "{}/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Credentials/appId/{app_id}",
        portal_url.as_str().trim_end_matches('/')
    )
}

/// The single sign-on blade of an enterprise application (service principal), where its SAML
/// signing certificates and secrets are managed.
pub fn enterprise_app_link(portal_url: &Url, object_id: &str, app_id: &str) -> String {
    let enc = |s: &str| -> String { url::form_urlencoded::byte_serialize(s.as_bytes()).collect() };
    format!(
        "{}/#view/Microsoft_AAD_IAM/ManagedAppMenuBlade/~/SignOnV2/objectId/{}/appId/{}",
        portal_url.as_str().trim_end_matches('/'),
        enc(object_id),
        enc(app_id)
    )
}

// ---- the raw file, as serde sees it -------------------------------------------------------

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: RawServer,
    #[serde(default)]
    database: RawDatabase,
    #[serde(default)]
    schedule: RawSchedule,
    #[serde(default)]
    status: RawStatus,
    #[serde(default)]
    reminders: RawReminders,
    email: Option<RawEmail>,
    #[serde(default)]
    calendar: RawCalendar,
    #[serde(default)]
    sync: RawSync,
    #[serde(default)]
    environments: Vec<RawEnvironment>,
    #[serde(default)]
    exclusions: Vec<RawExclusion>,
    #[serde(default)]
    webhooks: Vec<RawWebhook>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawExclusion {
    name: Option<String>,
    environment: Option<String>,
    app_id: Option<String>,
    app_name: Option<String>,
    credential_name: Option<String>,
    tag: Option<String>,
    reason: Option<String>,
    until: Option<toml::value::Datetime>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    name: Option<String>,
    kind: Option<String>,
    url_env: Option<String>,
    url_file: Option<PathBuf>,
    #[serde(default)]
    environments: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    public_url: Option<String>,
    auth: Option<RawAuth>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    mode: Option<String>,
    allow_anonymous: Option<bool>,
    realm: Option<String>,
    #[serde(default)]
    users: Vec<RawUser>,
    user_header: Option<String>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    metrics_token_env: Option<String>,
    metrics_token_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: String,
    password_hash: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    url: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    sync: Option<String>,
    remind: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStatus {
    critical_days: Option<i64>,
    warning_days: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawReminders {
    days_before: Option<Vec<i64>>,
    expired_notice: Option<bool>,
    builtin_exclusions: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEmail {
    transport: Option<String>,
    url: Option<String>,
    username: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    dir: Option<PathBuf>,
    from: Option<String>,
    #[serde(default)]
    to: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    token_env: Option<String>,
    token_file: Option<PathBuf>,
    max_events: Option<u64>,
    stall_timeout_secs: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSync {
    concurrency: Option<usize>,
    request_timeout_secs: Option<u64>,
    max_attempts: Option<u32>,
    max_backoff_secs: Option<u64>,
    fetch_owners: Option<bool>,
    owners_refresh_hours: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    name: Option<String>,
    tenant_id: Option<String>,
    client_id: Option<String>,
    client_secret_env: Option<String>,
    client_secret_file: Option<PathBuf>,
    certificate_path: Option<PathBuf>,
    federated_token_file: Option<PathBuf>,
    authority_host: Option<String>,
    graph_url: Option<String>,
    portal_url: Option<String>,
    #[serde(default)]
    notify: Vec<String>,
    notify_owners: Option<bool>,
    include_service_principals: Option<bool>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://credwatch.db";
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
pub const DEFAULT_GRAPH: &str = "https://graph.microsoft.com";

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
        let origin = source.map(|p| p.display().to_string()).unwrap_or_else(|| "config".into());
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError {
            origin: origin.clone(),
            key: String::new(),
            problem: e.to_string().trim_end().replace('\n', " | "),
        })?;
        Loader {
            origin,
            base: source.and_then(Path::parent).map(Path::to_path_buf),
            env,
        }
        .build(raw, source)
    }

    pub fn environment(&self, name: &str) -> Option<&EnvironmentConfig> {
        self.environments.iter().find(|e| e.name == name)
    }
}

struct Loader<'a> {
    origin: String,
    /// Directory of the config file: relative paths in it are relative to the file.
    base: Option<PathBuf>,
    env: EnvLookup<'a>,
}

impl Loader<'_> {
    fn err(&self, key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            origin: self.origin.clone(),
            key: key.into(),
            problem: problem.into(),
        }
    }

    fn env_err(&self, var: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            origin: "environment".into(),
            key: var.into(),
            problem: problem.into(),
        }
    }

    fn var(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|v| !v.trim().is_empty())
    }

    fn path(&self, p: &Path) -> PathBuf {
        match &self.base {
            Some(base) if p.is_relative() => base.join(p),
            _ => p.to_path_buf(),
        }
    }

    fn build(&self, mut raw: RawConfig, source: Option<&Path>) -> Result<Config, ConfigError> {
        let server = self.server(raw.server)?;
        let database = match self.var("CREDWATCH_DATABASE_URL") {
            Some(url) => DatabaseConfig { url },
            None => DatabaseConfig {
                url: raw.database.url.unwrap_or_else(|| DEFAULT_DATABASE_URL.into()),
            },
        };
        if !database.url.starts_with("sqlite:") {
            return Err(self.err("database.url", format!("{:?} is not a sqlite: URL", database.url)));
        }
        let schedule = ScheduleConfig {
            sync: self.job("schedule.sync", raw.schedule.sync.as_deref().unwrap_or("0 */30 * * * *"))?,
            remind: self.job("schedule.remind", raw.schedule.remind.as_deref().unwrap_or("0 0 8 * * *"))?,
        };
        let status = Thresholds {
            critical_days: raw.status.critical_days.unwrap_or(7),
            warning_days: raw.status.warning_days.unwrap_or(30),
        };
        if status.critical_days < 0 || status.warning_days < 0 {
            return Err(self.err("status", "critical_days and warning_days must not be negative"));
        }
        if status.critical_days > status.warning_days {
            return Err(self.err("status.critical_days", "must not be greater than status.warning_days"));
        }
        let days_before = raw.reminders.days_before.unwrap_or_else(|| vec![60, 30, 14, 7, 1]);
        if let Some(d) = days_before.iter().find(|d| **d < 0) {
            return Err(self.err("reminders.days_before", format!("{d} is negative; rungs are days before the end")));
        }
        let reminders = Ladder::new(days_before, raw.reminders.expired_notice.unwrap_or(true));
        let builtin = raw.reminders.builtin_exclusions.take();
        let email = self.email(raw.email)?;
        let calendar = CalendarConfig {
            token: self.secret_source(
                "calendar.token_env",
                raw.calendar.token_env.as_deref(),
                "calendar.token_file",
                raw.calendar.token_file.as_deref(),
            )?,
            max_events: raw.calendar.max_events.unwrap_or(CalendarConfig::DEFAULT_MAX_EVENTS),
            stall_timeout: match raw.calendar.stall_timeout_secs {
                Some(0) => return Err(self.err("calendar.stall_timeout_secs", "must be at least 1")),
                Some(s) => Duration::from_secs(s),
                None => CalendarConfig::DEFAULT_STALL_TIMEOUT,
            },
        };
        let sync = self.sync(raw.sync)?;
        let mut environments = Vec::with_capacity(raw.environments.len());
        for (i, e) in raw.environments.into_iter().enumerate() {
            environments.push(self.environment(&format!("environments[{i}]"), e)?);
        }
        if environments.is_empty()
            && let Some(env) = self.zero_config_environment()?
        {
            environments.push(env);
        }
        let mut seen = HashSet::new();
        for (i, e) in environments.iter().enumerate() {
            if !seen.insert(e.name.as_str()) {
                return Err(self.err(
                    format!("environments[{i}].name"),
                    format!("{:?} is used by another environment", e.name),
                ));
            }
        }
        let exclusions = self.exclusions(raw.exclusions, builtin, &environments)?;
        let webhooks = self.webhooks(raw.webhooks, &environments)?;
        Ok(Config {
            source: source.map(Path::to_path_buf),
            server,
            database,
            schedule,
            status,
            reminders,
            email,
            calendar,
            sync,
            environments,
            exclusions,
            webhooks,
        })
    }

    fn exclusions(
        &self,
        raw: Vec<RawExclusion>,
        builtin: Option<Vec<String>>,
        envs: &[EnvironmentConfig],
    ) -> Result<crate::policy::Exclusions, ConfigError> {
        use crate::policy::{ExclusionRule, Glob, builtin_exclusions, builtin_names};
        let mut rules = Vec::new();
        let mut names = HashSet::new();
        for (i, r) in raw.into_iter().enumerate() {
            let key = |f: &str| format!("exclusions[{i}].{f}");
            let reason = r
                .reason
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| self.err(key("reason"), "is required: say why these credentials need no reminder"))?;
            let name = r
                .name
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| format!("exclusions[{i}]"));
            if !names.insert(name.clone()) {
                return Err(self.err(key("name"), format!("{name:?} is used by another exclusion")));
            }
            if let Some(e) = &r.environment
                && !envs.iter().any(|x| x.name == *e)
            {
                return Err(self.err(key("environment"), format!("{e:?} is not a configured environment")));
            }
            let nonempty = |field: &str, v: Option<String>| -> Result<Option<String>, ConfigError> {
                match v {
                    Some(v) if v.trim().is_empty() => Err(self.err(key(field), "is empty; leave the key out to match anything")),
                    v => Ok(v.map(|v| v.trim().to_string())),
                }
            };
            let app_id = nonempty("app_id", r.app_id)?;
            let app_name = nonempty("app_name", r.app_name)?;
            let credential_name = nonempty("credential_name", r.credential_name)?;
            let tag = nonempty("tag", r.tag)?;
            if app_id.is_none() && app_name.is_none() && credential_name.is_none() && tag.is_none() {
                return Err(self.err(
                    format!("exclusions[{i}]"),
                    "names no app_id, app_name, credential_name or tag: it would silence every reminder",
                ));
            }
            let until = match r.until {
                None => None,
                Some(d) => match (d.date, d.time) {
                    (Some(date), None) => Some(
                        chrono::NaiveDate::from_ymd_opt(date.year as i32, date.month as u32, date.day as u32)
                            .ok_or_else(|| self.err(key("until"), format!("{d} is not a date")))?,
                    ),
                    _ => return Err(self.err(key("until"), format!("{d} must be a plain date, e.g. 2026-12-31"))),
                },
            };
            rules.push(ExclusionRule {
                name,
                builtin: false,
                environment: r.environment,
                app_id,
                app_name: app_name.as_deref().map(Glob::new),
                credential_name: credential_name.as_deref().map(Glob::new),
                tag,
                reason,
                until,
            });
        }
        let known = builtin_names();
        let keep = builtin.unwrap_or_else(|| known.clone());
        for (i, n) in keep.iter().enumerate() {
            if !known.contains(n) {
                return Err(self.err(
                    format!("reminders.builtin_exclusions[{i}]"),
                    format!("{n:?} is not a built-in exclusion; they are {}", known.join(", ")),
                ));
            }
        }
        // A configured rule with a built-in's name replaces it.
        rules.extend(
            builtin_exclusions()
                .into_iter()
                .filter(|b| keep.contains(&b.name) && !names.contains(&b.name)),
        );
        Ok(crate::policy::Exclusions { rules })
    }

    fn webhooks(&self, raw: Vec<RawWebhook>, envs: &[EnvironmentConfig]) -> Result<Vec<WebhookConfig>, ConfigError> {
        let mut out: Vec<WebhookConfig> = Vec::new();
        for (i, w) in raw.into_iter().enumerate() {
            let key = |f: &str| format!("webhooks[{i}].{f}");
            let name = w
                .name
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| self.err(key("name"), "is required"))?;
            if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                return Err(self.err(key("name"), format!("{name:?} may contain only a-z, 0-9 and -")));
            }
            if out.iter().any(|o| o.name == name) {
                return Err(self.err(key("name"), format!("{name:?} is used by another webhook")));
            }
            let kind = match w.kind.as_deref() {
                Some("teams") => WebhookKind::Teams,
                Some("json") => WebhookKind::Json,
                Some(other) => return Err(self.err(key("kind"), format!("{other:?} is not one of \"teams\", \"json\""))),
                None => return Err(self.err(key("kind"), "is required: \"teams\" or \"json\"")),
            };
            let url = self
                .secret_source(&key("url_env"), w.url_env.as_deref(), &key("url_file"), w.url_file.as_deref())?
                .ok_or_else(|| {
                    self.err(
                        key("url_env"),
                        "set url_env or url_file: a webhook URL is a secret and stays out of the config file",
                    )
                })?;
            {
                use secrecy::ExposeSecret;
                let text = url.expose_secret();
                // The URL itself is not repeated in the error: it is a secret.
                let parsed = Url::parse(text).map_err(|e| self.err(key("url_env"), format!("the webhook URL is not a URL: {e}")))?;
                if !(parsed.scheme() == "https" || parsed.scheme() == "http" && is_loopback(&parsed)) || parsed.host().is_none() {
                    return Err(self.err(key("url_env"), "the webhook URL must be https (http only to a loopback address)"));
                }
            }
            for (j, e) in w.environments.iter().enumerate() {
                if !envs.iter().any(|x| x.name == *e) {
                    return Err(self.err(
                        format!("webhooks[{i}].environments[{j}]"),
                        format!("{e:?} is not a configured environment"),
                    ));
                }
            }
            out.push(WebhookConfig {
                name,
                kind,
                url,
                environments: w.environments,
            });
        }
        Ok(out)
    }

    fn server(&self, raw: RawServer) -> Result<ServerConfig, ConfigError> {
        let (key, listen) = match self.var("CREDWATCH_LISTEN") {
            Some(v) => ("CREDWATCH_LISTEN", v),
            None => ("server.listen", raw.listen.unwrap_or_else(|| DEFAULT_LISTEN.into())),
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
        let auth = self.auth(raw.auth.unwrap_or_default(), listen)?;
        Ok(ServerConfig { listen, public_url, auth })
    }

    fn auth(&self, raw: RawAuth, listen: SocketAddr) -> Result<AuthConfig, ConfigError> {
        let metrics_token = self.secret_source(
            "server.auth.metrics_token_env",
            raw.metrics_token_env.as_deref(),
            "server.auth.metrics_token_file",
            raw.metrics_token_file.as_deref(),
        )?;
        let mode = match raw.mode.as_deref().unwrap_or("none") {
            "none" => {
                if !listen.ip().is_loopback() && !raw.allow_anonymous.unwrap_or(false) {
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
                    if argon2::PasswordHash::new(&u.password_hash).is_err() || !u.password_hash.starts_with("$argon2") {
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
                let realm = raw.realm.unwrap_or_else(|| "credwatch".into());
                if realm.contains('"') || realm.chars().any(char::is_control) {
                    return Err(self.err("server.auth.realm", "may not contain quotes or control characters"));
                }
                AuthMode::Basic { users, realm }
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
                    .collect::<Result<_, _>>()?;
                let user_header = raw.user_header.unwrap_or_else(|| "X-Forwarded-User".into());
                if actix_web::http::header::HeaderName::from_bytes(user_header.as_bytes()).is_err() {
                    return Err(self.err("server.auth.user_header", format!("{user_header:?} is not a header name")));
                }
                AuthMode::Proxy {
                    user_header,
                    trusted_proxies,
                }
            }
            other => {
                return Err(self.err(
                    "server.auth.mode",
                    format!("{other:?} is not one of \"none\", \"basic\", \"proxy\""),
                ));
            }
        };
        Ok(AuthConfig { mode, metrics_token })
    }

    fn url(&self, key: &str, value: &str) -> Result<Url, ConfigError> {
        let url = Url::parse(value).map_err(|e| self.err(key, format!("{value:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(self.err(key, format!("{value:?} must be an http or https URL with a host")));
        }
        Ok(url)
    }

    /// A URL that credwatch sends secrets or bearer tokens to: https, or http to loopback only.
    fn secure_url(&self, key: &str, value: &str) -> Result<Url, ConfigError> {
        let url = self.url(key, value)?;
        if url.scheme() == "http" && !is_loopback(&url) {
            return Err(self.err(
                key,
                format!("{value:?} uses plain http; secrets and tokens are only sent over https (or http to a loopback address)"),
            ));
        }
        Ok(url)
    }

    fn job(&self, key: &str, expression: &str) -> Result<Job, ConfigError> {
        let expression = expression.trim().to_string();
        if expression.is_empty() {
            return Ok(Job {
                expression,
                schedule: None,
            });
        }
        let schedule = cron::Schedule::from_str(&expression).map_err(|e| {
            self.err(
                key,
                format!("{expression:?} is not a cron expression with seconds (\"sec min hour day-of-month month day-of-week\"): {e}"),
            )
        })?;
        Ok(Job {
            expression,
            schedule: Some(schedule),
        })
    }

    fn mailbox(&self, key: &str, value: &str) -> Result<Mailbox, ConfigError> {
        value
            .parse::<Mailbox>()
            .map_err(|e| self.err(key, format!("{value:?} is not an e-mail address: {e}")))
    }

    fn email(&self, raw: Option<RawEmail>) -> Result<EmailConfig, ConfigError> {
        // Without an [email] table, nothing is sent; with one, SMTP is the default.
        let Some(raw) = raw else {
            return Ok(EmailConfig {
                transport: EmailTransport::None,
                from: None,
                to: Vec::new(),
            });
        };
        let transport = match raw.transport.as_deref().unwrap_or("smtp") {
            "none" => EmailTransport::None,
            "file" => EmailTransport::File {
                dir: self.path(raw.dir.as_deref().unwrap_or(Path::new("outbox"))),
            },
            "smtp" => {
                let value = raw.url.as_deref().unwrap_or("smtp://127.0.0.1:25");
                let url = Url::parse(value).map_err(|e| self.err("email.url", format!("{value:?} is not a URL: {e}")))?;
                if !matches!(url.scheme(), "smtp" | "smtps") || url.host().is_none() {
                    return Err(self.err("email.url", format!("{value:?} must be smtp://host:port or smtps://host:port")));
                }
                if let Some((k, v)) = url
                    .query_pairs()
                    .find(|(k, v)| k != "tls" || !matches!(v.as_ref(), "required" | "opportunistic" | "none"))
                {
                    return Err(self.err("email.url", format!("unknown option {k}={v}; only tls=required|opportunistic|none")));
                }
                let password = self.secret_source(
                    "email.password_env",
                    raw.password_env.as_deref(),
                    "email.password_file",
                    raw.password_file.as_deref(),
                )?;
                if password.is_some() && raw.username.is_none() {
                    return Err(self.err("email.username", "a password is configured but no username"));
                }
                EmailTransport::Smtp {
                    url,
                    username: raw.username,
                    password,
                }
            }
            other => return Err(self.err("email.transport", format!("{other:?} is not one of \"smtp\", \"file\", \"none\""))),
        };
        let from = raw.from.as_deref().map(|f| self.mailbox("email.from", f)).transpose()?;
        if from.is_none() && !matches!(transport, EmailTransport::None) {
            return Err(self.err("email.from", "is required unless transport = \"none\""));
        }
        let to = raw
            .to
            .iter()
            .enumerate()
            .map(|(i, t)| self.mailbox(&format!("email.to[{i}]"), t))
            .collect::<Result<_, _>>()?;
        Ok(EmailConfig { transport, from, to })
    }

    /// A secret given by the name of an environment variable or by a file; at most one of the two.
    fn secret_source(
        &self,
        env_key: &str,
        env_var: Option<&str>,
        file_key: &str,
        file: Option<&Path>,
    ) -> Result<Option<SecretString>, ConfigError> {
        match (env_var, file) {
            (Some(_), Some(_)) => Err(self.err(env_key, format!("set either {env_key} or {file_key}, not both"))),
            (Some(var), None) => match self.var(var) {
                Some(v) => Ok(Some(SecretString::from(v.trim().to_string()))),
                None => Err(self.err(env_key, format!("environment variable {var} is not set or empty"))),
            },
            (None, Some(path)) => Ok(Some(SecretString::from(self.read_secret_file(file_key, path)?))),
            (None, None) => Ok(None),
        }
    }

    fn read_secret_file(&self, key: &str, path: &Path) -> Result<String, ConfigError> {
        let path = self.path(path);
        let text = std::fs::read_to_string(&path).map_err(|e| self.err(key, format!("cannot read {}: {e}", path.display())))?;
        let text = text.trim().to_string();
        if text.is_empty() {
            return Err(self.err(key, format!("{} is empty", path.display())));
        }
        Ok(text)
    }

    fn sync(&self, raw: RawSync) -> Result<SyncConfig, ConfigError> {
        let d = SyncConfig::default();
        let cfg = SyncConfig {
            concurrency: raw.concurrency.unwrap_or(d.concurrency),
            request_timeout: raw.request_timeout_secs.map(Duration::from_secs).unwrap_or(d.request_timeout),
            max_attempts: raw.max_attempts.unwrap_or(d.max_attempts),
            max_backoff: raw.max_backoff_secs.map(Duration::from_secs).unwrap_or(d.max_backoff),
            backoff_base: d.backoff_base,
            fetch_owners: raw.fetch_owners.unwrap_or(d.fetch_owners),
            owners_refresh: match raw.owners_refresh_hours {
                Some(h) if h > 24 * 366 => {
                    return Err(self.err(
                        "sync.owners_refresh_hours",
                        format!("{h} hours is more than a year; use at most 8784"),
                    ));
                }
                Some(h) => Duration::from_secs(h * 3600),
                None => d.owners_refresh,
            },
        };
        if cfg.concurrency == 0 {
            return Err(self.err("sync.concurrency", "must be at least 1"));
        }
        if cfg.max_attempts == 0 {
            return Err(self.err("sync.max_attempts", "must be at least 1"));
        }
        if cfg.request_timeout.is_zero() {
            return Err(self.err("sync.request_timeout_secs", "must be at least 1"));
        }
        Ok(cfg)
    }

    fn default_authority(&self) -> Result<Url, ConfigError> {
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
            None => Ok(Url::parse(DEFAULT_AUTHORITY).expect("constant URL")),
        }
    }

    fn environment(&self, key: &str, raw: RawEnvironment) -> Result<EnvironmentConfig, ConfigError> {
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
        let sources = [
            raw.client_secret_env.is_some(),
            raw.client_secret_file.is_some(),
            raw.certificate_path.is_some(),
            raw.federated_token_file.is_some(),
        ];
        let count = sources.iter().filter(|s| **s).count();
        if count != 1 {
            let problem = if count == 0 {
                "no secret source is set"
            } else {
                "more than one secret source is set"
            };
            return Err(self.err(
                key,
                format!("{problem}: set exactly one of client_secret_env, client_secret_file, certificate_path, federated_token_file"),
            ));
        }
        let credential = if let Some(var) = raw.client_secret_env {
            match self.var(&var) {
                Some(v) => ClientCredential::Secret(SecretString::from(v.trim().to_string())),
                None => return Err(self.err(k("client_secret_env"), format!("environment variable {var} is not set or empty"))),
            }
        } else if let Some(path) = raw.client_secret_file {
            self.read_secret_file(&k("client_secret_file"), &path)?;
            ClientCredential::SecretFile(self.path(&path))
        } else if let Some(path) = raw.certificate_path {
            let cert = ClientCertificate::load(&self.path(&path)).map_err(|e| self.err(k("certificate_path"), e))?;
            ClientCredential::Certificate(std::sync::Arc::new(cert))
        } else {
            let path = self.path(raw.federated_token_file.as_deref().expect("counted above"));
            self.read_secret_file(&k("federated_token_file"), &path)?;
            ClientCredential::FederatedTokenFile(path)
        };
        let authority_host = match raw.authority_host {
            Some(v) => self.secure_url(&k("authority_host"), &v)?,
            None => self.default_authority()?,
        };
        let graph_url = self.secure_url(&k("graph_url"), raw.graph_url.as_deref().unwrap_or(DEFAULT_GRAPH))?;
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
            graph_url,
            portal_url,
            notify,
            notify_owners: raw.notify_owners.unwrap_or(false),
            include_service_principals: raw.include_service_principals.unwrap_or(false),
        })
    }

    /// The Azure SDK convention: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and a secret, certificate or
    /// federated token file define one environment when the file names none.
    fn zero_config_environment(&self) -> Result<Option<EnvironmentConfig>, ConfigError> {
        let (Some(tenant_id), Some(client_id)) = (self.var("AZURE_TENANT_ID"), self.var("AZURE_CLIENT_ID")) else {
            return Ok(None);
        };
        let credential = if let Some(secret) = self.var("AZURE_CLIENT_SECRET") {
            ClientCredential::Secret(SecretString::from(secret.trim().to_string()))
        } else if let Some(path) = self.var("AZURE_CLIENT_CERTIFICATE_PATH") {
            let cert = ClientCertificate::load(Path::new(&path)).map_err(|e| self.env_err("AZURE_CLIENT_CERTIFICATE_PATH", e))?;
            ClientCredential::Certificate(std::sync::Arc::new(cert))
        } else if let Some(path) = self.var("AZURE_FEDERATED_TOKEN_FILE") {
            ClientCredential::FederatedTokenFile(PathBuf::from(path))
        } else {
            return Err(self.env_err(
                "AZURE_CLIENT_SECRET",
                "AZURE_TENANT_ID and AZURE_CLIENT_ID are set but none of AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_FEDERATED_TOKEN_FILE",
            ));
        };
        let name = self.var("CREDWATCH_ENVIRONMENT").unwrap_or_else(|| "default".into());
        if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(self.env_err("CREDWATCH_ENVIRONMENT", format!("{name:?} may contain only a-z, 0-9 and -")));
        }
        let graph_url = Url::parse(DEFAULT_GRAPH).expect("constant URL");
        Ok(Some(EnvironmentConfig {
            name,
            tenant_id,
            client_id,
            credential,
            authority_host: self.default_authority()?,
            portal_url: default_portal(&graph_url),
            graph_url,
            notify: Vec::new(),
            notify_owners: false,
            include_service_principals: false,
        }))
    }
}

/// True when the URL's host is a loopback address (or `localhost`).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The Azure portal of the cloud whose Graph lives at `graph_url`.
fn default_portal(graph_url: &Url) -> Url {
    let host = graph_url.host_str().unwrap_or_default();
    let portal = if host.ends_with(".us") {
        "https://portal.azure.us"
    } else if host.ends_with(".cn") {
        "https://portal.azure.cn"
    } else {
        "https://portal.azure.com"
    };
    Url::parse(portal).expect("constant URL")
}
