//! Exclusion rules: which credentials get no reminder (and why). A rule silences reminders, it
//! never hides a credential.

use super::{Credential, Timestamp};
use chrono::NaiveDate;
use serde::Serialize;

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
        // Most texts differ from the pattern's literal start (every credential is asked against
        // the built-in rules on every answer): tell so without allocating. Only ASCII on both
        // sides is decided here; other characters can lowercase to ASCII (the Kelvin sign to k).
        let literal = self.0.bytes().take_while(|b| *b != b'*' && *b != b'?');
        for (p, t) in literal.zip(text.bytes().map(Some).chain(std::iter::repeat(None))) {
            match t {
                Some(t) if p.is_ascii() && t.is_ascii() => {
                    if p != t.to_ascii_lowercase() {
                        return false;
                    }
                }
                _ => break,
            }
        }
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

/// One exclusion rule: every criterion it names must match.
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
    pub fn active(&self, now: Timestamp) -> bool {
        self.until.is_none_or(|u| now.naive_utc().date() <= u)
    }

    pub fn matches(&self, c: &Credential) -> bool {
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
            && self
                .tag
                .as_ref()
                .is_none_or(|t| c.app_tags.iter().any(|x| x.eq_ignore_ascii_case(t)))
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
    pub fn find(&self, c: &Credential, now: Timestamp) -> Option<&ExclusionRule> {
        self.rules.iter().find(|r| r.active(now) && r.matches(c))
    }
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
    fn a_rule_ends_after_its_last_day() {
        let rule = ExclusionRule {
            until: NaiveDate::from_ymd_opt(2026, 3, 31),
            ..builtin_exclusions().remove(0)
        };
        assert!(rule.active(Timestamp::parse("2026-03-31T23:59:59.9999999Z").unwrap()));
        assert!(!rule.active(Timestamp::parse("2026-04-01T00:00:00Z").unwrap()));
    }
}
