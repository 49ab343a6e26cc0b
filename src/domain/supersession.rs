//! Rotation awareness: which live credentials were superseded by a newer one of the same
//! application, so a reminder says "remove the old one" instead of "rotate".

use super::{Credential, CredentialKind, Timestamp};
use serde::Serialize;
use std::collections::HashMap;

/// How long a newer credential must have been seen before the older one counts as superseded:
/// long enough that the new one is probably deployed, not just created.
pub const SUPERSEDED_AFTER_SECS: i64 = 86_400;

/// What rotation awareness needs of a live credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sibling {
    /// The store's id of the credential.
    pub id: i64,
    /// The store's id of its application.
    pub application_id: i64,
    pub kind: CredentialKind,
    pub key_id: String,
    pub display_name: Option<String>,
    pub start_at: Option<Timestamp>,
    pub end_at: Timestamp,
    pub first_seen_at: Timestamp,
}

impl From<&Credential> for Sibling {
    fn from(c: &Credential) -> Sibling {
        Sibling {
            id: c.id,
            application_id: c.application_id,
            kind: c.kind,
            key_id: c.key_id.clone(),
            display_name: c.display_name.clone(),
            start_at: c.start_at,
            end_at: c.end_at,
            first_seen_at: c.first_seen_at,
        }
    }
}

/// The newer credential that supersedes another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Successor {
    pub key_id: String,
    pub display_name: Option<String>,
    pub end: Timestamp,
    pub first_seen: Timestamp,
}

/// For each live credential of `credentials` (which must hold *all* live credentials of the
/// applications concerned), the newer one that supersedes it, if any: same application, same
/// kind, started later, ends later, not expired and seen for at least [`SUPERSEDED_AFTER_SECS`].
pub fn supersession(credentials: &[Sibling], now: Timestamp) -> HashMap<i64, Successor> {
    let mut by_app: HashMap<(i64, CredentialKind), Vec<&Sibling>> = HashMap::new();
    for c in credentials {
        by_app.entry((c.application_id, c.kind)).or_default().push(c);
    }
    let started = |c: &Sibling| c.start_at.unwrap_or(c.first_seen_at);
    let seen_long_enough = now.plus_seconds(-SUPERSEDED_AFTER_SECS);
    let mut out = HashMap::new();
    for group in by_app.values().filter(|g| g.len() > 1) {
        for c in group {
            let successor = group
                .iter()
                .filter(|d| {
                    d.id != c.id && d.end_at > c.end_at && d.end_at > now && started(d) > started(c) && d.first_seen_at <= seen_long_enough
                })
                .max_by_key(|d| d.end_at);
            if let Some(d) = successor {
                out.insert(
                    c.id,
                    Successor {
                        key_id: d.key_id.clone(),
                        display_name: d.display_name.clone(),
                        end: d.end_at,
                        first_seen: d.first_seen_at,
                    },
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A secret of application 1: started, ends and first seen at these days from `now`.
    fn secret(id: i64, now: Timestamp, start: i64, end: i64, first_seen: i64) -> Sibling {
        Sibling {
            id,
            application_id: 1,
            kind: CredentialKind::Secret,
            key_id: format!("key-{id}"),
            display_name: None,
            start_at: Some(now.plus_days(start)),
            end_at: now.plus_days(end),
            first_seen_at: now.plus_days(first_seen),
        }
    }

    #[test]
    fn a_newer_credential_of_the_same_kind_supersedes_once_seen_a_day() {
        let now = Timestamp::parse("2026-06-01T12:00:00Z").unwrap();
        let old = secret(1, now, -500, 30, -500);
        let new = secret(2, now, -30, 700, -1);
        let cert = Sibling {
            kind: CredentialKind::Certificate,
            ..secret(3, now, -30, 1000, -30)
        };
        let found = supersession(&[old.clone(), new.clone(), cert], now);
        assert_eq!(found.len(), 1);
        assert_eq!(found[&1].key_id, "key-2");
        assert_eq!(found[&1].end, new.end_at);
        // Seen one tick less than a day: not yet.
        let recent = Sibling {
            first_seen_at: now.plus_days(-1).next(),
            ..new
        };
        assert!(supersession(&[old, recent], now).is_empty());
    }
}
