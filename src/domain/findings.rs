//! Policy findings over the live credentials: what breaks the lifetime policy or needs tidying,
//! whether or not it expires soon.

use super::{Credential, CredentialKind, LastUse, Source, Timestamp};
use chrono::{Datelike, Months};
use serde::Serialize;
use std::collections::HashMap;

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
    /// A credential nothing signed in with for `usage.unused_days` (default 90) or more.
    UnusedCredential,
    /// An application whose credentials never signed in, as far as the activity reports go,
    /// though its oldest credential is `usage.unused_days` old.
    NeverSignedIn,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::ExpiredPresent => "expired_present",
            FindingKind::NeverExpires => "never_expires",
            FindingKind::LongLived => "long_lived",
            FindingKind::SeveralSecrets => "several_secrets",
            FindingKind::NoOwner => "no_owner",
            FindingKind::UnusedCredential => "unused_credential",
            FindingKind::NeverSignedIn => "never_signed_in",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            FindingKind::ExpiredPresent => "Expired but still present",
            FindingKind::NeverExpires => "Never expires (year 2299 or 9999)",
            FindingKind::LongLived => "Valid for more than 24 months",
            FindingKind::SeveralSecrets => "Several live secrets on one application",
            FindingKind::NoOwner => "Application without an owner",
            FindingKind::UnusedCredential => "Unused credential",
            FindingKind::NeverSignedIn => "Application never signed in",
        }
    }

    pub const ALL: [FindingKind; 7] = [
        FindingKind::ExpiredPresent,
        FindingKind::NeverExpires,
        FindingKind::LongLived,
        FindingKind::SeveralSecrets,
        FindingKind::NoOwner,
        FindingKind::UnusedCredential,
        FindingKind::NeverSignedIn,
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
    pub end: Option<Timestamp>,
    /// In words, e.g. "valid for 36 months", "3 live secrets".
    pub detail: String,
}

/// What the usage findings need: `usage.unused_days`, and the applications (store ids) that the
/// last complete read of the activity reports shows no sign-in for.
#[derive(Debug, Clone, Default)]
pub struct UsageFindings {
    pub unused_days: i64,
    pub never_signed_in: std::collections::HashSet<i64>,
}

/// The policy findings over every live credential.
pub fn findings(credentials: &[Credential], now: Timestamp) -> Vec<Finding> {
    findings_with_usage(credentials, None, now)
}

/// [`findings`], and with `usage` the usage findings: credentials unused for `unused_days`
/// (last used that long ago, or never and created that long ago), and applications never
/// signed in.
pub fn findings_with_usage(credentials: &[Credential], usage: Option<&UsageFindings>, now: Timestamp) -> Vec<Finding> {
    let mut out = Vec::new();
    let finding = |kind, c: &Credential, per_credential: bool, detail: String| Finding {
        kind,
        environment: c.environment.clone(),
        app_object_id: c.app_object_id.clone(),
        app_id: c.app_id.clone(),
        app_display_name: c.app_display_name.clone(),
        source: c.app_source,
        credential_kind: per_credential.then_some(c.kind),
        key_id: per_credential.then(|| c.key_id.clone()),
        credential_name: if per_credential { c.display_name.clone() } else { None },
        end: per_credential.then_some(c.end_at),
        detail,
    };
    let live: Vec<&Credential> = credentials.iter().filter(|c| c.is_live()).collect();
    for c in &live {
        let end = c.end_at.to_datetime();
        if c.expired(now) {
            out.push(finding(
                FindingKind::ExpiredPresent,
                c,
                true,
                format!("expired {} days ago", now.ticks_since(c.end_at) / Timestamp::TICKS_PER_DAY),
            ));
        }
        if let Some(u) = usage {
            let cutoff = now.plus_days(-u.unused_days);
            let days_since = |t: Timestamp| now.ticks_since(t) / Timestamp::TICKS_PER_DAY;
            let appeared = c.start_at.unwrap_or(c.first_seen_at);
            match c.last_use {
                LastUse::At(t) if t < cutoff => out.push(finding(
                    FindingKind::UnusedCredential,
                    c,
                    true,
                    format!("last used {} days ago", days_since(t)),
                )),
                LastUse::Never if appeared < cutoff => out.push(finding(
                    FindingKind::UnusedCredential,
                    c,
                    true,
                    format!("no recorded sign-in; created {} days ago", days_since(appeared)),
                )),
                _ => {}
            }
        }
        if end.year() >= 2299 {
            out.push(finding(
                FindingKind::NeverExpires,
                c,
                true,
                format!("ends {}", end.format("%Y-%m-%d")),
            ));
        } else if let Some(start) = c.start_at.map(Timestamp::to_datetime)
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
    let mut by_app: HashMap<i64, Vec<&Credential>> = HashMap::new();
    for c in &live {
        by_app.entry(c.application_id).or_default().push(c);
    }
    for (_, app) in apps {
        let creds = &by_app[&app];
        let first = creds[0];
        let secrets = creds.iter().filter(|c| c.kind == CredentialKind::Secret && !c.expired(now)).count();
        if secrets > 1 {
            out.push(finding(
                FindingKind::SeveralSecrets,
                first,
                false,
                format!("{secrets} live secrets"),
            ));
        }
        if first.app_owners.as_ref().is_some_and(|o| o.is_empty()) {
            out.push(finding(FindingKind::NoOwner, first, false, "no owner".into()));
        }
        // Like an unused credential: only once its oldest credential is `unused_days` old. An
        // application set up last week has had no chance to sign in yet.
        let oldest = creds.iter().map(|c| c.start_at.unwrap_or(c.first_seen_at)).min();
        if let Some(u) = usage
            && u.never_signed_in.contains(&app)
            && let Some(oldest) = oldest.filter(|t| *t < now.plus_days(-u.unused_days))
        {
            out.push(finding(
                FindingKind::NeverSignedIn,
                first,
                false,
                format!(
                    "no sign-in in the activity reports, with credentials for {} days: is it still needed?",
                    now.ticks_since(oldest) / Timestamp::TICKS_PER_DAY
                ),
            ));
        }
    }
    out.sort_by(|a, b| {
        (a.kind, &a.environment, &a.app_display_name, &a.key_id).cmp(&(b.kind, &b.environment, &b.app_display_name, &b.key_id))
    });
    out
}
