//! Rules over stored credentials, without IO: which credentials are excluded from reminders (and
//! why), which were superseded by a newer one, which break the lifetime policy, and which extra
//! contacts an application names for itself. The dashboard, the API and the reminder planner
//! all ask these same functions, so they never disagree.

use crate::domain::{CredentialKind, Owner, Source};
use crate::store::{CredentialView, Sibling};
use chrono::{DateTime, Months, NaiveDate, Utc};
use lettre::message::Mailbox;
use serde::Serialize;
use std::collections::HashMap;

/// A case-insensitive glob: `*` any run of characters, `?` exactly one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        Glob(pattern.to_lowercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, text: &str) -> bool {
        let p: Vec<char> = self.0.chars().collect();
        let t: Vec<char> = text.to_lowercase().chars().collect();
        // Iterative matching with one backtrack point: linear in practice, no recursion.
        let (mut pi, mut ti) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
                pi += 1;
                ti += 1;
            } else if pi < p.len() && p[pi] == '*' {
                star = Some((pi, ti));
                pi += 1;
            } else if let Some((sp, st)) = star {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&c| c == '*')
    }
}

/// One exclusion rule: every criterion it names must match. It silences reminders, never hides
/// a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExclusionRule {
    /// `exclusions[i].name`, or the built-in rule's name.
    pub name: String,
    pub builtin: bool,
    pub environment: Option<String>,
    pub app_id: Option<String>,
    #[serde(serialize_with = "ser_glob")]
    pub app_name: Option<Glob>,
    #[serde(serialize_with = "ser_glob")]
    pub credential_name: Option<Glob>,
    pub tag: Option<String>,
    pub reason: String,
    /// The last day (UTC) the rule applies; from the next day on it no longer does.
    pub until: Option<NaiveDate>,
}

fn ser_glob<S: serde::Serializer>(g: &Option<Glob>, s: S) -> Result<S::Ok, S::Error> {
    match g {
        Some(g) => s.serialize_some(g.as_str()),
        None => s.serialize_none(),
    }
}

impl ExclusionRule {
    /// True while the rule is in force at `now`.
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|u| now.date_naive() <= u)
    }

    pub fn matches(&self, c: &CredentialView) -> bool {
        self.environment.as_ref().is_none_or(|e| *e == c.environment)
            && self.app_id.as_ref().is_none_or(|a| a.eq_ignore_ascii_case(&c.app_id))
            && self
                .app_name
                .as_ref()
                .is_none_or(|g| g.matches(c.app_display_name.as_deref().unwrap_or("")))
            && self
                .credential_name
                .as_ref()
                .is_none_or(|g| g.matches(c.display_name.as_deref().unwrap_or("")))
            && self.tag.as_ref().is_none_or(|t| c.tags().iter().any(|x| x.eq_ignore_ascii_case(t)))
    }
}

/// The built-in rules, for credentials that renew themselves; each can be turned off by name
/// (`reminders.builtin_exclusions`) or replaced by a configured rule of the same name.
pub fn builtin_exclusions() -> Vec<ExclusionRule> {
    let rule = |name: &str, app_name: Option<&str>, credential_name: Option<&str>, reason: &str| ExclusionRule {
        name: name.into(),
        builtin: true,
        environment: None,
        app_id: None,
        app_name: app_name.map(Glob::new),
        credential_name: credential_name.map(Glob::new),
        tag: None,
        reason: reason.into(),
        until: None,
    };
    vec![
        rule(
            "application-proxy",
            None,
            Some("CWAP_AuthSecret"),
            "Microsoft Entra application proxy adds and rotates its CWAP_AuthSecret secrets itself",
        ),
        rule(
            "connect-sync-provisioning",
            Some("ConnectSyncProvisioning*"),
            None,
            "Microsoft Entra Connect rotates the credentials of its ConnectSyncProvisioning application itself",
        ),
    ]
}

/// The names of the built-in rules.
pub fn builtin_names() -> Vec<String> {
    builtin_exclusions().into_iter().map(|r| r.name).collect()
}

/// Every rule in force: configured ones first, then the built-ins kept.
#[derive(Debug, Clone, Default)]
pub struct Exclusions {
    pub rules: Vec<ExclusionRule>,
}

impl Exclusions {
    /// The first rule in force at `now` that matches `c`.
    pub fn find(&self, c: &CredentialView, now: DateTime<Utc>) -> Option<&ExclusionRule> {
        self.rules.iter().find(|r| r.active(now) && r.matches(c))
    }
}

/// How long a newer credential must have been seen before the older one counts as superseded:
/// long enough that the new one is probably deployed, not just created.
pub const SUPERSEDED_AFTER_SECS: i64 = 86_400;

/// The newer credential that supersedes another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Successor {
    pub key_id: String,
    pub display_name: Option<String>,
    pub end: DateTime<Utc>,
    pub first_seen: DateTime<Utc>,
}

/// For each live credential of `credentials` (which must hold *all* live credentials of the
/// applications concerned), the newer one that supersedes it, if any: same application, same
/// kind, started later, ends later, not expired and seen for at least [`SUPERSEDED_AFTER_SECS`].
pub fn supersession(credentials: &[Sibling], now: DateTime<Utc>) -> HashMap<i64, Successor> {
    let mut by_app: HashMap<(i64, &str), Vec<&Sibling>> = HashMap::new();
    for c in credentials {
        by_app.entry((c.application_id, c.kind.as_str())).or_default().push(c);
    }
    let started = |c: &Sibling| c.start_at.unwrap_or(c.first_seen_at);
    let mut out = HashMap::new();
    for group in by_app.values().filter(|g| g.len() > 1) {
        for c in group {
            let successor = group
                .iter()
                .filter(|d| {
                    d.id != c.id
                        && d.end_at > c.end_at
                        && d.end_at > now.timestamp()
                        && started(d) > started(c)
                        && d.first_seen_at <= now.timestamp() - SUPERSEDED_AFTER_SECS
                })
                .max_by_key(|d| d.end_at);
            if let Some(d) = successor {
                out.insert(
                    c.id,
                    Successor {
                        key_id: d.key_id.clone(),
                        display_name: d.display_name.clone(),
                        end: DateTime::from_timestamp(d.end_at, 0).unwrap_or(DateTime::<Utc>::MAX_UTC),
                        first_seen: DateTime::from_timestamp(d.first_seen_at, 0).unwrap_or(now),
                    },
                );
            }
        }
    }
    out
}

/// A policy finding's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// Still present after its end: it no longer works and only clutters (or hides a broken app).
    ExpiredPresent,
    /// Ends in year 2299 or 9999: "never expires", the portal no longer allows it.
    NeverExpires,
    /// Valid for more than 24 months from its start: longer than the portal allows for secrets.
    LongLived,
    /// An application with more than one live (unexpired) secret.
    SeveralSecrets,
    /// An application (or enterprise application) with no owner.
    NoOwner,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::ExpiredPresent => "expired_present",
            FindingKind::NeverExpires => "never_expires",
            FindingKind::LongLived => "long_lived",
            FindingKind::SeveralSecrets => "several_secrets",
            FindingKind::NoOwner => "no_owner",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            FindingKind::ExpiredPresent => "Expired but still present",
            FindingKind::NeverExpires => "Never expires (year 2299 or 9999)",
            FindingKind::LongLived => "Valid for more than 24 months",
            FindingKind::SeveralSecrets => "Several live secrets on one application",
            FindingKind::NoOwner => "Application without an owner",
        }
    }

    pub const ALL: [FindingKind; 5] = [
        FindingKind::ExpiredPresent,
        FindingKind::NeverExpires,
        FindingKind::LongLived,
        FindingKind::SeveralSecrets,
        FindingKind::NoOwner,
    ];
}

/// One finding: about a credential, or (several secrets, no owner) about an application, then
/// `credential` is the first of its credentials and `key_id` is None.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub environment: String,
    pub app_object_id: String,
    pub app_id: String,
    pub app_display_name: Option<String>,
    pub source: Source,
    pub credential_kind: Option<CredentialKind>,
    pub key_id: Option<String>,
    pub credential_name: Option<String>,
    pub end: Option<DateTime<Utc>>,
    /// In words, e.g. "valid for 36 months", "3 live secrets".
    pub detail: String,
}

/// The policy findings over every live credential.
pub fn findings(credentials: &[CredentialView], now: DateTime<Utc>) -> Vec<Finding> {
    let mut out = Vec::new();
    let finding = |kind, c: &CredentialView, per_credential: bool, detail: String| Finding {
        kind,
        environment: c.environment.clone(),
        app_object_id: c.app_object_id.clone(),
        app_id: c.app_id.clone(),
        app_display_name: c.app_display_name.clone(),
        source: c.source(),
        credential_kind: per_credential.then(|| c.kind()),
        key_id: per_credential.then(|| c.key_id.clone()),
        credential_name: if per_credential { c.display_name.clone() } else { None },
        end: per_credential.then(|| c.end()),
        detail,
    };
    let live: Vec<&CredentialView> = credentials.iter().filter(|c| c.removed_at.is_none()).collect();
    for c in &live {
        let end = c.end();
        if end <= now {
            out.push(finding(
                FindingKind::ExpiredPresent,
                c,
                true,
                format!("expired {} days ago", (now - end).num_days()),
            ));
        }
        if chrono::Datelike::year(&end) >= 2299 {
            out.push(finding(
                FindingKind::NeverExpires,
                c,
                true,
                format!("ends {}", end.format("%Y-%m-%d")),
            ));
        } else if let Some(start) = c.start()
            && start.checked_add_months(Months::new(24)).is_some_and(|limit| end > limit)
        {
            let months = (end - start).num_days() * 12 / 365;
            out.push(finding(FindingKind::LongLived, c, true, format!("valid for about {months} months")));
        }
    }
    // Per application, in a stable order.
    let mut apps: Vec<(&str, i64)> = live.iter().map(|c| (c.environment.as_str(), c.application_id)).collect();
    apps.sort_unstable();
    apps.dedup();
    let mut by_app: HashMap<i64, Vec<&CredentialView>> = HashMap::new();
    for c in &live {
        by_app.entry(c.application_id).or_default().push(c);
    }
    for (_, app) in apps {
        let creds = &by_app[&app];
        let first = creds[0];
        let secrets = creds.iter().filter(|c| c.kind() == CredentialKind::Secret && c.end() > now).count();
        if secrets > 1 {
            out.push(finding(
                FindingKind::SeveralSecrets,
                first,
                false,
                format!("{secrets} live secrets"),
            ));
        }
        if first.owners().is_some_and(|o| o.is_empty()) {
            out.push(finding(FindingKind::NoOwner, first, false, "no owner".into()));
        }
    }
    out.sort_by(|a, b| {
        (a.kind, &a.environment, &a.app_display_name, &a.key_id).cmp(&(b.kind, &b.environment, &b.app_display_name, &b.key_id))
    });
    out
}

/// The addresses an application's notes name for its reminders: `credwatch-notify:` followed by
/// comma- (or semicolon-) separated addresses, on one line. Anything that is not a plain
/// address is ignored; at most 10 are taken.
pub fn notes_contacts(notes: &str) -> Vec<Mailbox> {
    let mut out = Vec::new();
    for line in notes.lines() {
        let line = line.trim();
        let Some(idx) = line.to_ascii_lowercase().find("credwatch-notify:") else {
            continue;
        };
        for part in line[idx + "credwatch-notify:".len()..].split([',', ';', ' ']) {
            let part = part.trim();
            if let Some(mb) = plain_address(part) {
                out.push(mb);
            }
        }
    }
    out.truncate(10);
    out
}

/// A bare `local@domain` address with a dotted domain, nothing else (no display name, no
/// route, no control characters): text from the directory chooses no headers.
pub fn plain_address(s: &str) -> Option<Mailbox> {
    if s.is_empty()
        || s.len() > 254
        || !s.is_ascii()
        || s.chars()
            .any(|c| c.is_ascii_control() || c.is_whitespace() || "<>\"(),;:[]\\".contains(c))
    {
        return None;
    }
    let (local, domain) = s.rsplit_once('@')?;
    if local.is_empty() || !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
        return None;
    }
    s.parse::<Mailbox>().ok().filter(|m| m.name.is_none())
}

/// The owners' mail addresses (users with a `mail`).
pub fn owner_contacts(owners: &[Owner]) -> Vec<Mailbox> {
    owners
        .iter()
        .filter_map(|o| o.mail.as_deref().and_then(|m| plain_address(m.trim())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_case_insensitively() {
        assert!(Glob::new("ConnectSyncProvisioning*").matches("connectsyncprovisioning_server1_abc"));
        assert!(Glob::new("*-dev").matches("payroll-api-dev"));
        assert!(!Glob::new("*-dev").matches("payroll-api-prod"));
        assert!(Glob::new("a?c").matches("abc"));
        assert!(Glob::new("*a*b*c*").matches("xxaxxbxxcxx"));
        assert!(!Glob::new("*a*b*c*d").matches("xxaxxbxxcxx"));
        assert!(Glob::new("exact").matches("EXACT"));
    }

    #[test]
    fn notes_contacts_take_only_plain_addresses() {
        let notes = "Owner team: payments\ncredwatch-notify: a@example.com, B@Example.org;junk, c@x.com\r\nBcc: x@y.com, <c@d.com>, \"n\" <e@f.com>, g@localhost\nCREDWATCH-NOTIFY: h@example.net";
        let got: Vec<String> = notes_contacts(notes).iter().map(|m| m.email.to_string()).collect();
        assert_eq!(got, vec!["a@example.com", "B@Example.org", "c@x.com", "h@example.net"]);
        assert!(notes_contacts("nothing here").is_empty());
        assert!(plain_address("a@b.com\r\nBcc: c@d.com").is_none());
    }
}
