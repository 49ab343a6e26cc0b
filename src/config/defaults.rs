//! Every value a key takes when the file leaves it out, in one place. SPEC.md and
//! credwatch.example.toml show the same values; change them together.
//!
//! Two defaults are derived rather than fixed: `server.public_url` from `server.listen`, and an
//! environment's `portal_url` from its `graph_url` (the portal of that cloud). Without an
//! `[email]` table nothing is sent; `reminders.builtin_exclusions` keeps every built-in rule.

use std::time::Duration;

/// `server.listen`.
pub const LISTEN: &str = "127.0.0.1:8080";
/// `server.auth.mode`.
pub const AUTH_MODE: &str = "none";
/// `server.auth.allow_anonymous`.
pub const ALLOW_ANONYMOUS: bool = false;
/// `server.auth.anonymous_actions`.
pub const ANONYMOUS_ACTIONS: bool = false;
/// `server.auth.realm`.
pub const REALM: &str = "credwatch";
/// `server.auth.user_header`.
pub const USER_HEADER: &str = "X-Forwarded-User";

/// `server.auth.roles.read`.
pub const ROLE_READ: &str = "credwatch.read";
/// `server.auth.roles.operate`.
pub const ROLE_OPERATE: &str = "credwatch.operate";
/// `server.auth.roles.admin`.
pub const ROLE_ADMIN: &str = "credwatch.admin";
/// A signed-in session ends after this long without a request (`mode = "oidc"`).
pub const SESSION_IDLE: Duration = Duration::from_secs(2 * 3600);
/// A signed-in session ends this long after sign-in, however busy.
pub const SESSION_ABSOLUTE: Duration = Duration::from_secs(12 * 3600);

/// `server.auth.password_checks`: one per core, so a flood of logins can take no more CPU than the
/// machine has, nor more than one argon2 memory block per core.
pub fn password_checks() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// `database.url`.
pub const DATABASE_URL: &str = "sqlite://credwatch.db";

/// `schedule.sync`: every 30 minutes.
pub const SYNC_SCHEDULE: &str = "0 */30 * * * *";
/// `schedule.remind`: daily at 08:00 UTC.
pub const REMIND_SCHEDULE: &str = "0 0 8 * * *";

/// `status.critical_days`.
pub const CRITICAL_DAYS: i64 = 7;
/// `status.warning_days`.
pub const WARNING_DAYS: i64 = 30;

/// `reminders.days_before`.
pub const DAYS_BEFORE: [i64; 5] = [60, 30, 14, 7, 1];
/// `reminders.expired_notice`.
pub const EXPIRED_NOTICE: bool = true;

/// `reminders.min_notice_days`.
pub const MIN_NOTICE_DAYS: i64 = 1;

/// `escalation.after_hours`. (`escalation.within_days` defaults to `status.critical_days`.)
pub const ESCALATION_AFTER_HOURS: i64 = 24;

/// `email.transport`, once an `[email]` table is there.
pub const EMAIL_TRANSPORT: &str = "smtp";
/// `email.url`.
pub const SMTP_URL: &str = "smtp://127.0.0.1:25";
/// `email.dir`, relative to the config file.
pub const OUTBOX_DIR: &str = "outbox";

/// `calendar.max_events`: about 3 MB of feed; above it a feed holds one event per day, and a
/// day-grouped feed stays under 5 MB whatever the tenant's size.
pub const CALENDAR_MAX_EVENTS: u64 = 2_000;
/// `calendar.stall_timeout_secs`.
pub const CALENDAR_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// `sync.concurrency`.
pub const SYNC_CONCURRENCY: usize = 4;
/// `sync.request_timeout_secs`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// `sync.max_attempts`.
pub const MAX_ATTEMPTS: u32 = 6;
/// `sync.max_backoff_secs`.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Base of the exponential backoff when Graph gives no `Retry-After`; no key (tests shorten it).
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// `sync.fetch_owners`.
pub const FETCH_OWNERS: bool = true;
/// `sync.owners_refresh_hours`.
pub const OWNERS_REFRESH_HOURS: u64 = 24;

/// `usage.active_days`.
pub const USAGE_ACTIVE_DAYS: i64 = 30;
/// `usage.refresh_hours`: the reports change slowly (Graph aggregates sign-ins with a delay),
/// so four reads a day are enough and keep the requests to a handful per environment a day.
pub const USAGE_REFRESH_HOURS: u64 = 6;
/// `usage.incident_days`.
pub const USAGE_INCIDENT_DAYS: i64 = 7;
/// `usage.unused_days`.
pub const USAGE_UNUSED_DAYS: i64 = 90;
/// `usage.idle_reminders`.
pub const USAGE_IDLE_REMINDERS: &str = "cleanup";
/// `environments[].usage` on the global cloud; national clouds have no sign-in activity
/// reports, so it is off there whatever the default.
pub const USAGE: bool = true;

/// `environments[].authority_host`, unless `AZURE_AUTHORITY_HOST` names another.
pub const AUTHORITY: &str = "https://login.microsoftonline.com";
/// `environments[].graph_url`.
pub const GRAPH: &str = "https://graph.microsoft.com";
/// `environments[].notify_owners`.
pub const NOTIFY_OWNERS: bool = false;
/// `environments[].include_service_principals`.
pub const INCLUDE_SERVICE_PRINCIPALS: bool = false;
/// The name of the one environment `AZURE_*` variables define, unless `CREDWATCH_ENVIRONMENT` names it.
pub const ZERO_CONFIG_ENVIRONMENT: &str = "default";
