//! The config file as serde reads it: one field a key, every one optional here (the loader says
//! which are required), unknown keys refused. The defaults are in `defaults.rs`; what each value
//! becomes, and the checks on it, in `load/`. `credwatch demo` writes its config through the
//! same structs, so it cannot name a key the loader does not know.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The whole file.
#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    /// `[server]`: where the dashboard listens and who may see it.
    #[serde(default)]
    pub server: RawServer,
    /// `[database]`.
    #[serde(default)]
    pub database: RawDatabase,
    /// `[schedule]`: the cron strings of the jobs.
    #[serde(default)]
    pub schedule: RawSchedule,
    /// `[status]`: the thresholds of critical and warning.
    #[serde(default)]
    pub status: RawStatus,
    /// `[reminders]`: the ladder.
    #[serde(default)]
    pub reminders: RawReminders,
    /// `[email]`: without the table, nothing is sent.
    pub email: Option<RawEmail>,
    /// `[calendar]`: the feed's token, size and patience.
    #[serde(default)]
    pub calendar: RawCalendar,
    /// `[sync]`: how syncs talk to Graph.
    #[serde(default)]
    pub sync: RawSync,
    /// `[usage]`: reading and using credential usage (sign-in activity reports).
    #[serde(default)]
    pub usage: RawUsage,
    /// `[[environments]]`: one table per tenant and app registration credwatch signs in with.
    #[serde(default)]
    pub environments: Vec<RawEnvironment>,
    /// `[[exclusions]]`: credentials that need no reminder.
    #[serde(default)]
    pub exclusions: Vec<RawExclusion>,
    /// `[[webhooks]]`: chat or JSON receivers of reminders besides e-mail.
    #[serde(default)]
    pub webhooks: Vec<RawWebhook>,
    /// `[escalation]`: where urgent credentials nobody acknowledged go; without it, nowhere.
    pub escalation: Option<RawEscalation>,
}

/// `[escalation]`.
#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEscalation {
    /// `within_days`: credentials ending in fewer days than this (default `status.critical_days`).
    pub within_days: Option<i64>,
    /// `after_hours`: escalate when nobody acknowledged this many hours after the first reminder.
    pub after_hours: Option<i64>,
    /// `to`: addresses that receive escalations (needs `[email]`).
    #[serde(default)]
    pub to: Vec<String>,
    /// `webhook`: the name of a `[[webhooks]]` entry that receives escalations.
    pub webhook: Option<String>,
}

/// One `[[exclusions]]` table. Every criterion given must match; at least one of `app_id`,
/// `app_name`, `credential_name`, `tag`.
#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExclusion {
    /// `name`: shown on the dashboard; default `exclusions[N]`. A built-in's name replaces it.
    pub name: Option<String>,
    /// `environment`: only this environment.
    pub environment: Option<String>,
    /// `app_id`: the application (client) ID.
    pub app_id: Option<String>,
    /// `app_name`: a case-insensitive glob over the application's name (`*`, `?`).
    pub app_name: Option<String>,
    /// `credential_name`: a glob over the secret's or certificate's description.
    pub credential_name: Option<String>,
    /// `tag`: a tag on the app registration.
    pub tag: Option<String>,
    /// `reason` (required): why these credentials need no reminder; shown with them.
    pub reason: Option<String>,
    /// `until`: a plain date, the last day the rule applies.
    pub until: Option<toml::value::Datetime>,
}

/// One `[[webhooks]]` table.
#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebhook {
    /// `name` (required): `[a-z0-9-]+`, unique; the ledger records `webhook:{name}`.
    pub name: Option<String>,
    /// `kind` (required): `"teams"` (a Teams Workflows webhook) or `"json"`.
    pub kind: Option<String>,
    /// `url_env`: the environment variable holding the URL (a secret: it carries a signature).
    pub url_env: Option<String>,
    /// `url_file`: or a file holding it.
    pub url_file: Option<PathBuf>,
    /// `environments`: only these environments' reminders; default all.
    #[serde(default)]
    pub environments: Vec<String>,
}

/// `[server]`.
#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    /// `listen`: address and port of the dashboard, API, feed and metrics (env `CREDWATCH_LISTEN`).
    pub listen: Option<String>,
    /// `public_url`: base of the links in e-mails and calendar events; default from `listen`.
    pub public_url: Option<String>,
    /// `allowed_hosts`: more host names (or addresses) requests may name in `Host`, besides the
    /// listen address, `localhost` and `public_url`'s host; any other host is answered 421.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// `link_key_env`: the environment variable holding the key that signs reminders' action
    /// links (at least 32 characters); without it or `link_key_file`, credwatch makes one and
    /// keeps it in its database.
    pub link_key_env: Option<String>,
    /// `link_key_file`: or a file holding it.
    pub link_key_file: Option<std::path::PathBuf>,
    /// `[server.auth]`.
    pub auth: Option<RawAuth>,
}

/// `[server.auth]`: who may see the dashboard and API.
#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuth {
    /// `mode`: `"none"`, `"basic"`, `"proxy"` or `"oidc"`.
    pub mode: Option<String>,
    /// `allow_anonymous`: accept `mode = "none"` on a non-loopback address (a firewall guards it).
    pub allow_anonymous: Option<bool>,
    /// `anonymous_actions`: with `mode = "none"`, let anyone who reaches the dashboard
    /// acknowledge, snooze, dispute or mark credentials rotated (recorded as "anonymous" with
    /// the client's address). Off by default: without sign-in nobody can say who acted.
    pub anonymous_actions: Option<bool>,
    /// `realm`: the HTTP Basic realm.
    pub realm: Option<String>,
    /// `[[server.auth.users]]`: the users of `mode = "basic"`.
    #[serde(default)]
    pub users: Vec<RawUser>,
    /// `password_checks`: argon2 password checks of `mode = "basic"` that may run at once;
    /// default one per core.
    pub password_checks: Option<usize>,
    /// `user_header`: the header in which the proxy of `mode = "proxy"` names the user.
    pub user_header: Option<String>,
    /// `trusted_proxies`: addresses or CIDR ranges whose `user_header` is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// `metrics_token_env`: the environment variable holding a bearer token that opens `/metrics` alone.
    pub metrics_token_env: Option<String>,
    /// `metrics_token_file`: or a file holding it.
    pub metrics_token_file: Option<PathBuf>,
    /// `tenant_id`: the tenant people sign in with (`mode = "oidc"`); `organizations` for a
    /// multi-tenant app, then `allowed_tenants` lists the tenants let in.
    pub tenant_id: Option<String>,
    /// `client_id`: the application (client) ID of credwatch's sign-in app registration.
    pub client_id: Option<String>,
    /// `client_secret_env`: the environment variable holding that app's client secret.
    pub client_secret_env: Option<String>,
    /// `client_secret_file`: or a file holding it.
    pub client_secret_file: Option<PathBuf>,
    /// `certificate_path`: or a PEM file with the app's certificate and private key.
    pub certificate_path: Option<PathBuf>,
    /// `authority_host`: the identity platform's host, `https://login.microsoftonline.com` by default.
    pub authority_host: Option<String>,
    /// `roles`: the app roles that grant reading, operating (acknowledge, snooze, exclusions) and
    /// administering.
    pub roles: Option<RawRoles>,
    /// `allowed_tenants`: the tenants whose users may sign in to a multi-tenant app.
    #[serde(default)]
    pub allowed_tenants: Vec<String>,
}

/// `[server.auth] roles = { read = "…", operate = "…", admin = "…" }`.
#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoles {
    /// `read`: the app role that lets a user see the dashboard and API.
    pub read: Option<String>,
    /// `operate`: the app role that also lets a user act (acknowledge, snooze, exclusions).
    pub operate: Option<String>,
    /// `admin`: the app role that allows everything.
    pub admin: Option<String>,
}

/// One `[[server.auth.users]]` table.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUser {
    /// `name`: the Basic user name, without `:`.
    pub name: String,
    /// `password_hash`: an argon2 PHC string from `credwatch hash-password`.
    pub password_hash: String,
}

/// `[database]`.
#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDatabase {
    /// `url`: a `sqlite:` URL (env `CREDWATCH_DATABASE_URL`).
    pub url: Option<String>,
}

/// `[schedule]`: cron with seconds, in UTC; `""` turns a job off.
#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSchedule {
    /// `sync`: when to sync every environment.
    pub sync: Option<String>,
    /// `remind`: when to send the reminders due.
    pub remind: Option<String>,
}

/// `[status]`.
#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStatus {
    /// `critical_days`: fewer days left than this is critical.
    pub critical_days: Option<i64>,
    /// `warning_days`: fewer days left than this is a warning.
    pub warning_days: Option<i64>,
}

/// `[reminders]`.
#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawReminders {
    /// `days_before`: the rungs of the ladder, in days before the end.
    pub days_before: Option<Vec<i64>>,
    /// `expired_notice`: one more notice once a credential has expired.
    pub expired_notice: Option<bool>,
    /// `builtin_exclusions`: the built-in exclusion rules kept; `[]` turns them off.
    pub builtin_exclusions: Option<Vec<String>>,
    /// `min_notice_days`: a snooze ends at least this many days before the credential's end,
    /// so it can never silence the last warning.
    pub min_notice_days: Option<i64>,
}

/// `[email]`.
#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEmail {
    /// `transport`: `"smtp"`, `"file"` or `"none"`.
    pub transport: Option<String>,
    /// `url`: `smtp://host:port` (STARTTLS when offered), `?tls=required|opportunistic|none`, or `smtps://`.
    pub url: Option<String>,
    /// `username`: the SMTP user.
    pub username: Option<String>,
    /// `password_env`: the environment variable holding the SMTP password.
    pub password_env: Option<String>,
    /// `password_file`: or a file holding it.
    pub password_file: Option<PathBuf>,
    /// `dir`: where `transport = "file"` writes one `.eml` per message.
    pub dir: Option<PathBuf>,
    /// `from`: the sender; required unless `transport = "none"`.
    pub from: Option<String>,
    /// `to`: receives every reminder of every environment.
    #[serde(default)]
    pub to: Vec<String>,
}

/// `[calendar]`.
#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCalendar {
    /// `token_env`: the environment variable holding the feed's token; without a token the feed is refused.
    pub token_env: Option<String>,
    /// `token_file`: or a file holding it.
    pub token_file: Option<PathBuf>,
    /// `max_events`: a feed that would hold more events than this (one per credential) holds one
    /// event per day instead, and says so in its name.
    pub max_events: Option<u64>,
    /// `stall_timeout_secs`: a feed download whose reader takes nothing for this long is cut off.
    pub stall_timeout_secs: Option<u64>,
}

/// `[sync]`.
#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSync {
    /// `concurrency`: environments synced at once.
    pub concurrency: Option<usize>,
    /// `request_timeout_secs`: timeout of every request to Graph or the token endpoint.
    pub request_timeout_secs: Option<u64>,
    /// `max_attempts`: attempts per request when throttled or failing transiently.
    pub max_attempts: Option<u32>,
    /// `max_backoff_secs`: the longest wait between attempts, whatever `Retry-After` asks.
    pub max_backoff_secs: Option<u64>,
    /// `fetch_owners`: read each application's owners with the listing.
    pub fetch_owners: Option<bool>,
    /// `owners_refresh_hours`: how often owners are read again (0: at every sync).
    pub owners_refresh_hours: Option<u64>,
}

/// `[usage]`.
#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUsage {
    /// `active_days`: a credential signed in within this many days is in use; otherwise idle.
    pub active_days: Option<i64>,
    /// `refresh_hours`: how often a sync reads the sign-in activity reports again (0: every sync).
    pub refresh_hours: Option<u64>,
    /// `incident_days`: an expired credential last used within this many days before its end
    /// is an incident (something probably fails now).
    pub incident_days: Option<i64>,
    /// `unused_days`: an idle credential not used for this many days is a finding.
    pub unused_days: Option<i64>,
    /// `idle_reminders`: `"cleanup"` (one cleanup notice instead of the ladder), `"ladder"`
    /// (the ladder, as in-use credentials) or `"none"`.
    pub idle_reminders: Option<String>,
}

/// One `[[environments]]` table.
#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEnvironment {
    /// `name` (required): unique, `[a-z0-9-]+`.
    pub name: Option<String>,
    /// `tenant_id` (required): the directory (tenant) ID or its domain.
    pub tenant_id: Option<String>,
    /// `client_id` (required): the application (client) ID of credwatch's own app registration.
    pub client_id: Option<String>,
    /// `client_secret_env`: the environment variable holding a client secret (one of four sources).
    pub client_secret_env: Option<String>,
    /// `client_secret_file`: a file holding a client secret, read at every sign-in.
    pub client_secret_file: Option<PathBuf>,
    /// `certificate_path`: a PEM file with the unencrypted private key and its certificate.
    pub certificate_path: Option<PathBuf>,
    /// `federated_token_file`: a federated token file (workload identity), read at every sign-in.
    pub federated_token_file: Option<PathBuf>,
    /// `authority_host`: the token endpoint's host, `https://login.microsoftonline.com` by default.
    pub authority_host: Option<String>,
    /// `graph_url`: Microsoft Graph of this cloud.
    pub graph_url: Option<String>,
    /// `portal_url`: the Azure portal for links; derived from `graph_url` when absent.
    pub portal_url: Option<String>,
    /// `notify`: addresses that receive this environment's reminders besides `[email].to`.
    #[serde(default)]
    pub notify: Vec<String>,
    /// `notify_owners`: each application's owners and the addresses its notes name receive its reminders too.
    pub notify_owners: Option<bool>,
    /// `include_service_principals`: also watch enterprise applications' credentials.
    pub include_service_principals: Option<bool>,
    /// `usage`: read this tenant's sign-in activity reports (default true on the global cloud;
    /// national clouds do not have them).
    pub usage: Option<bool>,
}
