//! How urgent a credential is: days left and status, decided from its exact end.

use super::Timestamp;
use serde::Serialize;
use std::fmt;

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

/// Whole days from `now` until `end`, rounded down (towards minus infinity, so a credential that
/// expired an hour ago has -1 days left). Exact to the tick: an end in year 9999 is fine.
pub fn days_left(end: Timestamp, now: Timestamp) -> i64 {
    end.ticks_since(now).div_euclid(Timestamp::TICKS_PER_DAY)
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
    pub fn status(&self, end: Timestamp, now: Timestamp) -> Status {
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

    /// The ends splitting credentials into statuses at `now`, exactly as [`Thresholds::status`]
    /// does: expired below the first, critical below the second, warning below the third, ok
    /// from the third on. Lets the store count or filter by status from an index over the end.
    pub fn bounds(&self, now: Timestamp) -> [Timestamp; 3] {
        // days_left < d  <=>  end - now < d days  (floor division keeps this exact)
        let expired_before = now.next();
        let critical_before = now.plus_days(self.critical_days).max(expired_before);
        let warning_before = now.plus_days(self.warning_days).max(critical_before);
        [expired_before, critical_before, warning_before]
    }

    /// The range of ends `[from, before)` holding the credentials of `status` at `now`.
    pub fn end_range(&self, status: Status, now: Timestamp) -> (Option<Timestamp>, Option<Timestamp>) {
        let [expired, critical, warning] = self.bounds(now);
        match status {
            Status::Expired => (None, Some(expired)),
            Status::Critical => (Some(expired), Some(critical)),
            Status::Warning => (Some(critical), Some(warning)),
            Status::Ok => (Some(warning), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn days_left_rounds_down_and_handles_year_9999() {
        let now = at("2026-01-01T00:00:00Z");
        assert_eq!(days_left(at("2026-01-02T23:59:59.9999999Z"), now), 1);
        assert_eq!(days_left(at("2026-01-01T00:00:00.0000001Z"), now), 0);
        assert_eq!(days_left(at("2025-12-31T23:59:59.9999999Z"), now), -1);
        assert_eq!(days_left(at("9999-12-31T00:00:00Z"), now), 2_912_442);
    }

    #[test]
    fn status_follows_the_thresholds() {
        let t = Thresholds::default();
        let now = at("2026-01-01T12:00:00Z");
        assert_eq!(t.status(now, now), Status::Expired);
        assert_eq!(t.status(now.plus_days(6), now), Status::Critical);
        assert_eq!(t.status(now.plus_days(7), now), Status::Warning);
        assert_eq!(t.status(now.plus_days(29), now), Status::Warning);
        assert_eq!(t.status(now.plus_days(30), now), Status::Ok);
    }

    #[test]
    fn status_is_exact_below_a_second() {
        let t = Thresholds::default();
        let now = at("2026-01-01T12:00:00.25Z");
        assert_eq!(t.status(now.next(), now), Status::Critical);
        assert_eq!(t.status(at("2026-01-01T12:00:00.75Z"), now), Status::Critical);
        assert_eq!(t.status(Timestamp::from_ticks(now.ticks() - 1), now), Status::Expired);
        // Seven days less one tick is still critical.
        assert_eq!(t.status(Timestamp::from_ticks(now.plus_days(7).ticks() - 1), now), Status::Critical);
    }

    #[test]
    fn end_range_agrees_with_status() {
        let t = Thresholds {
            critical_days: 7,
            warning_days: 30,
        };
        let now = at("2026-05-05T10:20:30.1234567Z");
        // Steps of 3,607.0000013 s reach every phase of the second and the day.
        for k in -72..800_i64 {
            let end = Timestamp::from_ticks(now.ticks() + k * 36_070_000_013);
            let status = t.status(end, now);
            let (lo, hi) = t.end_range(status, now);
            assert!(lo.is_none_or(|lo| end >= lo) && hi.is_none_or(|hi| end < hi), "{end} {status}");
        }
    }
}
