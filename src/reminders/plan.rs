//! Who gets what, decided without IO: the ladder applied to every live credential, for every
//! recipient, against the ledger of what each recipient already got.
//!
//! Decisions are per (credential, recipient): a recipient whose digest was refused is planned
//! again next run, while the ones who got theirs are not sent it twice. A recipient added to the
//! config later gets, once, the most urgent rung each credential has crossed.

use crate::config::Config;
use crate::domain::{
    Credential, Exclusions, IdleReminders, Ladder, RotationVerdict, Rung, Successor, Timestamp, Usage, notes_contacts, owner_contacts,
};
use crate::store::ReminderRow;
use lettre::message::Mailbox;
use std::collections::{BTreeMap, HashMap};

/// The address a ledger row names: the bare address, lower-cased, so `Ops <OPS@example.com>` and
/// `ops@example.com` are one recipient.
pub fn recipient_key(mailbox: &Mailbox) -> String {
    mailbox.email.to_string().to_ascii_lowercase()
}

/// Where a digest goes: an e-mail address or a configured webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    Email(Mailbox),
    /// A `[[webhooks]]` entry, by name.
    Webhook(String),
}

impl Recipient {
    /// The recipient as the ledger stores it: the lower-cased address, or `webhook:{name}`
    /// (which no e-mail address can be, having no `@`).
    pub fn key(&self) -> String {
        match self {
            Recipient::Email(m) => recipient_key(m),
            Recipient::Webhook(name) => format!("webhook:{name}"),
        }
    }
}

impl std::fmt::Display for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recipient::Email(m) => write!(f, "{m}"),
            Recipient::Webhook(name) => write!(f, "webhook {name}"),
        }
    }
}

/// Who receives which reminders: `[email].to` everything, each environment's `notify` its own,
/// with `notify_owners` each application's owners and note contacts its own, and each webhook
/// the environments it names (all by default).
#[derive(Debug, Clone, Default)]
pub struct Recipients {
    pub all: Vec<Mailbox>,
    pub by_environment: HashMap<String, Vec<Mailbox>>,
    /// Environments with `notify_owners = true`.
    pub owners_notified: std::collections::HashSet<String>,
    /// Webhook name and its environments (empty: all).
    pub webhooks: Vec<(String, Vec<String>)>,
}

impl Recipients {
    pub fn from_config(config: &Config) -> Recipients {
        Recipients {
            all: config.email.to.clone(),
            by_environment: config.environments.iter().map(|e| (e.name.clone(), e.notify.clone())).collect(),
            owners_notified: config
                .environments
                .iter()
                .filter(|e| e.notify_owners)
                .map(|e| e.name.clone())
                .collect(),
            webhooks: config.webhooks.iter().map(|w| (w.name.clone(), w.environments.clone())).collect(),
        }
    }

    /// The recipients of one environment's reminders, each address once.
    pub fn for_environment(&self, environment: &str) -> Vec<&Mailbox> {
        let mut seen = std::collections::HashSet::new();
        self.all
            .iter()
            .chain(self.by_environment.get(environment).into_iter().flatten())
            .filter(|m| seen.insert(recipient_key(m)))
            .collect()
    }

    /// Everyone who receives this credential's reminders, each once: the environment's
    /// addresses, then (with `notify_owners`) the app's owners and note contacts, then webhooks.
    pub fn for_credential(&self, c: &Credential) -> Vec<Recipient> {
        let mut seen = std::collections::HashSet::new();
        let mut out: Vec<Recipient> = Vec::new();
        let mut add = |r: Recipient| {
            if seen.insert(r.key()) {
                out.push(r);
            }
        };
        for m in self.for_environment(&c.environment) {
            add(Recipient::Email(m.clone()));
        }
        // "Not mine": the owners said so, so the environment's own list takes over.
        if self.owners_notified.contains(&c.environment) && c.attention.owner_disputed.is_none() {
            let owners = c.app_owners.as_deref().map(owner_contacts).unwrap_or_default();
            let notes = c.app_notes.as_deref().map(notes_contacts).unwrap_or_default();
            for address in owners.into_iter().chain(notes) {
                add(Recipient::Email(Mailbox::from(address)));
            }
        }
        for (name, envs) in &self.webhooks {
            if envs.is_empty() || envs.contains(&c.environment) {
                add(Recipient::Webhook(name.clone()));
            }
        }
        out
    }
}

/// The rungs already recorded (sent or skipped) per (credential, recipient).
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    recorded: HashMap<(i64, String), Vec<Rung>>,
}

impl Ledger {
    pub fn new(rows: &[ReminderRow]) -> Ledger {
        let mut recorded: HashMap<(i64, String), Vec<Rung>> = HashMap::new();
        for row in rows {
            recorded
                .entry((row.credential_id, row.recipient.clone()))
                .or_default()
                .push(row.rung());
        }
        Ledger { recorded }
    }

    /// What `recipient` already has for `credential`. Rows with an empty recipient (a skip
    /// recorded for everyone) count for every recipient.
    fn recorded(&self, credential: i64, recipient: &str) -> Vec<Rung> {
        let mut rungs = self.recorded.get(&(credential, recipient.to_string())).cloned().unwrap_or_default();
        rungs.extend(self.recorded.get(&(credential, String::new())).into_iter().flatten());
        rungs
    }
}

/// One credential in one recipient's digest.
#[derive(Debug, Clone)]
pub struct PlannedItem {
    pub credential: Credential,
    /// The rung this reminder is for.
    pub rung: Rung,
    /// Less urgent rungs crossed while credwatch was not running: recorded as skipped together
    /// with the sent one, never sent.
    pub skip: Vec<Rung>,
    /// The newer credential of the same app and kind that replaced this one: the reminder then
    /// says to remove this one once nothing uses it, not to rotate it.
    pub superseded_by: Option<Successor>,
    /// What the sign-in evidence says of a rotation away from it.
    pub rotation: Option<RotationVerdict>,
    /// In use, idle or unknown when planned.
    pub usage: Usage,
}

impl PlannedItem {
    pub fn expired(&self, now: Timestamp) -> bool {
        self.credential.expired(now)
    }
}

/// One recipient's digest: the items, most urgent (earliest end) first.
#[derive(Debug, Clone)]
pub struct Digest {
    pub recipient: Recipient,
    /// [`recipient_key`] of `recipient`, as the ledger stores it.
    pub key: String,
    pub items: Vec<PlannedItem>,
}

/// The items of one environment in a digest.
#[derive(Debug)]
pub struct EnvironmentGroup<'a> {
    pub environment: &'a str,
    pub items: Vec<&'a PlannedItem>,
}

impl Digest {
    /// The items grouped by environment; groups ordered by their most urgent item, items within
    /// a group by end.
    pub fn groups(&self) -> Vec<EnvironmentGroup<'_>> {
        let mut groups: Vec<EnvironmentGroup<'_>> = Vec::new();
        for item in &self.items {
            match groups.iter_mut().find(|g| g.environment == item.credential.environment) {
                Some(g) => g.items.push(item),
                None => groups.push(EnvironmentGroup {
                    environment: &item.credential.environment,
                    items: vec![item],
                }),
            }
        }
        groups
    }

    /// The environments in this digest, by name.
    pub fn environments(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.items.iter().map(|i| i.credential.environment.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// (credential, rung) pairs to record as sent once this digest was accepted.
    pub fn sent_rows(&self) -> Vec<(i64, Rung)> {
        self.items.iter().map(|i| (i.credential.id, i.rung)).collect()
    }

    /// (credential, rung) pairs to record as skipped once this digest was accepted.
    pub fn skipped_rows(&self) -> Vec<(i64, Rung)> {
        self.items
            .iter()
            .flat_map(|i| i.skip.iter().map(move |r| (i.credential.id, *r)))
            .collect()
    }
}

/// Every digest of one run, ordered by recipient.
#[derive(Debug, Clone)]
pub struct Plan {
    pub now: Timestamp,
    pub digests: Vec<Digest>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Reminders in the plan, counting one per (credential, recipient).
    pub fn reminders(&self) -> usize {
        self.digests.iter().map(|d| d.items.len()).sum()
    }
}

/// What the planner needs besides credentials, ledger and recipients.
#[derive(Debug, Clone, Default)]
pub struct Rules<'a> {
    /// Excluded credentials get no reminder at all (and nothing is recorded for them).
    pub exclusions: Option<&'a Exclusions>,
    /// Superseded credentials, by id (see [`crate::domain::supersession`]).
    pub successors: Option<&'a HashMap<i64, Successor>>,
    /// Rotation verdicts of the sign-in evidence, by id (see [`crate::domain::rotations`]).
    pub rotations: Option<&'a HashMap<i64, RotationVerdict>>,
    /// `usage.active_days` and `usage.idle_reminders`: idle credentials get a cleanup notice
    /// instead of the ladder. Without it every credential follows the ladder.
    pub usage: Option<(i64, IdleReminders)>,
    /// `status.critical_days`: acknowledged and snoozed credentials are held back (see
    /// [`crate::domain::Attention::pause`]). Without it they are reminded like any other.
    pub critical_days: Option<i64>,
}

/// Applies the ladder to `credentials` for every recipient of each.
pub fn plan(credentials: &[Credential], ledger: &Ledger, recipients: &Recipients, ladder: &Ladder, now: Timestamp) -> Plan {
    plan_with(credentials, ledger, recipients, ladder, &Rules::default(), now)
}

/// [`plan`] with exclusions and rotation awareness.
pub fn plan_with(
    credentials: &[Credential],
    ledger: &Ledger,
    recipients: &Recipients,
    ladder: &Ladder,
    rules: &Rules,
    now: Timestamp,
) -> Plan {
    let mut digests: BTreeMap<String, Digest> = BTreeMap::new();
    for credential in credentials.iter().filter(|c| c.is_live()) {
        if rules.exclusions.is_some_and(|x| x.find(credential, now).is_some()) {
            continue;
        }
        // Held back for every recipient; the rungs crossed meanwhile are neither sent nor
        // skipped, so on resuming the ladder sends the most urgent one, once.
        if let Some(critical_days) = rules.critical_days
            && credential.attention.pause(credential.end_at, critical_days, now).is_some()
        {
            continue;
        }
        let rotation = rules.rotations.and_then(|r| r.get(&credential.id)).cloned();
        // The evidence replaces the time-based guess: in progress means the old one is needed.
        let superseded_by = match &rotation {
            Some(v) if v.rotation == crate::domain::Rotation::InProgress => None,
            _ => rules.successors.and_then(|s| s.get(&credential.id)).cloned(),
        };
        let (usage, idle) = match rules.usage {
            Some((active_days, idle)) => (credential.usage(active_days, now), idle),
            None => (Usage::Unknown, IdleReminders::Ladder),
        };
        for recipient in recipients.for_credential(credential) {
            let key = recipient.key();
            let decision = ladder.decide_for(credential.end_at, now, &ledger.recorded(credential.id, &key), usage, idle);
            let Some(rung) = decision.send else { continue };
            digests
                .entry(key.clone())
                .or_insert_with(|| Digest {
                    recipient,
                    key,
                    items: Vec::new(),
                })
                .items
                .push(PlannedItem {
                    credential: credential.clone(),
                    rung,
                    skip: decision.skip,
                    superseded_by: superseded_by.clone(),
                    rotation: rotation.clone(),
                    usage,
                });
        }
    }
    let mut digests: Vec<Digest> = digests.into_values().collect();
    for d in &mut digests {
        d.items.sort_by(|a, b| {
            let (a, b) = (&a.credential, &b.credential);
            (a.end_at, &a.environment, &a.app_display_name, &a.key_id).cmp(&(b.end_at, &b.environment, &b.app_display_name, &b.key_id))
        });
    }
    Plan { now, digests }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(id: i64, env: &str, end: Timestamp) -> Credential {
        Credential::sample(id, env, end)
    }

    fn mb(s: &str) -> Mailbox {
        s.parse().unwrap()
    }

    #[test]
    fn recipients_get_their_environments_and_skips_follow_the_ledger() {
        let now = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
        let creds = vec![
            credential(1, "prod", now.plus_days(10)),
            credential(2, "test", now.plus_days(-1)),
            credential(3, "prod", now.plus_days(100)),
        ];
        let recipients = Recipients {
            all: vec![mb("Ops <OPS@example.com>")],
            by_environment: [("prod".to_string(), vec![mb("oncall@example.com"), mb("ops@example.com")])].into(),
            ..Default::default()
        };
        let ladder = Ladder::new(vec![60, 30, 14, 7, 1], true);
        let p = plan(&creds, &Ledger::default(), &recipients, &ladder, now);
        assert_eq!(p.digests.len(), 2);
        let ops = &p.digests[1];
        assert_eq!(ops.key, "ops@example.com");
        assert_eq!(
            ops.items.iter().map(|i| (i.credential.id, i.rung)).collect::<Vec<_>>(),
            vec![(2, Rung::Expired), (1, Rung::DaysBefore(14))]
        );
        assert_eq!(ops.items[1].skip, vec![Rung::DaysBefore(30), Rung::DaysBefore(60)]);
        assert_eq!(p.digests[0].key, "oncall@example.com");
        assert_eq!(p.digests[0].items.len(), 1);

        let rows: Vec<ReminderRow> = [(1, 14), (1, 30), (1, 60), (2, -1)]
            .iter()
            .map(|&(c, r)| ReminderRow {
                credential_id: c,
                rung: r,
                recipient: "ops@example.com".into(),
                outcome: "sent".into(),
                decided_at: Timestamp::UNIX_EPOCH,
            })
            .collect();
        let p = plan(&creds, &Ledger::new(&rows), &recipients, &ladder, now);
        assert_eq!(p.digests.len(), 1, "ops has everything; on-call still gets its reminder");
        assert_eq!(p.digests[0].key, "oncall@example.com");
    }
}
