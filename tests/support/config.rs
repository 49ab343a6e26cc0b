//! The config file as tests write it: structs mirroring `credwatch.toml`, serialised with `toml`,
//! so a test names keys as fields and a typo fails to compile instead of failing to load.
//!
//! Every field is optional and left out when `None` (or empty): the file then says only what the
//! test chose, and credwatch's own defaults apply to the rest, as for a user's file.

use serde::Serialize;
use std::path::PathBuf;

#[derive(Serialize, Default, Clone, Debug)]
pub struct ConfigFile {
    pub server: Option<Server>,
    pub database: Option<Database>,
    pub schedule: Option<Schedule>,
    pub status: Option<Status>,
    pub reminders: Option<Reminders>,
    pub email: Option<Email>,
    pub calendar: Option<Calendar>,
    pub sync: Option<Sync>,
    pub usage: Option<Usage>,
    pub escalation: Option<Escalation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<Environment>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclusions: Vec<Exclusion>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<Webhook>,
}

impl ConfigFile {
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("the test config serialises")
    }

    /// The `[[environments]]` entry named `name`.
    pub fn environment(&mut self, name: &str) -> &mut Environment {
        self.environments
            .iter_mut()
            .find(|e| e.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no environment {name} in the test config"))
    }

    pub fn server(&mut self) -> &mut Server {
        self.server.get_or_insert_default()
    }

    pub fn sync(&mut self) -> &mut Sync {
        self.sync.get_or_insert_default()
    }

    pub fn reminders(&mut self) -> &mut Reminders {
        self.reminders.get_or_insert_default()
    }

    pub fn usage(&mut self) -> &mut Usage {
        self.usage.get_or_insert_default()
    }

    pub fn schedule(&mut self) -> &mut Schedule {
        self.schedule.get_or_insert_default()
    }
}

#[derive(Serialize, Default, Clone, Debug)]
pub struct Server {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_hosts: Vec<String>,
    pub link_key_env: Option<String>,
    pub link_key_file: Option<PathBuf>,
    pub auth: Option<Auth>,
}

#[derive(Serialize, Default, Clone, Debug)]
pub struct Auth {
    pub mode: Option<String>,
    pub allow_anonymous: Option<bool>,
    pub anonymous_actions: Option<bool>,
    pub realm: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<User>,
    pub user_header: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<String>,
    pub metrics_token_env: Option<String>,
    pub metrics_token_file: Option<PathBuf>,
    pub password_checks: Option<usize>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_env: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub certificate_path: Option<PathBuf>,
    pub authority_host: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_tenants: Vec<String>,
    pub roles: Option<Roles>,
}

/// `[server.auth] roles`.
#[derive(Serialize, Default, Clone, Debug)]
pub struct Roles {
    pub read: Option<String>,
    pub operate: Option<String>,
    pub admin: Option<String>,
}

#[derive(Serialize, Clone, Debug)]
pub struct User {
    pub name: String,
    pub password_hash: String,
}

#[derive(Serialize, Default, Clone, Debug)]
pub struct Database {
    pub url: Option<String>,
}

/// Cron strings; `""` turns a job off.
#[derive(Serialize, Default, Clone, Debug)]
pub struct Schedule {
    pub sync: Option<String>,
    pub remind: Option<String>,
}

#[derive(Serialize, Default, Clone, Debug)]
pub struct Status {
    pub critical_days: Option<i64>,
    pub warning_days: Option<i64>,
}

/// `[escalation]`.
#[derive(Serialize, Default, Clone, Debug)]
pub struct Escalation {
    pub within_days: Option<i64>,
    pub after_hours: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    pub webhook: Option<String>,
}

#[derive(Serialize, Default, Clone, Debug)]
pub struct Reminders {
    pub days_before: Option<Vec<i64>>,
    pub expired_notice: Option<bool>,
    pub builtin_exclusions: Option<Vec<String>>,
    pub min_notice_days: Option<i64>,
}

impl Reminders {
    /// Reminders `days_before` the end, and a notice once a credential has expired.
    pub fn ladder(days_before: &[i64]) -> Reminders {
        Reminders {
            days_before: Some(days_before.to_vec()),
            expired_notice: Some(true),
            builtin_exclusions: None,
            min_notice_days: None,
        }
    }
}

#[derive(Serialize, Default, Clone, Debug)]
pub struct Email {
    pub transport: Option<String>,
    pub url: Option<String>,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub dir: Option<PathBuf>,
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
}

impl Email {
    /// SMTP to `url`, from credwatch@example.com to `to`.
    pub fn smtp(url: &str, to: &[&str]) -> Email {
        Email {
            transport: Some("smtp".into()),
            url: Some(url.into()),
            from: Some("credwatch <credwatch@example.com>".into()),
            to: to.iter().map(|t| t.to_string()).collect(),
            ..Email::default()
        }
    }
    /// One `.eml` file per message in `dir`, from credwatch@example.com to `to`.
    pub fn outbox(dir: PathBuf, to: &[&str]) -> Email {
        Email {
            transport: Some("file".into()),
            dir: Some(dir),
            from: Some("credwatch@example.com".into()),
            to: to.iter().map(|t| t.to_string()).collect(),
            ..Email::default()
        }
    }
}

#[derive(Serialize, Default, Clone, Debug)]
pub struct Calendar {
    pub token_env: Option<String>,
    pub token_file: Option<PathBuf>,
    pub max_events: Option<u64>,
    pub stall_timeout_secs: Option<u64>,
}

#[derive(Serialize, Default, Clone, Debug)]
pub struct Sync {
    pub concurrency: Option<usize>,
    pub request_timeout_secs: Option<u64>,
    pub max_attempts: Option<u32>,
    pub max_backoff_secs: Option<u64>,
    pub fetch_owners: Option<bool>,
    pub owners_refresh_hours: Option<u64>,
}

#[derive(Serialize, Default, Clone, Debug)]
pub struct Usage {
    pub active_days: Option<i64>,
    pub refresh_hours: Option<u64>,
    pub incident_days: Option<i64>,
    pub unused_days: Option<i64>,
    pub idle_reminders: Option<String>,
}

#[derive(Serialize, Default, Clone, Debug)]
pub struct Environment {
    pub name: Option<String>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_env: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub certificate_path: Option<PathBuf>,
    pub federated_token_file: Option<PathBuf>,
    pub authority_host: Option<String>,
    pub graph_url: Option<String>,
    pub portal_url: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<String>,
    pub notify_owners: Option<bool>,
    pub include_service_principals: Option<bool>,
    pub usage: Option<bool>,
}

impl Environment {
    /// Only a certificate as the secret source (replacing the secret variable).
    pub fn certificate(&mut self, path: PathBuf) -> &mut Environment {
        self.client_secret_env = None;
        self.certificate_path = Some(path);
        self
    }

    /// Only a federated token file as the secret source.
    pub fn federated(&mut self, path: PathBuf) -> &mut Environment {
        self.client_secret_env = None;
        self.federated_token_file = Some(path);
        self
    }

    /// Sign-in and Graph both at `url` (the emulator serves both).
    pub fn served_by(&mut self, url: &str) -> &mut Environment {
        self.authority_host = Some(url.into());
        self.graph_url = Some(url.into());
        self
    }
}

#[derive(Serialize, Default, Clone, Debug)]
pub struct Exclusion {
    pub name: Option<String>,
    pub environment: Option<String>,
    pub app_id: Option<String>,
    pub app_name: Option<String>,
    pub credential_name: Option<String>,
    pub tag: Option<String>,
    pub reason: Option<String>,
    /// A TOML local date, e.g. `2026-01-31`, as the file carries it (not a string).
    pub until: Option<toml::value::Datetime>,
}

#[derive(Serialize, Default, Clone, Debug)]
pub struct Webhook {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub url_env: Option<String>,
    pub url_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<String>,
}
