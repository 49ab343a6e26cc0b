//! Pure types and rules of credwatch, with no IO: what a credential is, how urgent it is, and
//! which rung of the reminder ladder applies to it.

mod href;

pub use href::path_segment;

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt;

/// Whether a credential is a password credential (client secret) or a key credential (certificate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialKind {
    Secret,
    Certificate,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Secret => "secret",
            CredentialKind::Certificate => "certificate",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "secret" => Some(CredentialKind::Secret),
            "certificate" => Some(CredentialKind::Certificate),
            _ => None,
        }
    }
}

impl fmt::Display for CredentialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How urgent a credential is. Ordered from most to least urgent, so sorting by status puts the
/// credentials that need action first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Expired,
    Critical,
    Warning,
    Ok,
}

impl Status {
    pub const ALL: [Status; 4] = [Status::Expired, Status::Critical, Status::Warning, Status::Ok];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Expired => "expired",
            Status::Critical => "critical",
            Status::Warning => "warning",
            Status::Ok => "ok",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const DAY_SECS: i64 = 86_400;

/// Whole days from `now` until `end`, rounded down (towards minus infinity, so a credential that
/// expired an hour ago has -1 days left). Computed in i64 seconds: an end in year 9999 is fine.
pub fn days_left(end: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (end.timestamp() - now.timestamp()).div_euclid(DAY_SECS)
}

/// The thresholds of `[status]`: below `critical_days` days left is critical, below
/// `warning_days` is warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub critical_days: i64,
    pub warning_days: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            critical_days: 7,
            warning_days: 30,
        }
    }
}

impl Thresholds {
    pub fn status(&self, end: DateTime<Utc>, now: DateTime<Utc>) -> Status {
        if end <= now {
            return Status::Expired;
        }
        let days = days_left(end, now);
        if days < self.critical_days {
            Status::Critical
        } else if days < self.warning_days {
            Status::Warning
        } else {
            Status::Ok
        }
    }

    /// The instant at which a credential ending at `end` stops being `ok`, i.e. the earliest end
    /// that is still `ok` at `now` is `now + warning_days`. Used to turn a status filter into a
    /// range over `end`, which the store can answer from an index.
    pub fn end_range(&self, status: Status, now: DateTime<Utc>) -> (Option<i64>, Option<i64>) {
        let now_s = now.timestamp();
        // days_left < d  <=>  end - now < d * DAY  (integer floor division keeps this exact)
        let critical_from = now_s + self.critical_days * DAY_SECS;
        let warning_from = now_s + self.warning_days * DAY_SECS;
        match status {
            Status::Expired => (None, Some(now_s + 1)),
            Status::Critical => (Some(now_s + 1), Some(critical_from)),
            Status::Warning => (Some(critical_from.max(now_s + 1)), Some(warning_from)),
            Status::Ok => (Some(warning_from.max(now_s + 1)), None),
        }
    }
}

/// A rung of the reminder ladder: `days_before` reminders, or the one notice after expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rung {
    /// Sent once `days_left <= n`.
    DaysBefore(i64),
    /// Sent once the credential has expired.
    Expired,
}

impl Rung {
    /// The integer stored for a rung: the number of days, or -1 for the expiry notice.
    pub fn to_db(self) -> i64 {
        match self {
            Rung::DaysBefore(n) => n,
            Rung::Expired => -1,
        }
    }

    /// Lower is more urgent: the expiry notice, then the rungs by days.
    pub fn urgency(self) -> i64 {
        self.to_db()
    }

    pub fn from_db(v: i64) -> Self {
        if v < 0 { Rung::Expired } else { Rung::DaysBefore(v) }
    }
}

impl fmt::Display for Rung {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rung::DaysBefore(n) => write!(f, "{n} days before"),
            Rung::Expired => f.write_str("expired"),
        }
    }
}

/// What the ladder says about one credential at one instant, given the rungs already recorded
/// (sent or skipped) for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LadderDecision {
    /// The single rung to send now, if any: the most urgent one crossed and not yet recorded.
    pub send: Option<Rung>,
    /// Less urgent rungs crossed during downtime and never sent: recorded as skipped so they are
    /// not sent later.
    pub skip: Vec<Rung>,
}

/// The reminder ladder: `days_before` rungs (any order in config) and the expiry notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ladder {
    days_before: Vec<i64>,
    expired_notice: bool,
}

impl Ladder {
    pub fn new(mut days_before: Vec<i64>, expired_notice: bool) -> Self {
        days_before.sort_unstable();
        days_before.dedup();
        Ladder {
            days_before,
            expired_notice,
        }
    }

    /// The rungs in ascending days (most urgent first).
    pub fn days_before(&self) -> &[i64] {
        &self.days_before
    }

    pub fn expired_notice(&self) -> bool {
        self.expired_notice
    }

    /// Decides which rung to send for a credential ending at `end`, seen at `now`, when the rungs
    /// in `recorded` were already sent or skipped. After downtime several rungs may have been
    /// crossed: only the most urgent is sent, the others are skipped.
    pub fn decide(&self, end: DateTime<Utc>, now: DateTime<Utc>, recorded: &[Rung]) -> LadderDecision {
        let expired = end <= now;
        let days = days_left(end, now);
        let mut crossed: Vec<Rung> = Vec::new();
        if expired && self.expired_notice {
            crossed.push(Rung::Expired);
        }
        // An expired credential gets the expiry notice, not a rung; without the notice the most
        // urgent rung still tells someone.
        crossed.extend(self.days_before.iter().filter(|&&d| days <= d).map(|&d| Rung::DaysBefore(d)));
        // A rung more urgent than one already recorded was crossed later than it, so everything
        // less urgent than the most urgent recorded rung is moot as well (e.g. a 90-day rung
        // added to the config after the 14-day reminder went out is not sent at 10 days left).
        let most_urgent_recorded = recorded.iter().map(|r| r.urgency()).min();
        let mut pending = crossed
            .into_iter()
            .filter(|r| !recorded.contains(r) && most_urgent_recorded.is_none_or(|u| r.urgency() < u));
        let send = pending.next();
        LadderDecision {
            send,
            skip: pending.collect(),
        }
    }
}

/// Where a credential lives: on an app registration (`/applications`) or on an enterprise
/// application, i.e. a service principal (`/servicePrincipals`, e.g. SAML signing certificates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    #[default]
    Application,
    ServicePrincipal,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Application => "application",
            Source::ServicePrincipal => "service_principal",
        }
    }

    pub fn parse(s: &str) -> Source {
        if s == "service_principal" {
            Source::ServicePrincipal
        } else {
            Source::Application
        }
    }

    /// How people call it in the portal.
    pub fn label(self) -> &'static str {
        match self {
            Source::Application => "app registration",
            Source::ServicePrincipal => "enterprise application",
        }
    }
}

/// An owner of an application or service principal: a user or a service principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Owner {
    pub id: String,
    /// `user`, `servicePrincipal`, or whatever `@odata.type` said (without the namespace).
    #[serde(rename = "type")]
    pub kind: String,
    pub display_name: Option<String>,
    pub mail: Option<String>,
    pub user_principal_name: Option<String>,
    pub app_id: Option<String>,
}

/// One application as a Graph listing showed it, with its credentials.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListedApplication {
    /// The directory object ID (`id`).
    pub object_id: String,
    /// The application (client) ID (`appId`).
    pub app_id: String,
    /// Chosen by whoever registered the app: untrusted text, possibly null.
    pub display_name: Option<String>,
    pub credentials: Vec<ListedCredential>,
    pub source: Source,
    /// Custom strings set on the app (untrusted).
    pub tags: Vec<String>,
    /// Management notes (untrusted); may name contacts with `credwatch-notify:`.
    pub notes: Option<String>,
    /// `None` when owners were not fetched.
    pub owners: Option<Vec<Owner>>,
}

/// One secret or certificate as Graph listed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedCredential {
    pub key_id: String,
    pub kind: CredentialKind,
    /// Untrusted text, possibly null (legacy secrets have none).
    pub display_name: Option<String>,
    /// The first three characters of a secret; null for certificates and legacy secrets.
    pub hint: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn days_left_rounds_down_and_handles_year_9999() {
        let now = at("2026-01-01T00:00:00Z");
        assert_eq!(days_left(at("2026-01-02T23:59:59Z"), now), 1);
        assert_eq!(days_left(at("2026-01-01T00:00:01Z"), now), 0);
        assert_eq!(days_left(at("2025-12-31T23:00:00Z"), now), -1);
        assert_eq!(days_left(at("9999-12-31T00:00:00Z"), now), 2_912_442);
    }

    #[test]
    fn status_follows_the_thresholds() {
        let t = Thresholds::default();
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let day = chrono::Duration::days(1);
        assert_eq!(t.status(now, now), Status::Expired);
        assert_eq!(t.status(now + day * 6, now), Status::Critical);
        assert_eq!(t.status(now + day * 7, now), Status::Warning);
        assert_eq!(t.status(now + day * 29, now), Status::Warning);
        assert_eq!(t.status(now + day * 30, now), Status::Ok);
    }

    #[test]
    fn end_range_agrees_with_status() {
        let t = Thresholds {
            critical_days: 7,
            warning_days: 30,
        };
        let now = at("2026-05-05T10:20:30Z");
        for offset in (-3 * DAY_SECS..40 * DAY_SECS).step_by(3_607) {
            let end = now + chrono::Duration::seconds(offset);
            let status = t.status(end, now);
            let (lo, hi) = t.end_range(status, now);
            let e = end.timestamp();
            assert!(lo.is_none_or(|lo| e >= lo) && hi.is_none_or(|hi| e < hi), "{offset} {status}");
        }
    }

    #[test]
    fn ladder_sends_most_urgent_and_skips_the_rest_after_downtime() {
        let ladder = Ladder::new(vec![60, 30, 14, 7, 1], true);
        let now = at("2026-01-01T00:00:00Z");
        let end = now + chrono::Duration::days(10);
        let d = ladder.decide(end, now, &[]);
        assert_eq!(d.send, Some(Rung::DaysBefore(14)));
        assert_eq!(d.skip, vec![Rung::DaysBefore(30), Rung::DaysBefore(60)]);
        let d = ladder.decide(end, now, &[Rung::DaysBefore(14), Rung::DaysBefore(30), Rung::DaysBefore(60)]);
        assert_eq!(d, LadderDecision { send: None, skip: vec![] });
        let d = ladder.decide(now - chrono::Duration::hours(1), now, &[Rung::DaysBefore(60)]);
        assert_eq!(d.send, Some(Rung::Expired));
        assert_eq!(d.skip.len(), 4);
        assert_eq!(ladder.decide(now + chrono::Duration::days(90), now, &[]).send, None);
        // A rung less urgent than one already sent (added to the config later) is moot.
        let wider = Ladder::new(vec![90, 60, 30, 14, 7, 1], true);
        let d = wider.decide(end, now, &[Rung::DaysBefore(14), Rung::DaysBefore(30), Rung::DaysBefore(60)]);
        assert_eq!(d, LadderDecision { send: None, skip: vec![] });
        // After the expiry notice nothing else is due.
        let d = ladder.decide(now - chrono::Duration::days(3), now, &[Rung::Expired]);
        assert_eq!(d, LadderDecision { send: None, skip: vec![] });
    }
}
