//! Turns the raw file and the environment into the typed [`Config`], checking every value on the
//! way: the first problem found ends the load with an error naming its key. The parts of the file
//! that stand on their own are checked next door: `server` (listen address and access control),
//! `environments` (tenants and how credwatch signs in), `reminders` (exclusions and webhooks).

mod environments;
mod reminders;
mod server;

use super::defaults;
use super::raw::{RawConfig, RawEmail, RawSync, RawUsage};
use super::{
    CalendarConfig, Config, ConfigError, ConfigWarning, DatabaseConfig, EmailConfig, EmailTransport, EnvLookup, IdleReminders, Job,
    ScheduleConfig, SmtpTls, SyncConfig, UsageConfig, is_loopback,
};
use crate::domain::{Ladder, Thresholds};
use lettre::message::Mailbox;
use secrecy::SecretString;
use std::cell::RefCell;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;
use url::Url;

/// Parses and validates config text; `source` names it in errors and anchors relative paths.
pub(super) fn from_toml(text: &str, source: Option<&Path>, env: EnvLookup) -> Result<Config, ConfigError> {
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
        warnings: RefCell::default(),
    }
    .build(raw, source)
}

/// The state of one load: where the text came from, and how to read the environment.
struct Loader<'a> {
    origin: String,
    /// Directory of the config file: relative paths in it are relative to the file.
    base: Option<PathBuf>,
    env: EnvLookup<'a>,
    /// Risks found on the way; they end up in [`Config::warnings`].
    warnings: RefCell<Vec<ConfigWarning>>,
}

impl Loader<'_> {
    fn warn(&self, key: impl Into<String>, problem: impl Into<String>) {
        self.warnings.borrow_mut().push(ConfigWarning {
            origin: self.origin.clone(),
            key: key.into(),
            problem: problem.into(),
        });
    }

    /// Warns when a file holding a secret can be read by every user of the machine. A warning,
    /// not a refusal: Kubernetes mounts secrets 0644 by default, inside a pod nobody else shares.
    fn check_secret_file(&self, key: &str, path: &Path) {
        if let Some(problem) = readable_by_all(path) {
            self.warn(key, problem);
        }
    }

    /// [`Loader::check_secret_file`] for a file named by an environment variable.
    fn check_secret_env_file(&self, var: &str, path: &Path) {
        if let Some(problem) = readable_by_all(path) {
            self.warnings.borrow_mut().push(ConfigWarning {
                origin: "environment".into(),
                key: var.into(),
                problem,
            });
        }
    }

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
        if let Some(mode) = source.and_then(mode_of).filter(|m| m & 0o002 != 0) {
            self.warn(
                "",
                format!(
                    "every user of this machine can change this file (mode {mode:04o}), and with it where credwatch signs in and sends mail; chmod o-w it"
                ),
            );
        }
        let server = self.server(raw.server)?;
        let database = match self.var("CREDWATCH_DATABASE_URL") {
            Some(url) => DatabaseConfig { url },
            None => DatabaseConfig {
                url: raw.database.url.unwrap_or_else(|| defaults::DATABASE_URL.into()),
            },
        };
        if !database.url.starts_with("sqlite:") {
            return Err(self.err("database.url", format!("{:?} is not a sqlite: URL", database.url)));
        }
        let schedule = ScheduleConfig {
            sync: self.job("schedule.sync", raw.schedule.sync.as_deref().unwrap_or(defaults::SYNC_SCHEDULE))?,
            remind: self.job(
                "schedule.remind",
                raw.schedule.remind.as_deref().unwrap_or(defaults::REMIND_SCHEDULE),
            )?,
        };
        let status = Thresholds {
            critical_days: raw.status.critical_days.unwrap_or(defaults::CRITICAL_DAYS),
            warning_days: raw.status.warning_days.unwrap_or(defaults::WARNING_DAYS),
        };
        if status.critical_days < 0 || status.warning_days < 0 {
            return Err(self.err("status", "critical_days and warning_days must not be negative"));
        }
        if status.critical_days > status.warning_days {
            return Err(self.err("status.critical_days", "must not be greater than status.warning_days"));
        }
        let days_before = raw.reminders.days_before.unwrap_or_else(|| defaults::DAYS_BEFORE.to_vec());
        if let Some(d) = days_before.iter().find(|d| **d < 0) {
            return Err(self.err("reminders.days_before", format!("{d} is negative; rungs are days before the end")));
        }
        let reminders = Ladder::new(days_before, raw.reminders.expired_notice.unwrap_or(defaults::EXPIRED_NOTICE));
        let builtin = raw.reminders.builtin_exclusions.take();
        let min_notice_days = raw.reminders.min_notice_days.unwrap_or(defaults::MIN_NOTICE_DAYS);
        if min_notice_days < 0 {
            return Err(self.err(
                "reminders.min_notice_days",
                format!("{min_notice_days} is negative; it counts days before the end"),
            ));
        }
        let email = self.email(raw.email)?;
        let calendar = CalendarConfig {
            token: self.secret_source(
                "calendar.token_env",
                raw.calendar.token_env.as_deref(),
                "calendar.token_file",
                raw.calendar.token_file.as_deref(),
            )?,
            max_events: raw.calendar.max_events.unwrap_or(defaults::CALENDAR_MAX_EVENTS),
            stall_timeout: match raw.calendar.stall_timeout_secs {
                Some(0) => return Err(self.err("calendar.stall_timeout_secs", "must be at least 1")),
                Some(s) => Duration::from_secs(s),
                None => defaults::CALENDAR_STALL_TIMEOUT,
            },
        };
        let sync = self.sync(raw.sync)?;
        let usage = self.usage(raw.usage)?;
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
        let escalation = match raw.escalation {
            None => None,
            Some(e) => Some(self.escalation(e, &status, &email, &webhooks)?),
        };
        Ok(Config {
            source: source.map(Path::to_path_buf),
            server,
            database,
            schedule,
            status,
            reminders,
            min_notice_days,
            email,
            calendar,
            sync,
            usage,
            environments,
            exclusions,
            webhooks,
            escalation,
            warnings: self.warnings.take(),
        })
    }

    /// An http(s) URL with a host.
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

    /// `[escalation]`: somewhere to go, and a sound window.
    fn escalation(
        &self,
        raw: crate::config::raw::RawEscalation,
        status: &Thresholds,
        email: &EmailConfig,
        webhooks: &[crate::config::WebhookConfig],
    ) -> Result<crate::config::EscalationConfig, ConfigError> {
        let within_days = raw.within_days.unwrap_or(status.critical_days);
        if within_days < 0 {
            return Err(self.err("escalation.within_days", format!("{within_days} is negative")));
        }
        let after_hours = raw.after_hours.unwrap_or(defaults::ESCALATION_AFTER_HOURS);
        if after_hours < 0 {
            return Err(self.err("escalation.after_hours", format!("{after_hours} is negative")));
        }
        let mut to = Vec::new();
        for (i, a) in raw.to.iter().enumerate() {
            to.push(self.mailbox(&format!("escalation.to[{i}]"), a)?);
        }
        if !to.is_empty() && email.from.is_none() {
            return Err(self.err("escalation.to", "needs an [email] table with a sender to send escalations"));
        }
        if let Some(w) = &raw.webhook
            && !webhooks.iter().any(|h| h.name == *w)
        {
            return Err(self.err("escalation.webhook", format!("{w:?} is not the name of a [[webhooks]] entry")));
        }
        if to.is_empty() && raw.webhook.is_none() {
            return Err(self.err(
                "escalation",
                "names neither addresses (to) nor a webhook: escalations would go nowhere",
            ));
        }
        Ok(crate::config::EscalationConfig {
            within_days,
            after_hours,
            to,
            webhook: raw.webhook,
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
        let transport = match raw.transport.as_deref().unwrap_or(defaults::EMAIL_TRANSPORT) {
            "none" => EmailTransport::None,
            "file" => EmailTransport::File {
                dir: self.path(raw.dir.as_deref().unwrap_or(Path::new(defaults::OUTBOX_DIR))),
            },
            "smtp" => {
                let value = raw.url.as_deref().unwrap_or(defaults::SMTP_URL);
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
                let tls = if url.scheme() == "smtps" {
                    SmtpTls::Implicit
                } else {
                    match url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned()).as_deref() {
                        Some("required") => SmtpTls::Required,
                        Some("none") => SmtpTls::None,
                        _ => SmtpTls::Opportunistic,
                    }
                };
                let password = self.secret_source(
                    "email.password_env",
                    raw.password_env.as_deref(),
                    "email.password_file",
                    raw.password_file.as_deref(),
                )?;
                if password.is_some() && raw.username.is_none() {
                    return Err(self.err("email.username", "a password is configured but no username"));
                }
                // Opportunistic STARTTLS is not enough for a password: a server that does not
                // offer it, or anyone in between who strips the offer, gets AUTH in clear.
                if password.is_some() && matches!(tls, SmtpTls::Opportunistic | SmtpTls::None) && !is_loopback(&url) {
                    let how = if tls == SmtpTls::None {
                        "never encrypts"
                    } else {
                        "encrypts only when the server offers STARTTLS"
                    };
                    return Err(self.err(
                        "email.url",
                        format!(
                            "{value:?} {how}, and a password is configured (email.password_env or email.password_file): it could cross the network in clear; use smtps://host (implicit TLS) or smtp://host:587?tls=required"
                        ),
                    ));
                }
                EmailTransport::Smtp {
                    url,
                    tls,
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
        self.check_secret_file(key, &path);
        let text = text.trim().to_string();
        if text.is_empty() {
            return Err(self.err(key, format!("{} is empty", path.display())));
        }
        Ok(text)
    }

    fn usage(&self, raw: RawUsage) -> Result<UsageConfig, ConfigError> {
        let days = |key: &str, value: Option<i64>, default: i64| match value {
            Some(d) if !(1..=3650).contains(&d) => Err(self.err(key, format!("{d} is not a number of days from 1 to 3650"))),
            Some(d) => Ok(d),
            None => Ok(default),
        };
        let refresh_hours = raw.refresh_hours.unwrap_or(defaults::USAGE_REFRESH_HOURS);
        if refresh_hours > 24 * 366 {
            return Err(self.err(
                "usage.refresh_hours",
                format!("{refresh_hours} hours is more than a year; use at most 8784"),
            ));
        }
        Ok(UsageConfig {
            active_days: days("usage.active_days", raw.active_days, defaults::USAGE_ACTIVE_DAYS)?,
            refresh: Duration::from_secs(refresh_hours * 3600),
            incident_days: days("usage.incident_days", raw.incident_days, defaults::USAGE_INCIDENT_DAYS)?,
            unused_days: days("usage.unused_days", raw.unused_days, defaults::USAGE_UNUSED_DAYS)?,
            idle_reminders: match raw.idle_reminders.as_deref().unwrap_or(defaults::USAGE_IDLE_REMINDERS) {
                "cleanup" => IdleReminders::Cleanup,
                "ladder" => IdleReminders::Ladder,
                "none" => IdleReminders::None,
                other => {
                    return Err(self.err(
                        "usage.idle_reminders",
                        format!("{other:?} is none of \"cleanup\", \"ladder\", \"none\""),
                    ));
                }
            },
        })
    }

    fn sync(&self, raw: RawSync) -> Result<SyncConfig, ConfigError> {
        let owners_refresh_hours = raw.owners_refresh_hours.unwrap_or(defaults::OWNERS_REFRESH_HOURS);
        // A leap year of hours; beyond it the setting can only be a slip of the keyboard.
        if owners_refresh_hours > 24 * 366 {
            return Err(self.err(
                "sync.owners_refresh_hours",
                format!("{owners_refresh_hours} hours is more than a year; use at most 8784"),
            ));
        }
        let cfg = SyncConfig {
            concurrency: raw.concurrency.unwrap_or(defaults::SYNC_CONCURRENCY),
            request_timeout: raw.request_timeout_secs.map_or(defaults::REQUEST_TIMEOUT, Duration::from_secs),
            max_attempts: raw.max_attempts.unwrap_or(defaults::MAX_ATTEMPTS),
            max_backoff: raw.max_backoff_secs.map_or(defaults::MAX_BACKOFF, Duration::from_secs),
            backoff_base: defaults::BACKOFF_BASE,
            fetch_owners: raw.fetch_owners.unwrap_or(defaults::FETCH_OWNERS),
            owners_refresh: Duration::from_secs(owners_refresh_hours * 3600),
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
}

/// What is wrong with a secret file every user of the machine can read, if so.
fn readable_by_all(path: &Path) -> Option<String> {
    let mode = mode_of(path).filter(|m| m & 0o004 != 0)?;
    Some(format!(
        "{} holds a secret and every user of this machine can read it (mode {mode:04o}); chmod o-r it (0600 or 0640)",
        path.display()
    ))
}

/// The permission bits of `path` (following links, as a reader does), where the system has them.
fn mode_of(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).ok().map(|m| m.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}
