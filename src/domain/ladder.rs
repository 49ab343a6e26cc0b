//! The reminder ladder: which rung applies to a credential at an instant, given the rungs
//! already recorded for it.

use super::{IdleReminders, Timestamp, Usage, days_left};
use std::fmt;

/// A rung of the reminder ladder: `days_before` reminders, or the one notice after expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rung {
    /// Sent once `days_left <= n`.
    DaysBefore(i64),
    /// Sent once the credential has expired.
    Expired,
    /// The one notice an idle credential gets instead of the ladder: nothing uses it, delete it
    /// instead of rotating (`usage.idle_reminders = "cleanup"`).
    Cleanup,
}

impl Rung {
    /// The integer stored for a rung: the number of days, -1 for the expiry notice, -2 for the
    /// cleanup notice.
    pub fn to_db(self) -> i64 {
        match self {
            Rung::DaysBefore(n) => n,
            Rung::Expired => -1,
            Rung::Cleanup => -2,
        }
    }

    /// Lower is more urgent: the expiry notice, then the rungs by days.
    pub fn urgency(self) -> i64 {
        self.to_db()
    }

    pub fn from_db(v: i64) -> Self {
        match v {
            -2 => Rung::Cleanup,
            v if v < 0 => Rung::Expired,
            v => Rung::DaysBefore(v),
        }
    }
}

impl fmt::Display for Rung {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rung::DaysBefore(n) => write!(f, "{n} days before"),
            Rung::Expired => f.write_str("expired"),
            Rung::Cleanup => f.write_str("cleanup"),
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

    /// The end (exclusive) below which a credential may have crossed a rung at `now`:
    /// `days_left <= d` holds exactly when `end < now + (d + 1) days`. `None` when the ladder
    /// has no rung at all.
    pub fn horizon(&self, now: Timestamp) -> Option<Timestamp> {
        match self.days_before.last() {
            Some(&max) => Some(now.plus_days(max.saturating_add(1))),
            None if self.expired_notice => Some(now.next()),
            None => None,
        }
    }

    /// Decides which rung to send for a credential ending at `end`, seen at `now`, when the rungs
    /// in `recorded` were already sent or skipped. After downtime several rungs may have been
    /// crossed: only the most urgent is sent, the others are skipped.
    pub fn decide(&self, end: Timestamp, now: Timestamp, recorded: &[Rung]) -> LadderDecision {
        // A cleanup notice is no rung of the ladder: a credential in use again follows it.
        let recorded: Vec<Rung> = recorded.iter().copied().filter(|r| *r != Rung::Cleanup).collect();
        let recorded = recorded.as_slice();
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

impl Ladder {
    /// [`Ladder::decide`] for a credential of known `usage`: in use or unknown, the ladder; idle,
    /// as `idle` says: one cleanup notice once the ladder would first remind (and nothing after
    /// it), the ladder anyway, or nothing.
    pub fn decide_for(&self, end: Timestamp, now: Timestamp, recorded: &[Rung], usage: Usage, idle: IdleReminders) -> LadderDecision {
        let nothing = LadderDecision { send: None, skip: vec![] };
        match (usage, idle) {
            (Usage::Idle, IdleReminders::None) => nothing,
            (Usage::Idle, IdleReminders::Cleanup) if recorded.contains(&Rung::Cleanup) => nothing,
            (Usage::Idle, IdleReminders::Cleanup) => match self.decide(end, now, recorded).send {
                Some(_) => LadderDecision {
                    send: Some(Rung::Cleanup),
                    skip: vec![],
                },
                None => nothing,
            },
            _ => self.decide(end, now, recorded),
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
    fn ladder_sends_most_urgent_and_skips_the_rest_after_downtime() {
        let ladder = Ladder::new(vec![60, 30, 14, 7, 1], true);
        let now = at("2026-01-01T00:00:00Z");
        let end = now.plus_days(10);
        let d = ladder.decide(end, now, &[]);
        assert_eq!(d.send, Some(Rung::DaysBefore(14)));
        assert_eq!(d.skip, vec![Rung::DaysBefore(30), Rung::DaysBefore(60)]);
        let d = ladder.decide(end, now, &[Rung::DaysBefore(14), Rung::DaysBefore(30), Rung::DaysBefore(60)]);
        assert_eq!(d, LadderDecision { send: None, skip: vec![] });
        let d = ladder.decide(now.plus_seconds(-3_600), now, &[Rung::DaysBefore(60)]);
        assert_eq!(d.send, Some(Rung::Expired));
        assert_eq!(d.skip.len(), 4);
        assert_eq!(ladder.decide(now.plus_days(90), now, &[]).send, None);
        // A rung less urgent than one already sent (added to the config later) is moot.
        let wider = Ladder::new(vec![90, 60, 30, 14, 7, 1], true);
        let d = wider.decide(end, now, &[Rung::DaysBefore(14), Rung::DaysBefore(30), Rung::DaysBefore(60)]);
        assert_eq!(d, LadderDecision { send: None, skip: vec![] });
        // After the expiry notice nothing else is due.
        let d = ladder.decide(now.plus_days(-3), now, &[Rung::Expired]);
        assert_eq!(d, LadderDecision { send: None, skip: vec![] });
    }

    #[test]
    fn horizon_covers_the_largest_rung() {
        let now = Timestamp::from_unix_seconds(1_000_000);
        assert_eq!(Ladder::new(vec![7, 30], true).horizon(now), Some(now.plus_days(31)));
        assert_eq!(Ladder::new(vec![], true).horizon(now), Some(now.next()));
        assert_eq!(Ladder::new(vec![], false).horizon(now), None);
    }
}
