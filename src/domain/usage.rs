//! Credential usage: what the sign-in activity reports (graph-facts §11) say of a credential,
//! and what follows from it: in use, idle or unknown; how urgent it is in Needs action; whether a
//! rotation is finished. Pure functions of typed values and an explicit `now`.

use super::{CredentialKind, Sibling, Successor, Timestamp};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;

/// What the reports said of one credential's last sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LastUse {
    /// Its environment's reports were never read completely (off, no permission, no licence).
    #[default]
    NotRead,
    /// The reports were read and have no row for it: no recorded sign-in.
    Never,
    /// Its last sign-in.
    At(Timestamp),
    /// The reports have a row for it whose date is missing or unreadable.
    Unreadable,
}

impl LastUse {
    /// From the stored facts: whether the environment's reports were ever read, whether they
    /// have a row for the credential, and that row's date.
    pub fn from_stored(read: bool, recorded: bool, at: Option<Timestamp>) -> LastUse {
        match (read, recorded, at) {
            (false, _, _) => LastUse::NotRead,
            (true, false, _) => LastUse::Never,
            (true, true, Some(t)) => LastUse::At(t),
            (true, true, None) => LastUse::Unreadable,
        }
    }

    /// The instant of the last sign-in, when one is known.
    pub fn at(self) -> Option<Timestamp> {
        match self {
            LastUse::At(t) => Some(t),
            _ => None,
        }
    }

    /// Whether the reports say anything about this credential (a date, or "never").
    pub fn known(self) -> bool {
        matches!(self, LastUse::At(_) | LastUse::Never)
    }
}

/// `usage` of the API: in use, idle or unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Usage {
    /// Signed in within `usage.active_days`.
    InUse,
    /// No recorded sign-in for that long, or never.
    Idle,
    /// No data: the reports could not be read, or their row for it is unreadable.
    Unknown,
}

impl Usage {
    pub const ALL: [Usage; 3] = [Usage::InUse, Usage::Idle, Usage::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            Usage::InUse => "in_use",
            Usage::Idle => "idle",
            Usage::Unknown => "unknown",
        }
    }

    /// How a page says it.
    pub fn label(self) -> &'static str {
        match self {
            Usage::InUse => "in use",
            Usage::Idle => "idle",
            Usage::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Usage> {
        Usage::ALL.into_iter().find(|u| u.as_str() == s)
    }

    /// In use when the last sign-in is at most `active_days` days before `now` (the boundary
    /// itself is in use), idle when older or never, unknown without data.
    pub fn classify(last_use: LastUse, active_days: i64, now: Timestamp) -> Usage {
        match last_use {
            LastUse::NotRead | LastUse::Unreadable => Usage::Unknown,
            LastUse::Never => Usage::Idle,
            LastUse::At(t) if t >= now.plus_days(-active_days) => Usage::InUse,
            LastUse::At(_) => Usage::Idle,
        }
    }
}

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `usage_status` of an environment: whether its reports can be read, and if not why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageStatus {
    /// The last read was complete.
    Ok,
    /// 403 `Authorization_RequestDenied`: credwatch's app lacks `AuditLog.Read.All`.
    NoPermission,
    /// 403 `Authentication_RequestFromNonPremiumTenantOrB2CTenant`: no Entra ID P1/P2.
    NoLicense,
    /// Not read yet, or the last read failed otherwise (a page, the network, Graph).
    Unavailable,
    /// `usage = false`, or a national cloud.
    Off,
}

impl UsageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UsageStatus::Ok => "ok",
            UsageStatus::NoPermission => "no_permission",
            UsageStatus::NoLicense => "no_license",
            UsageStatus::Unavailable => "unavailable",
            UsageStatus::Off => "off",
        }
    }

    pub fn parse(s: &str) -> Option<UsageStatus> {
        [
            UsageStatus::Ok,
            UsageStatus::NoPermission,
            UsageStatus::NoLicense,
            UsageStatus::Unavailable,
            UsageStatus::Off,
        ]
        .into_iter()
        .find(|u| u.as_str() == s)
    }

    /// From the error code of a 403 of the reports (graph-facts §11).
    pub fn of_forbidden(code: &str) -> UsageStatus {
        match code {
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant" => UsageStatus::NoLicense,
            "Authorization_RequestDenied" => UsageStatus::NoPermission,
            _ => UsageStatus::Unavailable,
        }
    }

    /// Why usage is unknown and what fixes it, said once per environment; `None` when it is
    /// read or deliberately off.
    pub fn explanation(self) -> Option<&'static str> {
        match self {
            UsageStatus::Ok | UsageStatus::Off => None,
            UsageStatus::NoPermission => Some(
                "credwatch's app registration lacks the application permission AuditLog.Read.All: grant it with admin consent (API permissions → Add a permission → Microsoft Graph → Application permissions → AuditLog.Read.All → Grant admin consent)",
            ),
            UsageStatus::NoLicense => Some(
                "the tenant has no Microsoft Entra ID P1 or P2 licence, which the sign-in activity reports need: usage stays unknown until one is assigned (reminders follow the ladder meanwhile)",
            ),
            UsageStatus::Unavailable => Some("the sign-in activity reports could not be read this time; the last values read are kept"),
        }
    }
}

impl fmt::Display for UsageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of `appCredentialSignInActivities`, parsed at the edge: a date that did not parse is
/// `None` (unknown), never an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialSignIn {
    pub key_id: String,
    pub app_id: String,
    pub last_sign_in: Option<Timestamp>,
    /// The resource it was last used for (an app id).
    pub resource_id: Option<String>,
}

/// One row of `servicePrincipalSignInActivities`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSignIn {
    pub app_id: String,
    /// `lastSignInActivity`.
    pub last_sign_in: Option<Timestamp>,
    /// `applicationAuthenticationClientSignInActivity`: app-only, with a secret or certificate.
    pub client_sign_in: Option<Timestamp>,
}

/// Both reports of one environment, complete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageReport {
    pub credentials: Vec<CredentialSignIn>,
    pub applications: Vec<AppSignIn>,
}

/// `usage.idle_reminders`: what an idle credential gets instead of the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleReminders {
    /// `"cleanup"`: one notice that nothing uses it and it can be deleted, instead of the ladder.
    Cleanup,
    /// `"ladder"`: the ladder, like an in-use credential.
    Ladder,
    /// `"none"`: no reminder at all.
    None,
}

/// What Needs action makes of a credential that ends before the warning threshold, in the order
/// it ranks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Expired, and used within `usage.incident_days` before its end: an app probably fails now.
    Incident,
    /// Expiring and in use: rotate it.
    Rotate,
    /// Expiring, usage unknown: rotate it, to be safe.
    RotateUnknown,
    /// Expired, in use or unknown, but not an incident.
    Expired,
    /// Expiring and idle: delete it instead of rotating.
    Delete,
    /// Expired and idle: leaves Needs action for the Cleanup list.
    Cleanup,
}

impl Action {
    /// The credential's place in Needs action; `Cleanup` is not in it. An incident is an
    /// expiry of the last `active_days` (older ones were noticed, or nothing uses them any more)
    /// with a sign-in within `incident_days` before the end.
    pub fn of(end: Timestamp, last_use: LastUse, usage: Usage, days: ActionDays, now: Timestamp) -> Action {
        let expired = end <= now;
        if expired && end >= now.plus_days(-days.active) && last_use.at().is_some_and(|t| t >= end.plus_days(-days.incident)) {
            return Action::Incident;
        }
        match (expired, usage) {
            (false, Usage::InUse) => Action::Rotate,
            (false, Usage::Unknown) => Action::RotateUnknown,
            (false, Usage::Idle) => Action::Delete,
            (true, Usage::Idle) => Action::Cleanup,
            (true, _) => Action::Expired,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Incident => "incident",
            Action::Rotate => "rotate",
            Action::RotateUnknown => "rotate",
            Action::Expired => "expired",
            Action::Delete => "delete",
            Action::Cleanup => "cleanup",
        }
    }

    /// What to do, in words for the dashboard.
    pub fn advice(self) -> &'static str {
        match self {
            Action::Incident => "incident: expired while in use, something probably fails now",
            Action::Rotate => "in use: rotate it",
            Action::RotateUnknown => "usage unknown: rotate it",
            Action::Expired => "expired",
            Action::Delete => "idle: delete instead of rotating",
            Action::Cleanup => "expired and idle: delete it",
        }
    }
}

/// `usage.active_days` and `usage.incident_days`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionDays {
    pub active: i64,
    pub incident: i64,
}

/// Sorts Needs action candidates: by [`Action`], then incidents by latest use, expiring ones by
/// days left, expired ones most recent first. `key` gives each item's (end, action, last use).
pub fn rank_needs_action<T>(items: &mut [T], key: impl Fn(&T) -> (Timestamp, Action, Option<Timestamp>)) {
    items.sort_by(|a, b| {
        let (ea, aa, la) = key(a);
        let (eb, ab, lb) = key(b);
        aa.cmp(&ab).then_with(|| match aa {
            Action::Incident => lb.cmp(&la),
            Action::Expired | Action::Cleanup => eb.cmp(&ea),
            _ => ea.cmp(&eb),
        })
    });
}

/// `rotation` of the API: what the sign-in evidence says of an older credential once a newer
/// one of the same kind exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rotation {
    /// The newer one is used since it appeared and this one is not: delete this one.
    Complete,
    /// This one was used after the newer one appeared: something still uses it.
    InProgress,
}

impl Rotation {
    pub fn as_str(self) -> &'static str {
        match self {
            Rotation::Complete => "complete",
            Rotation::InProgress => "in_progress",
        }
    }
}

/// The verdict on an older credential, with its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RotationVerdict {
    pub rotation: Rotation,
    /// The newer credential.
    pub newer_key_id: String,
    pub newer_display_name: Option<String>,
    /// When the newer one appeared (its start, or when credwatch first saw it).
    pub since: Timestamp,
    /// The older one's last sign-in, if any.
    pub last_used: Option<Timestamp>,
}

impl RotationVerdict {
    /// In words, for pages and digests.
    pub fn describe(&self) -> String {
        match (self.rotation, self.last_used) {
            (Rotation::Complete, _) => "rotation complete: delete the old one".to_string(),
            (Rotation::InProgress, Some(t)) => format!("rotation in progress: something still uses the old one (last used {t})"),
            (Rotation::InProgress, None) => "rotation in progress: something still uses the old one".to_string(),
        }
    }
}

/// What rotation verdicts need of a live credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedSibling {
    pub id: i64,
    pub application_id: i64,
    pub kind: CredentialKind,
    pub key_id: String,
    pub display_name: Option<String>,
    /// Its start, or when credwatch first saw it.
    pub appeared: Timestamp,
    pub last_use: LastUse,
}

/// What the live credentials of some applications say of rotations: which credential each was
/// superseded by (by time, [`super::supersession`]) and each verdict the evidence gives
/// ([`rotations`]).
pub fn rotation_policy(siblings: Vec<(Sibling, LastUse)>, now: Timestamp) -> (HashMap<i64, Successor>, HashMap<i64, RotationVerdict>) {
    let (live, uses): (Vec<Sibling>, Vec<LastUse>) = siblings.into_iter().unzip();
    let used: Vec<UsedSibling> = live.iter().zip(uses).map(|(s, u)| UsedSibling::new(s, u)).collect();
    (super::supersession(&live, now), rotations(&used))
}

/// What rotation awareness says of one live credential `c`, given only its *newer* siblings
/// (live, same application and kind, appeared after it) with their last use: its successor by
/// time and the evidence's verdict. The answer [`rotation_policy`] gives it from all the
/// application's credentials, since both look at newer ones only; worked out for this one
/// credential alone, without building the group's tables (the credential API asks it of every
/// row it sends).
pub fn rotation_of(c: (&Sibling, LastUse), newer: &[(Sibling, LastUse)], now: Timestamp) -> (Option<Successor>, Option<RotationVerdict>) {
    let (own, own_use) = c;
    let group = || {
        newer
            .iter()
            .filter(|(n, _)| n.application_id == own.application_id && n.kind == own.kind && n.id != own.id)
    };
    let appeared = |s: &Sibling| s.start_at.unwrap_or(s.first_seen_at);
    // As in [`super::supersession`]: of the candidates, the one that ends last (the last of
    // those that end alike, as `max_by_key` picks).
    let seen_long_enough = now.plus_seconds(-super::SUPERSEDED_AFTER_SECS);
    let successor = group()
        .map(|(d, _)| d)
        .filter(|d| d.end_at > own.end_at && d.end_at > now && appeared(d) > appeared(own) && d.first_seen_at <= seen_long_enough)
        .max_by_key(|d| d.end_at)
        .map(|d| Successor {
            key_id: d.key_id.clone(),
            display_name: d.display_name.clone(),
            end: d.end_at,
            first_seen: d.first_seen_at,
        });
    // As in [`rotations`]: the newest one that appeared after it replaces it.
    let verdict = group()
        .filter(|(n, _)| appeared(n) > appeared(own))
        .max_by_key(|(n, _)| appeared(n))
        .and_then(|(new, new_use)| {
            if !own_use.known() || !new_use.known() {
                return None;
            }
            let since = appeared(new);
            let old_used = own_use.at();
            let rotation = if old_used.is_some_and(|t| t >= since) {
                Rotation::InProgress
            } else if new_use.at().is_some_and(|t| t >= since) {
                Rotation::Complete
            } else {
                return None;
            };
            Some(RotationVerdict {
                rotation,
                newer_key_id: new.key_id.clone(),
                newer_display_name: new.display_name.clone(),
                since,
                last_used: old_used,
            })
        });
    (successor, verdict)
}

impl UsedSibling {
    /// A live credential and its last use.
    pub fn new(s: &Sibling, last_use: LastUse) -> UsedSibling {
        UsedSibling {
            id: s.id,
            application_id: s.application_id,
            kind: s.kind,
            key_id: s.key_id.clone(),
            display_name: s.display_name.clone(),
            appeared: s.start_at.unwrap_or(s.first_seen_at),
            last_use,
        }
    }
}

/// For each live credential of `credentials` (all live credentials of the applications
/// concerned) that has a newer one of the same application and kind, the verdict the evidence
/// gives, if it gives one: the older one used after the newer appeared → in progress; else the
/// newer one used since it appeared → complete. Without usage data on both, no verdict (the
/// time-based supersession applies).
pub fn rotations(credentials: &[UsedSibling]) -> HashMap<i64, RotationVerdict> {
    let mut groups: HashMap<(i64, CredentialKind), Vec<&UsedSibling>> = HashMap::new();
    for c in credentials {
        groups.entry((c.application_id, c.kind)).or_default().push(c);
    }
    let mut out = HashMap::new();
    for group in groups.values().filter(|g| g.len() > 1) {
        for old in group {
            // The newest credential that appeared after this one is the one that replaces it.
            let Some(new) = group
                .iter()
                .filter(|n| n.id != old.id && n.appeared > old.appeared)
                .max_by_key(|n| n.appeared)
            else {
                continue;
            };
            if !old.last_use.known() || !new.last_use.known() {
                continue;
            }
            let since = new.appeared;
            let old_used = old.last_use.at();
            let rotation = if old_used.is_some_and(|t| t >= since) {
                Rotation::InProgress
            } else if new.last_use.at().is_some_and(|t| t >= since) {
                Rotation::Complete
            } else {
                continue;
            };
            out.insert(
                old.id,
                RotationVerdict {
                    rotation,
                    newer_key_id: new.key_id.clone(),
                    newer_display_name: new.display_name.clone(),
                    since,
                    last_used: old_used,
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::parse("2026-06-01T12:00:00Z").unwrap()
    }

    /// Every credential of some groups (two applications, both kinds, three to four credentials
    /// each, mixed usage) gets from its newer siblings alone what the whole group gives it.
    #[test]
    fn rotation_of_one_credential_agrees_with_the_whole_group() {
        let now = now();
        let mut all = Vec::new();
        let uses = [
            LastUse::At(now.plus_days(-1)),
            LastUse::Never,
            LastUse::At(now.plus_days(-40)),
            LastUse::NotRead,
        ];
        for (i, (app, kind)) in [
            (1, CredentialKind::Secret),
            (1, CredentialKind::Certificate),
            (2, CredentialKind::Secret),
        ]
        .into_iter()
        .enumerate()
        {
            for k in 0..(3 + i as i64 % 2) {
                let id = i as i64 * 10 + k;
                let sibling = Sibling {
                    id,
                    application_id: app,
                    kind,
                    key_id: format!("key-{id}"),
                    display_name: None,
                    start_at: (k != 1).then(|| now.plus_days(-300 + 90 * k)),
                    end_at: now.plus_days(30 + 200 * k - 50 * (k % 2)),
                    first_seen_at: now.plus_days(-200 + 80 * k),
                };
                all.push((sibling, uses[(id as usize + i) % uses.len()]));
            }
        }
        let (successors, verdicts) = rotation_policy(all.clone(), now);
        assert!(!successors.is_empty() && !verdicts.is_empty(), "the groups say something");
        let appeared = |s: &Sibling| s.start_at.unwrap_or(s.first_seen_at);
        for (c, last_use) in &all {
            let newer: Vec<(Sibling, LastUse)> = all
                .iter()
                .filter(|(n, _)| n.application_id == c.application_id && n.kind == c.kind && appeared(n) > appeared(c))
                .cloned()
                .collect();
            let (by, verdict) = rotation_of((c, *last_use), &newer, now);
            assert_eq!(by.as_ref(), successors.get(&c.id), "successor of {}", c.key_id);
            assert_eq!(verdict.as_ref(), verdicts.get(&c.id), "verdict on {}", c.key_id);
        }
    }

    #[test]
    fn classification_at_the_active_days_boundary() {
        let now = now();
        let at = |t| Usage::classify(LastUse::At(t), 30, now);
        assert_eq!(at(now.plus_days(-30)), Usage::InUse);
        assert_eq!(at(now.plus_days(-30).plus_seconds(-1)), Usage::Idle);
        assert_eq!(Usage::classify(LastUse::Never, 30, now), Usage::Idle);
        assert_eq!(Usage::classify(LastUse::NotRead, 30, now), Usage::Unknown);
        assert_eq!(Usage::classify(LastUse::Unreadable, 30, now), Usage::Unknown);
    }

    #[test]
    fn needs_action_puts_incidents_first_and_expired_idle_in_cleanup() {
        let now = now();
        let used = |d| LastUse::At(now.plus_days(d));
        let days = ActionDays { active: 30, incident: 7 };
        let incident = Action::of(now.plus_days(-2), used(-3), Usage::InUse, days, now);
        assert_eq!(incident, Action::Incident);
        // Used 8 days before it ended: not within the incident window.
        assert_eq!(Action::of(now.plus_days(-2), used(-10), Usage::InUse, days, now), Action::Expired);
        // Ended 60 days ago, used just before: old news, and idle by now.
        assert_eq!(Action::of(now.plus_days(-60), used(-61), Usage::Idle, days, now), Action::Cleanup);
        assert_eq!(Action::of(now.plus_days(3), used(-1), Usage::InUse, days, now), Action::Rotate);
        assert_eq!(Action::of(now.plus_days(3), LastUse::Never, Usage::Idle, days, now), Action::Delete);
        assert_eq!(
            Action::of(now.plus_days(3), LastUse::NotRead, Usage::Unknown, days, now),
            Action::RotateUnknown
        );
        let mut items = vec![
            (now.plus_days(9), Action::Rotate),
            (now.plus_days(2), Action::Delete),
            (now.plus_days(1), Action::Rotate),
            (now.plus_days(-2), Action::Incident),
        ];
        rank_needs_action(&mut items, |(e, a)| (*e, *a, None));
        assert_eq!(items[0].1, Action::Incident);
        assert_eq!(items[1].0, now.plus_days(1));
        assert_eq!(items[2].0, now.plus_days(9));
        assert_eq!(items[3].1, Action::Delete);
    }

    fn sibling(id: i64, appeared: Timestamp, last_use: LastUse) -> UsedSibling {
        UsedSibling {
            id,
            application_id: 1,
            kind: CredentialKind::Secret,
            key_id: format!("k{id}"),
            display_name: None,
            appeared,
            last_use,
        }
    }

    #[test]
    fn rotation_verdicts_follow_the_evidence() {
        let now = now();
        let d = now.plus_days(-10);
        let old = |u| sibling(1, now.plus_days(-400), u);
        let new = |u| sibling(2, d, u);
        let complete = rotations(&[old(LastUse::At(d.plus_days(-1))), new(LastUse::At(now))]);
        assert_eq!(complete[&1].rotation, Rotation::Complete);
        assert!(!complete.contains_key(&2));
        let progress = rotations(&[old(LastUse::At(d.plus_days(2))), new(LastUse::At(now))]);
        assert_eq!(progress[&1].rotation, Rotation::InProgress);
        assert!(progress[&1].describe().contains("still uses the old one"));
        // Neither used since the newer appeared, or no data: no verdict.
        assert!(rotations(&[old(LastUse::At(d.plus_days(-1))), new(LastUse::Never)]).is_empty());
        assert!(rotations(&[old(LastUse::NotRead), new(LastUse::At(now))]).is_empty());
    }
}
