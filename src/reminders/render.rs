//! A digest as words: the subject line and the plain-text and HTML bodies (askama templates in
//! `templates/email/`). Every name from Graph passes through [`clean`] first, so none can break
//! a header or forge a line; the HTML template escapes on top of that.

use super::plan::{Digest, PlannedItem};
use crate::domain::{
    CredentialKind, LINK_VALID_DAYS, LinkAction, LinkClaims, LinkSigner, Rotation, Rung, Source, Timestamp, Usage, clean, credwatch_link,
};
use askama::Template;
use url::Url;

/// One credential of a digest, ready to print.
#[derive(Debug, Clone)]
pub struct Line {
    pub app: String,
    pub app_id: String,
    pub environment: String,
    pub kind: &'static str,
    pub name: String,
    /// `abc…` for a secret with a hint, empty otherwise.
    pub hint: String,
    pub key_id: String,
    /// `2026-03-15 12:00 UTC`
    pub end: String,
    pub days_left: i64,
    /// `expired 3 days ago`, `5 days left`, …
    pub when: String,
    pub expired: bool,
    /// Which reminder this is: `expiry notice`, `7-day reminder`.
    pub reminder: String,
    pub portal_link: String,
    pub credwatch_link: String,
    /// `app registration` or `enterprise application`.
    pub source_label: &'static str,
    /// The newer credential that replaced this one, in words, when it was superseded.
    pub superseded: Option<String>,
    /// What to do: rotate it, or (superseded) remove the old one once nothing uses it.
    pub action: String,
    /// When it was last used: `last used 2026-03-01 08:00 UTC (in use)`, `never used`, or
    /// `usage unknown`.
    pub last_used: String,
    /// The rotation verdict of the sign-in evidence, in words.
    pub rotation: Option<String>,
    /// Who is on it, in words: an acknowledgement the reminders resumed after, a disputed owner.
    pub attention: Vec<String>,
    /// Signed links acting on this credential for this digest's recipient (none without a
    /// signer, e.g. in a dry run).
    pub actions: Vec<ActionLink>,
}

/// One signed action link of a line.
#[derive(Debug, Clone)]
pub struct ActionLink {
    pub label: &'static str,
    pub url: String,
}

/// Signs the action links of `item` for `recipient` (a ledger key), each with its own random id.
fn action_links(item: &PlannedItem, recipient: &str, signer: &LinkSigner, dashboard: &str, now: Timestamp) -> Vec<ActionLink> {
    use base64::Engine;
    LinkAction::ALL
        .into_iter()
        // An expired credential can no longer be snoozed: the bound lies in the past.
        .filter(|a| *a != LinkAction::Snooze || !item.expired(now))
        .map(|action| {
            let mut id = [0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut id);
            let claims = LinkClaims {
                credential_id: item.credential.id,
                action,
                recipient: recipient.to_string(),
                expires: now.plus_days(LINK_VALID_DAYS).unix_seconds(),
                id: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id),
            };
            ActionLink {
                label: action.label(),
                url: format!("{dashboard}/act/{}", signer.sign(&claims)),
            }
        })
        .collect()
}

impl Line {
    pub fn new(item: &PlannedItem, public_url: &Url, now: Timestamp) -> Line {
        let c = &item.credential;
        let days_left = c.days_left(now);
        let expired = item.expired(now);
        let when = if expired {
            match now.ticks_since(c.end_at) / Timestamp::TICKS_PER_DAY {
                0 => "expired less than a day ago".to_string(),
                1 => "expired 1 day ago".to_string(),
                d => format!("expired {d} days ago"),
            }
        } else {
            match days_left {
                0 => "less than a day left".to_string(),
                1 => "1 day left".to_string(),
                d => format!("{d} days left"),
            }
        };
        Line {
            app: c.app_display_name.as_deref().map(clean).unwrap_or_else(|| "(no name)".into()),
            app_id: clean(&c.app_id),
            environment: clean(&c.environment),
            kind: c.kind.as_str(),
            name: c
                .display_name
                .as_deref()
                .map(clean)
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| "(no name)".into()),
            hint: c.hint.as_deref().map(|h| format!("{}…", clean(h))).unwrap_or_default(),
            key_id: clean(&c.key_id),
            end: c.end_at.naive_utc().format("%Y-%m-%d %H:%M UTC").to_string(),
            days_left,
            when,
            expired,
            reminder: match item.rung {
                Rung::Expired => "expiry notice".into(),
                Rung::DaysBefore(d) => format!("{d}-day reminder"),
                Rung::Cleanup => "cleanup notice".into(),
            },
            last_used: match (c.last_use.at(), item.usage) {
                (Some(t), usage) => format!("{} ({})", t.naive_utc().format("%Y-%m-%d %H:%M UTC"), usage.label()),
                (None, Usage::Idle) => "never (no recorded sign-in)".into(),
                (None, _) => "unknown (usage could not be read)".into(),
            },
            rotation: item.rotation.as_ref().map(|v| match v.last_used {
                Some(t) if v.rotation == Rotation::InProgress => format!(
                    "rotation in progress: something still uses the old one (last used {})",
                    t.naive_utc().format("%Y-%m-%d %H:%M UTC")
                ),
                _ => v.describe(),
            }),
            attention: attention(c),
            actions: Vec::new(),
            portal_link: c.portal_link(),
            credwatch_link: credwatch_link(public_url, &c.environment, &c.app_object_id),
            source_label: c.app_source.label(),
            superseded: item.superseded_by.as_ref().map(|s| {
                let name = s
                    .display_name
                    .as_deref()
                    .map(clean)
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or_else(|| clean(&s.key_id));
                format!(
                    "\"{name}\", ending {}, seen since {}",
                    s.end.naive_utc().format("%Y-%m-%d"),
                    s.first_seen.naive_utc().format("%Y-%m-%d")
                )
            }),
            action: if item.rung == Rung::Cleanup {
                format!("nothing signs in with it: delete this {} instead of rotating it", c.kind)
            } else if item.rotation.as_ref().is_some_and(|v| v.rotation == Rotation::Complete) {
                format!("rotation complete: the new one is in use, delete the old {}", c.kind)
            } else if item.rotation.as_ref().is_some_and(|v| v.rotation == Rotation::InProgress) {
                format!(
                    "finish the rotation: move what still uses this {} to the new one, then delete it",
                    c.kind
                )
            } else if item.superseded_by.is_some() {
                format!("already rotated: remove the old {} once nothing uses it", c.kind)
            } else if c.app_source == Source::ServicePrincipal && c.kind == CredentialKind::Certificate {
                "create a new signing certificate, give it to the service provider, then make it active".into()
            } else {
                format!("rotate: add a new {}, deploy it, then delete this one", c.kind)
            },
        }
    }
}

/// What people said of a credential, for its reminder. Names are people's input: cleaned.
fn attention(c: &crate::domain::Credential) -> Vec<String> {
    let day = |t: Timestamp| t.naive_utc().format("%Y-%m-%d %H:%M UTC").to_string();
    let mut out = Vec::new();
    if let Some(a) = &c.attention.acknowledged {
        out.push(format!("acknowledged by {} on {}, and still not rotated", clean(&a.by), day(a.at)));
    }
    if let Some(d) = &c.attention.owner_disputed {
        let suggested = d
            .suggested_owner
            .as_deref()
            .map(|s| format!("; suggested owner: {}", clean(s)))
            .unwrap_or_default();
        out.push(format!("owner disputed by {} on {}{suggested}", clean(&d.by), day(d.at)));
    }
    out
}

/// One environment's lines.
#[derive(Debug, Clone)]
pub struct Group {
    pub environment: String,
    pub lines: Vec<Line>,
}

/// The subject of a digest, e.g. `[credwatch] 3 credentials expire within 7 days (prod, test)`
/// or `[credwatch] 1 credential has expired, 2 expire within 30 days (prod)`. Always one line.
pub fn subject(digest: &Digest, now: Timestamp) -> String {
    // Cleanup notices are counted apart: they ask for a deletion, not a rotation.
    let cleanup = digest.items.iter().filter(|i| i.rung == Rung::Cleanup).count();
    let ladder = || digest.items.iter().filter(|i| i.rung != Rung::Cleanup);
    let expired = ladder().filter(|i| i.expired(now)).count();
    let upcoming = ladder().count() - expired;
    let window = ladder()
        .filter(|i| !i.expired(now))
        .map(|i| match i.rung {
            Rung::DaysBefore(d) => d,
            Rung::Expired | Rung::Cleanup => 0,
        })
        .max()
        .unwrap_or(0);
    let within = match window {
        0 => "within a day".to_string(),
        1 => "within 1 day".to_string(),
        d => format!("within {d} days"),
    };
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let text = match (expired, upcoming) {
        (0, 0) => String::new(),
        (e, 0) => format!("{e} credential{} {} expired", plural(e), if e == 1 { "has" } else { "have" }),
        (0, u) => format!("{u} credential{} {} {within}", plural(u), if u == 1 { "expires" } else { "expire" }),
        (e, u) => format!(
            "{e} credential{} {} expired, {u} {} {within}",
            plural(e),
            if e == 1 { "has" } else { "have" },
            if u == 1 { "expires" } else { "expire" }
        ),
    };
    let text = match (text.is_empty(), cleanup) {
        (_, 0) => text,
        (true, n) => format!("{n} unused credential{} to delete", plural(n)),
        (false, n) => format!("{text}; {n} unused to delete"),
    };
    let envs = digest.environments();
    let envs = if envs.len() > 4 {
        format!("{}, +{} more", envs[..3].join(", "), envs.len() - 3)
    } else {
        envs.join(", ")
    };
    clean(&format!("[credwatch] {text} ({envs})"))
}

/// The plain-text body.
#[derive(Template)]
#[template(path = "email/digest.txt")]
pub struct DigestText<'a> {
    pub subject: &'a str,
    pub groups: &'a [Group],
    pub dashboard: &'a str,
}

/// The HTML body.
#[derive(Template)]
#[template(path = "email/digest.html")]
pub struct DigestHtml<'a> {
    pub subject: &'a str,
    pub groups: &'a [Group],
    pub dashboard: &'a str,
}

/// A digest rendered: subject, text and HTML.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub groups: Vec<Group>,
}

/// The digest's words; with a `signer`, every line carries signed action links for its recipient.
pub fn render(digest: &Digest, public_url: &Url, now: Timestamp, signer: Option<&LinkSigner>) -> Result<Rendered, askama::Error> {
    let dashboard = public_url.as_str().trim_end_matches('/').to_string();
    let groups: Vec<Group> = digest
        .groups()
        .into_iter()
        .map(|g| Group {
            environment: clean(g.environment),
            lines: g
                .items
                .into_iter()
                .map(|i| Line {
                    actions: signer.map(|s| action_links(i, &digest.key, s, &dashboard, now)).unwrap_or_default(),
                    ..Line::new(i, public_url, now)
                })
                .collect(),
        })
        .collect();
    let subject = subject(digest, now);
    let text = DigestText {
        subject: &subject,
        groups: &groups,
        dashboard: &dashboard,
    }
    .render()?;
    let html = DigestHtml {
        subject: &subject,
        groups: &groups,
        dashboard: &dashboard,
    }
    .render()?;
    Ok(Rendered {
        subject,
        text,
        html,
        groups,
    })
}
