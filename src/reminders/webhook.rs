//! Reminders to chat and webhooks: a Microsoft Teams Workflows webhook (a message with an
//! Adaptive Card) or a generic JSON document. Same rule as e-mail: a digest counts as sent only
//! on a 2xx answer; anything else leaves its reminders due.

use super::plan::Digest;
use super::render::{Group, Line};
use crate::config::{WebhookConfig, WebhookKind};
use chrono::{DateTime, SecondsFormat, Utc};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::time::Duration;

/// How long one webhook call may take in all.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(30);
/// Teams refuses cards over about 28 KB; a digest longer than this many lines is cut, with a
/// pointer to the dashboard.
const MAX_CARD_LINES: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The receiver answered, but not with 2xx.
    #[error("the webhook answered HTTP {0}")]
    Status(u16),
    /// No answer: connection refused, timeout, TLS. The URL is never in the message (a secret).
    #[error("the webhook could not be reached: {0}")]
    Unreachable(String),
    #[error("the webhook URL is unusable")]
    Url,
    /// The HTTP client could not be built (its TLS setup failed). No webhook is called then:
    /// a default client would wait without a timeout and follow redirects, taking the secret URL's
    /// payload to another host.
    #[error("the webhook HTTP client could not be built: {}{}", .0, std::error::Error::source(.0).map(|c| format!(": {c}")).unwrap_or_default())]
    Client(reqwest::Error),
}

/// A client for webhooks: bounded time, no redirects (the body would follow to another host).
pub fn client() -> Result<reqwest::Client, WebhookError> {
    crate::tls::install();
    reqwest::Client::builder()
        .timeout(WEBHOOK_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("credwatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(WebhookError::Client)
}

/// Posts `body` to the webhook; `Ok` only on a 2xx answer.
#[tracing::instrument(skip(http, hook, body), fields(webhook = %hook.name, kind = ?hook.kind))]
pub async fn send(http: &reqwest::Client, hook: &WebhookConfig, body: &Value) -> Result<(), WebhookError> {
    let url = url::Url::parse(hook.url.expose_secret()).map_err(|_| WebhookError::Url)?;
    let resp = http
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| WebhookError::Unreachable(e.without_url().to_string()))?;
    let status = resp.status();
    // Drain a little of the body so the connection can be reused; its content is not needed.
    let _ = tokio::time::timeout(Duration::from_secs(5), resp.bytes()).await;
    if status.is_success() {
        Ok(())
    } else {
        Err(WebhookError::Status(status.as_u16()))
    }
}

/// The payload `hook` expects for one digest.
pub fn payload(kind: WebhookKind, digest: &Digest, subject: &str, groups: &[Group], dashboard: &str, now: DateTime<Utc>) -> Value {
    match kind {
        WebhookKind::Teams => teams_card(subject, groups, dashboard),
        WebhookKind::Json => json_document(digest, subject, groups, now),
    }
}

/// Markdown special characters escaped with a backslash, so a hostile name such as
/// `[click](https://evil)` or `**urgent**` shows as typed in a TextBlock. Names are cleaned of
/// control characters already ([`crate::domain::clean`]); serde_json escapes the JSON.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '#' | '+' | '-' | '.' | '!' | '|' | '<' | '>' | '~' | '&'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn text_block(text: String, extra: Value) -> Value {
    let mut block = json!({"type": "TextBlock", "text": text, "wrap": true});
    if let (Some(b), Some(e)) = (block.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    block
}

fn line_facts(l: &Line) -> Value {
    let e = escape_markdown;
    let mut facts = vec![
        json!({"title": "Kind", "value": e(&format!("{}{}", l.kind, if l.hint.is_empty() { String::new() } else { format!(" ({})", l.hint) }))}),
        json!({"title": "Ends", "value": e(&format!("{} ({})", l.end, l.when))}),
        json!({"title": "Where", "value": e(l.source_label)}),
        json!({"title": "Key ID", "value": e(&l.key_id)}),
        json!({"title": "Last used", "value": e(&l.last_used)}),
    ];
    if let Some(r) = &l.rotation {
        facts.push(json!({"title": "Rotation", "value": e(r)}));
    }
    if let Some(s) = &l.superseded {
        facts.push(json!({"title": "Replaced by", "value": e(s)}));
    }
    facts.push(json!({"title": "Do", "value": e(&l.action)}));
    json!({"type": "FactSet", "facts": facts})
}

/// A Teams Workflows message: `{"type": "message", "attachments": [Adaptive Card]}`.
fn teams_card(subject: &str, groups: &[Group], dashboard: &str) -> Value {
    let mut body = vec![text_block(escape_markdown(subject), json!({"size": "Medium", "weight": "Bolder"}))];
    let total: usize = groups.iter().map(|g| g.lines.len()).sum();
    let mut shown = 0;
    'groups: for g in groups {
        body.push(text_block(
            format!("Environment: {}", escape_markdown(&g.environment)),
            json!({"weight": "Bolder", "separator": true, "spacing": "Medium"}),
        ));
        for l in &g.lines {
            if shown == MAX_CARD_LINES {
                break 'groups;
            }
            shown += 1;
            let color = if l.expired || l.days_left < 7 { "Attention" } else { "Warning" };
            body.push(text_block(
                format!(
                    "{}: {} \"{}\" ({})",
                    escape_markdown(&l.app),
                    escape_markdown(l.kind),
                    escape_markdown(&l.name),
                    escape_markdown(&l.reminder)
                ),
                json!({"color": color, "weight": "Bolder"}),
            ));
            body.push(line_facts(l));
            let mut actions = vec![
                json!({"type": "Action.OpenUrl", "title": "Open in the Azure portal", "url": l.portal_link}),
                json!({"type": "Action.OpenUrl", "title": "Open in credwatch", "url": l.credwatch_link}),
            ];
            // The same signed links as the e-mail: each opens a confirmation page.
            actions.extend(
                l.actions
                    .iter()
                    .map(|a| json!({"type": "Action.OpenUrl", "title": a.label, "url": a.url})),
            );
            body.push(json!({"type": "ActionSet", "actions": actions}));
        }
    }
    if shown < total {
        body.push(text_block(
            format!("{} more on the dashboard\\.", total - shown),
            json!({"isSubtle": true}),
        ));
    }
    teams_message(body, dashboard)
}

/// A Teams Workflows message carrying one Adaptive Card of `body`, with a button to credwatch.
pub fn teams_message(body: Vec<Value>, dashboard: &str) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": body,
                "actions": [{"type": "Action.OpenUrl", "title": "Open credwatch", "url": dashboard}]
            }
        }]
    })
}

/// The generic document: every reminder with raw (JSON-escaped) values.
fn json_document(digest: &Digest, subject: &str, groups: &[Group], now: DateTime<Utc>) -> Value {
    let lines: Vec<&Line> = groups.iter().flat_map(|g| g.lines.iter()).collect();
    let items: Vec<&super::plan::PlannedItem> = digest.groups().into_iter().flat_map(|g| g.items).collect();
    let reminders: Vec<Value> = items
        .iter()
        .zip(lines)
        .map(|(i, l)| {
            let c = &i.credential;
            json!({
                "environment": c.environment,
                "source": c.app_source.as_str(),
                "app_object_id": c.app_object_id,
                "app_id": c.app_id,
                "app_display_name": c.app_display_name,
                "kind": c.kind,
                "key_id": c.key_id,
                "display_name": c.display_name,
                "hint": c.hint,
                "end": c.end_at.to_string(),
                "days_left": c.days_left(now.into()),
                "expired": i.expired(now.into()),
                "rung": i.rung.to_db(),
                "reminder": l.reminder,
                "action": if i.rung == crate::domain::Rung::Cleanup {
                    "delete"
                } else if i.superseded_by.is_some() {
                    "remove_old"
                } else {
                    "rotate"
                },
                "last_used_at": c.last_use.at().map(|t| t.to_string()),
                "usage": i.usage,
                "rotation": i.rotation.as_ref().map(|v| v.rotation),
                "superseded_by": i.superseded_by.as_ref().map(|s| json!({
                    "key_id": s.key_id, "display_name": s.display_name,
                    "end": s.end.to_string(),
                })),
                "portal_link": l.portal_link,
                "credwatch_link": l.credwatch_link,
            })
        })
        .collect();
    json!({
        "subject": subject,
        "generated_at": now.to_rfc3339_opts(SecondsFormat::Secs, true),
        "reminders": reminders,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_escaped() {
        assert_eq!(
            escape_markdown("[x](https://evil) **b** _i_"),
            "\\[x\\]\\(https://evil\\) \\*\\*b\\*\\* \\_i\\_"
        );
        assert_eq!(escape_markdown("plain name"), "plain name");
    }
}
