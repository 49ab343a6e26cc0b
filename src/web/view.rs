//! What pages show, computed once in Rust so templates only lay it out: times in UTC with a
//! relative hint, status with text and icon, an environment's health, and the rows of
//! credential tables. Graph names stay plain strings here: askama escapes them on output.

use crate::config::Config;
use crate::domain::{Credential, Exclusions, RotationVerdict, Status, Successor, Thresholds, Timestamp, path_segment};
use crate::store::{EnvironmentState, StatusCounts};
use chrono::Utc;

/// `2026-03-04 17:05 UTC`.
pub fn utc(t: Timestamp) -> String {
    t.naive_utc().format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `2026-03-04`.
pub fn date(t: Timestamp) -> String {
    t.naive_utc().format("%Y-%m-%d").to_string()
}

/// RFC 3339 in UTC, exactly the instant Graph gave (see [`Timestamp`]'s `Display`), as the API
/// writes times.
pub fn rfc3339(t: Timestamp) -> String {
    t.to_string()
}

/// "in 12 days", "3 h ago", "just now": coarse on purpose, the absolute time sits beside it.
pub fn relative(t: Timestamp, now: Timestamp) -> String {
    let delta = t.ticks_since(now) / Timestamp::TICKS_PER_SECOND;
    let secs = delta.unsigned_abs();
    let amount = match secs {
        0..60 => return "just now".into(),
        60..3_600 => format!("{} min", secs / 60),
        3_600..172_800 => format!("{} h", secs / 3_600),
        172_800..5_184_000 => format!("{} days", secs / 86_400),
        5_184_000..63_072_000 => format!("{} months", secs / 2_629_746),
        _ => format!("{} years", secs / 31_556_952),
    };
    if delta < 0 {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

/// A status as pages show it: a word and an icon, and a CSS class for colour, so colour is never
/// the only signal.
#[derive(Debug, Clone, Copy)]
pub struct StatusView {
    pub key: &'static str,
    pub label: &'static str,
    pub icon: &'static str,
}

impl From<Status> for StatusView {
    fn from(s: Status) -> Self {
        let (label, icon) = match s {
            Status::Expired => ("Expired", "✕"),
            Status::Critical => ("Critical", "▲"),
            Status::Warning => ("Warning", "◆"),
            Status::Ok => ("OK", "✓"),
        };
        StatusView {
            key: s.as_str(),
            label,
            icon,
        }
    }
}

/// The path of an environment's inventory.
pub fn environment_href(name: &str) -> String {
    format!("/environments/{}", path_segment(name))
}

/// The path of an application's page. The object id comes from Graph, so it is encoded.
pub fn application_href(environment: &str, object_id: &str) -> String {
    format!("{}/applications/{}", environment_href(environment), path_segment(object_id))
}

/// Untrusted display names may be missing or blank; pages show a placeholder instead.
pub fn display_or(name: Option<&str>, placeholder: &str) -> (String, bool) {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => (n.to_string(), false),
        None => (placeholder.to_string(), true),
    }
}

/// One credential as a table row.
#[derive(Debug, Clone)]
pub struct CredentialRow {
    pub environment: String,
    pub environment_href: String,
    pub app_name: String,
    pub app_unnamed: bool,
    pub app_href: String,
    pub app_id: String,
    pub kind: &'static str,
    pub name: String,
    pub name_missing: bool,
    pub hint: Option<String>,
    pub key_id: String,
    pub start: String,
    pub end_date: String,
    pub end_utc: String,
    pub end_relative: String,
    /// For sorting the table: the end in Unix seconds, exact (a decimal).
    pub end_at: String,
    pub days_left: i64,
    pub status: StatusView,
    pub portal: String,
    pub first_seen: String,
    pub last_seen: String,
    pub removed: Option<String>,
    /// Set for credentials of enterprise applications (service principals).
    pub enterprise: bool,
    /// The exclusion rule silencing its reminders, and the rule's reason.
    pub excluded: Option<(String, String)>,
    /// The newer credential that replaced it, in words.
    pub superseded: Option<String>,
    /// The last recorded sign-in: relative ("3 days ago") and exact, or `None` when there is none.
    pub last_used: Option<(String, String)>,
    /// `in_use`, `idle` or `unknown`, and how a page says it.
    pub usage: (&'static str, &'static str),
    /// The rotation verdict of the sign-in evidence, in words.
    pub rotation: Option<String>,
    /// What Needs action makes of it, in words, when it is there.
    pub action: Option<(&'static str, &'static str)>,
}

impl CredentialRow {
    /// Marks the row with what the policy says: excluded (rule and reason) and superseded.
    pub fn with_policy(
        mut self,
        c: &Credential,
        exclusions: &Exclusions,
        successors: &std::collections::HashMap<i64, Successor>,
        now: Timestamp,
    ) -> Self {
        if c.is_live() {
            self.excluded = exclusions.find(c, now).map(|r| (r.name.clone(), r.reason.clone()));
            self.superseded = successors.get(&c.id).map(|s| {
                let name = s
                    .display_name
                    .clone()
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or_else(|| s.key_id.clone());
                format!("“{name}”, ending {}", date(s.end))
            });
        }
        self
    }

    /// Adds the last sign-in and the usage classification at `now`.
    pub fn with_usage(mut self, c: &Credential, active_days: i64, now: Timestamp) -> Self {
        self.last_used = c.last_use.at().map(|t| (relative(t, now), utc(t)));
        let usage = c.usage(active_days, now);
        self.usage = (usage.as_str(), usage.label());
        self
    }

    /// Adds the rotation verdict, which replaces the time-based "superseded" wherever there is
    /// one: complete keeps the newer one named, in progress clears it (the old one is needed).
    pub fn with_rotation(mut self, verdict: Option<&RotationVerdict>) -> Self {
        if let Some(v) = verdict {
            if v.rotation == crate::domain::Rotation::InProgress {
                self.superseded = None;
            }
            self.rotation = Some(match v.last_used {
                Some(t) if v.rotation == crate::domain::Rotation::InProgress => {
                    format!("rotation in progress: something still uses the old one (last used {})", utc(t))
                }
                _ => v.describe(),
            });
        }
        self
    }

    pub fn new(c: &Credential, thresholds: &Thresholds, now: Timestamp) -> Self {
        let (app_name, app_unnamed) = display_or(c.app_display_name.as_deref(), "(no name)");
        let (name, name_missing) = display_or(c.display_name.as_deref(), "(no description)");
        CredentialRow {
            environment: c.environment.clone(),
            environment_href: environment_href(&c.environment),
            app_name,
            app_unnamed,
            app_href: application_href(&c.environment, &c.app_object_id),
            app_id: c.app_id.clone(),
            kind: c.kind.as_str(),
            name,
            name_missing,
            hint: c.hint.clone().filter(|h| !h.is_empty()),
            key_id: c.key_id.clone(),
            start: c.start_at.map(date).unwrap_or_else(|| "—".into()),
            end_date: date(c.end_at),
            end_utc: utc(c.end_at),
            end_relative: relative(c.end_at, now),
            end_at: c.end_at.unix_seconds_decimal(),
            days_left: c.days_left(now),
            status: c.status(thresholds, now).into(),
            portal: c.portal_link(),
            first_seen: utc(c.first_seen_at),
            last_seen: utc(c.last_seen_at),
            removed: c.removed_at.map(utc),
            enterprise: c.app_source == crate::domain::Source::ServicePrincipal,
            excluded: None,
            superseded: None,
            last_used: None,
            usage: ("unknown", "unknown"),
            rotation: None,
            action: None,
        }
    }
}

/// How much an environment can be trusted right now, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    NeverSynced,
    Failing,
    Stale,
    Empty,
    Expired,
    Critical,
    Warning,
    Clear,
}

impl Health {
    pub fn key(self) -> &'static str {
        match self {
            Health::NeverSynced => "never",
            Health::Failing => "failing",
            Health::Stale => "stale",
            Health::Empty => "empty",
            Health::Expired => "expired",
            Health::Critical => "critical",
            Health::Warning => "warning",
            Health::Clear => "ok",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Health::NeverSynced => "Never synced",
            Health::Failing => "Sync failing",
            Health::Stale => "Stale",
            Health::Empty => "No credentials listed",
            Health::Expired => "Expired credentials",
            Health::Critical => "Action needed",
            Health::Warning => "Expiring soon",
            Health::Clear => "All clear",
        }
    }

    pub fn icon(self) -> &'static str {
        match self {
            Health::NeverSynced => "?",
            Health::Failing => "✕",
            Health::Stale => "⏱",
            Health::Empty => "∅",
            Health::Expired => "✕",
            Health::Critical => "▲",
            Health::Warning => "◆",
            Health::Clear => "✓",
        }
    }

    /// Problems with the data itself (as opposed to credentials needing action).
    pub fn is_data_problem(self) -> bool {
        self <= Health::Empty
    }
}

/// How old the last successful sync may get before an environment counts as stale: three sync
/// intervals (the gap between the next two scheduled runs), or two hours when syncing is off.
pub fn stale_after_secs(config: &Config) -> i64 {
    let interval = config.schedule.sync.schedule.as_ref().and_then(|s| {
        let mut next = s.upcoming(Utc);
        let a = next.next()?;
        let b = next.next()?;
        Some((b - a).num_seconds())
    });
    match interval {
        Some(i) if i > 0 => 3 * i,
        _ => 2 * 3_600,
    }
}

/// An environment as the overview's card and the inventory's header show it.
#[derive(Debug, Clone)]
pub struct EnvironmentCard {
    pub name: String,
    pub href: String,
    pub tenant_id: String,
    pub client_id: String,
    pub health: Health,
    /// Sentences explaining every problem found, worst first.
    pub problems: Vec<String>,
    pub last_sync_utc: Option<String>,
    pub last_sync_relative: Option<String>,
    pub last_outcome: Option<String>,
    pub last_error: Option<String>,
    pub last_success_utc: Option<String>,
    pub last_success_relative: Option<String>,
    pub running: bool,
    pub counts: StatusCounts,
    pub applications: i64,
    pub credentials: i64,
    /// Credential usage: its status, the age of the values shown, and why it is unknown and
    /// how to fix that (said once here rather than on every row).
    pub usage: UsageLine,
}

/// An environment card's line about credential usage.
#[derive(Debug, Clone, Default)]
pub struct UsageLine {
    /// `ok`, `no_permission`, `no_license`, `unavailable` or `off`.
    pub status: &'static str,
    /// "read 2 h ago (2026-…)", or `None` when never read.
    pub read: Option<String>,
    /// The reason and the fix, when usage is unknown.
    pub reason: Option<&'static str>,
}

impl UsageLine {
    pub fn new(status: crate::domain::UsageStatus, read_at: Option<Timestamp>, now: Timestamp) -> UsageLine {
        UsageLine {
            status: status.as_str(),
            read: read_at.map(|t| format!("read {} ({})", relative(t, now), utc(t))),
            reason: status.explanation(),
        }
    }
}

impl EnvironmentCard {
    pub fn new(env: &EnvironmentState, counts: StatusCounts, now: Timestamp, stale_after: i64) -> Self {
        let mut problems = Vec::new();
        let mut healths = Vec::new();
        let failed = env.last_run_outcome.as_deref().is_some_and(|o| o != "success");
        match env.last_success_at {
            None if env.last_run_id.is_none() => {
                healths.push(Health::NeverSynced);
                problems.push(if env.running {
                    "The first sync is running: nothing is known about this environment yet.".to_string()
                } else {
                    "No sync has run yet: nothing is known about this environment.".to_string()
                });
            }
            None => {
                healths.push(Health::NeverSynced);
                problems.push("No sync has ever succeeded: nothing is known about this environment.".to_string());
            }
            Some(at) if at.plus_seconds(stale_after) < now => {
                healths.push(Health::Stale);
                problems.push(format!(
                    "The last successful sync was {}: the figures below may be out of date.",
                    relative(at, now)
                ));
            }
            Some(_) => {}
        }
        if failed {
            healths.push(Health::Failing);
            problems.insert(
                0,
                "The last sync failed; the figures below are from the last one that succeeded.".to_string(),
            );
        }
        if env.last_success_at.is_some() && counts.total() == 0 {
            healths.push(Health::Empty);
            problems.push(
                "The last listing held no credentials at all. Check that credwatch may read applications (Application.Read.All)."
                    .to_string(),
            );
        }
        if counts.expired > 0 {
            healths.push(Health::Expired);
        } else if counts.critical > 0 {
            healths.push(Health::Critical);
        } else if counts.warning > 0 {
            healths.push(Health::Warning);
        }
        let health = healths.into_iter().min().unwrap_or(Health::Clear);
        EnvironmentCard {
            name: env.name.clone(),
            href: environment_href(&env.name),
            tenant_id: env.tenant_id.clone(),
            client_id: env.client_id.clone(),
            health,
            problems,
            last_sync_utc: env.last_run_finished_at.map(utc),
            last_sync_relative: env.last_run_finished_at.map(|t| relative(t, now)),
            last_outcome: env.last_run_outcome.clone(),
            last_error: if failed { env.last_run_error.clone() } else { None },
            last_success_utc: env.last_success_at.map(utc),
            last_success_relative: env.last_success_at.map(|t| relative(t, now)),
            running: env.running,
            counts,
            applications: env.applications,
            credentials: env.credentials,
            usage: UsageLine::default(),
        }
    }

    /// The counts as (status, how many, link to the filtered inventory).
    pub fn count_links(&self) -> Vec<(StatusView, i64, String)> {
        Status::ALL
            .iter()
            .map(|&s| {
                (
                    StatusView::from(s),
                    self.counts.get(s),
                    format!("{}?status={}", self.href, s.as_str()),
                )
            })
            .collect()
    }
}

/// `12,345`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_naturally() {
        let now = Timestamp::from_unix_seconds(100);
        assert_eq!(relative(now, now), "just now");
        assert_eq!(relative(now.plus_days(12), now), "in 12 days");
        assert_eq!(relative(now.plus_seconds(-3 * 3_600), now), "3 h ago");
        assert_eq!(relative(now.plus_days(400), now), "in 13 months");
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(200_000), "200,000");
        assert_eq!(thousands(-1_234_567), "-1,234,567");
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(application_href("prod", "a/b c?"), "/environments/prod/applications/a%2Fb%20c%3F");
    }
}
