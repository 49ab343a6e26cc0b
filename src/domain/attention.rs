//! Who is on a credential: acknowledgements, snoozes and "not mine", and the rules deciding
//! when they quiet its reminders. Pure: the store keeps the state, the planner asks these rules.

use super::{Timestamp, days_left};
use serde::Serialize;
use std::fmt;

/// What can happen to a credential, as the event log and `GET /api/v1/events` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Reminded,
    Acknowledged,
    Snoozed,
    Disputed,
    Escalated,
    Rotated,
    Removed,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        EventKind::Reminded,
        EventKind::Acknowledged,
        EventKind::Snoozed,
        EventKind::Disputed,
        EventKind::Escalated,
        EventKind::Rotated,
        EventKind::Removed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Reminded => "reminded",
            EventKind::Acknowledged => "acknowledged",
            EventKind::Snoozed => "snoozed",
            EventKind::Disputed => "disputed",
            EventKind::Escalated => "escalated",
            EventKind::Rotated => "rotated",
            EventKind::Removed => "removed",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an event came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// A signed link from a reminder.
    Email,
    Dashboard,
    Api,
    /// credwatch itself: a reminder sent, an escalation, a sync noticing a removal.
    System,
}

impl Via {
    pub const ALL: [Via; 4] = [Via::Email, Via::Dashboard, Via::Api, Via::System];

    pub fn as_str(self) -> &'static str {
        match self {
            Via::Email => "email",
            Via::Dashboard => "dashboard",
            Via::Api => "api",
            Via::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Via> {
        Via::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// "I'm on it": who said so and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    pub by: String,
    pub at: Timestamp,
}

/// "Not mine": who said so, when, and whom they suggested instead (untrusted text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispute {
    pub by: String,
    pub at: Timestamp,
    pub suggested_owner: Option<String>,
}

/// The state of one credential that people set: empty for most.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attention {
    pub acknowledged: Option<Acknowledgement>,
    pub snoozed_until: Option<Timestamp>,
    /// Set on the credential's application, so it holds for all its credentials.
    pub owner_disputed: Option<Dispute>,
}

/// Why a credential's reminders are quiet at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    /// Someone acknowledged it and it has more than `critical_days` left.
    Acknowledged,
    /// Snoozed until this instant.
    Snoozed(Timestamp),
}

impl Attention {
    /// Whether reminders of a credential ending at `end` are held back at `now`. An
    /// acknowledgement holds them while more than `critical_days` days are left, so the rung at
    /// `critical_days` (and every later one) is sent again; a snooze holds them until its
    /// instant. Neither holds back the expiry notice: a snooze ends before the end by
    /// construction ([`snooze_bound`]), and an expired credential is past every threshold.
    pub fn pause(&self, end: Timestamp, critical_days: i64, now: Timestamp) -> Option<Pause> {
        if end <= now {
            return None;
        }
        if let Some(until) = self.snoozed_until
            && now < until
        {
            return Some(Pause::Snoozed(until));
        }
        if self.acknowledged.is_some() && days_left(end, now) > critical_days {
            return Some(Pause::Acknowledged);
        }
        None
    }
}

/// The latest instant a credential ending at `end` may be snoozed to: `min_notice_days` before
/// its end, so a snooze can never silence the last warning.
pub fn snooze_bound(end: Timestamp, min_notice_days: i64) -> Timestamp {
    end.plus_days(-min_notice_days)
}

/// Why a snooze was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SnoozeError {
    #[error("the date is not in the future")]
    NotInFuture,
    /// The latest date allowed is given, so the page can offer it.
    #[error("the date is too late: reminders may be snoozed until {latest} at the latest ({min_notice_days} day(s) before the end)")]
    TooLate { latest: Timestamp, min_notice_days: i64 },
    #[error("the credential ends too soon to be snoozed (less than {min_notice_days} day(s) left)")]
    EndsTooSoon { min_notice_days: i64 },
}

/// Checks a snooze of a credential ending at `end` until `until`, asked at `now`.
pub fn check_snooze(until: Timestamp, end: Timestamp, min_notice_days: i64, now: Timestamp) -> Result<Timestamp, SnoozeError> {
    let latest = snooze_bound(end, min_notice_days);
    if latest <= now {
        return Err(SnoozeError::EndsTooSoon { min_notice_days });
    }
    if until <= now {
        return Err(SnoozeError::NotInFuture);
    }
    if until > latest {
        return Err(SnoozeError::TooLate { latest, min_notice_days });
    }
    Ok(until)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn an_acknowledgement_holds_reminders_until_critical_days_then_lets_them_go() {
        let end = t("2026-03-31T12:00:00Z");
        let ack = Attention {
            acknowledged: Some(Acknowledgement {
                by: "ana".into(),
                at: t("2026-01-01T00:00:00Z"),
            }),
            ..Default::default()
        };
        assert_eq!(ack.pause(end, 7, end.plus_days(-30)), Some(Pause::Acknowledged));
        assert_eq!(ack.pause(end, 7, end.plus_days(-8)), Some(Pause::Acknowledged));
        assert_eq!(ack.pause(end, 7, end.plus_days(-7)), None, "resumes at critical_days");
        assert_eq!(ack.pause(end, 7, end.plus_seconds(1)), None, "the expiry notice is never held");
        assert_eq!(Attention::default().pause(end, 7, end.plus_days(-30)), None);
    }

    #[test]
    fn a_snooze_holds_until_its_instant_and_is_bounded_by_min_notice_days() {
        let end = t("2026-03-31T12:00:00Z");
        let now = end.plus_days(-20);
        let until = end.plus_days(-5);
        let snoozed = Attention {
            snoozed_until: Some(until),
            ..Default::default()
        };
        assert_eq!(snoozed.pause(end, 7, now), Some(Pause::Snoozed(until)));
        assert_eq!(snoozed.pause(end, 7, until), None);
        assert_eq!(check_snooze(until, end, 1, now), Ok(until));
        assert_eq!(
            check_snooze(end.plus_days(-1), end, 1, now),
            Ok(end.plus_days(-1)),
            "the bound itself is allowed"
        );
        assert_eq!(
            check_snooze(end.plus_days(-1).plus_seconds(1), end, 1, now),
            Err(SnoozeError::TooLate {
                latest: end.plus_days(-1),
                min_notice_days: 1
            })
        );
        assert!(
            check_snooze(end.plus_days(2), end, 1, now)
                .unwrap_err()
                .to_string()
                .contains("at the latest")
        );
        assert_eq!(check_snooze(now, end, 1, now), Err(SnoozeError::NotInFuture));
        assert_eq!(
            check_snooze(end, end, 1, end.plus_seconds(-3600)),
            Err(SnoozeError::EndsTooSoon { min_notice_days: 1 })
        );
    }

    #[test]
    fn names_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
        }
        for v in Via::ALL {
            assert_eq!(Via::parse(v.as_str()), Some(v));
        }
        assert_eq!(EventKind::parse("Acknowledged"), None);
    }
}
