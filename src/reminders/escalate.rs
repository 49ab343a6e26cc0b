//! Escalation (`[escalation]`): a credential ending within `within_days` that nobody
//! acknowledged or snoozed `after_hours` after its first reminder goes, once, to the rule's
//! addresses and/or webhook, saying who was reminded when. An expired credential that is still
//! in use (when usage is known) goes at once, reminded or not.
//!
//! "Once" is the event log's `escalated` row, written after a target accepted the message: a
//! crash in between sends it again rather than never.

use super::mail::{self, Mailer};
use super::webhook;
use crate::config::{Config, EscalationConfig, WebhookKind};
use crate::domain::{Credential, EventKind, Exclusions, Timestamp, Usage, clean};
use crate::store::{CredentialFilter, ReminderRow, Store, StoreError};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

/// Why a credential is escalated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Nobody acknowledged it `after_hours` after its first reminder.
    Unacknowledged,
    /// Expired, and something signed in with it recently.
    ExpiredInUse,
}

/// One credential to escalate, with who was reminded when (oldest first).
#[derive(Debug, Clone)]
pub struct Escalation {
    pub credential: Credential,
    pub why: Why,
    pub reminded: Vec<(String, Timestamp)>,
}

/// Decides, without IO, which of `credentials` (ending within the window) to escalate at `now`.
pub fn due(
    rule: &EscalationConfig,
    credentials: &[Credential],
    ledger: &[ReminderRow],
    escalated: &HashSet<i64>,
    exclusions: &Exclusions,
    active_days: i64,
    now: Timestamp,
) -> Vec<Escalation> {
    let mut reminded: HashMap<i64, Vec<(String, Timestamp)>> = HashMap::new();
    for r in ledger.iter().filter(|r| r.outcome == "sent") {
        reminded
            .entry(r.credential_id)
            .or_default()
            .push((r.recipient.clone(), r.decided_at));
    }
    let window_end = now.plus_days(rule.within_days);
    let wait = rule.after_hours * 3600;
    let mut out = Vec::new();
    for c in credentials {
        if !c.is_live() || c.end_at >= window_end || escalated.contains(&c.id) {
            continue;
        }
        if exclusions.find(c, now).is_some() {
            continue;
        }
        let mut sent = reminded.remove(&c.id).unwrap_or_default();
        sent.sort_by_key(|(_, at)| *at);
        let in_use_after_expiry = c.expired(now) && c.usage(active_days, now) == Usage::InUse;
        // Someone answered: acknowledged, or snoozed for now.
        let answered = c.attention.acknowledged.is_some() || c.attention.snoozed_until.is_some_and(|u| u > now);
        let why = if in_use_after_expiry {
            Why::ExpiredInUse
        } else if !answered
            && sent
                .first()
                .is_some_and(|(_, first)| now.ticks_since(*first) >= wait * Timestamp::TICKS_PER_SECOND)
        {
            Why::Unacknowledged
        } else {
            continue;
        };
        out.push(Escalation {
            credential: c.clone(),
            why,
            reminded: sent,
        });
    }
    out.sort_by_key(|e| (e.credential.end_at, e.credential.id));
    out
}

/// What an escalation run did.
#[derive(Debug, Clone, Default)]
pub struct EscalationReport {
    /// One line per credential escalated.
    pub lines: Vec<String>,
    /// Targets that accepted, and those that failed with why.
    pub accepted: Vec<String>,
    pub failed: Vec<(String, String)>,
}

fn when(t: Timestamp) -> String {
    t.naive_utc().format("%Y-%m-%d %H:%M UTC").to_string()
}

/// One escalated credential in words (names cleaned: they come from Graph).
fn describe(e: &Escalation, now: Timestamp) -> String {
    let c = &e.credential;
    let name = c
        .display_name
        .as_deref()
        .map(clean)
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| clean(&c.key_id));
    let app = c.app_display_name.as_deref().map(clean).unwrap_or_else(|| "(no name)".into());
    let mut line = format!(
        "[{}] {app}: {} \"{name}\" (key {}) ends {}",
        clean(&c.environment),
        c.kind,
        clean(&c.key_id),
        when(c.end_at)
    );
    match e.why {
        Why::ExpiredInUse => {
            let used = c.last_use.at().map(when).unwrap_or_default();
            let _ = write!(line, "; EXPIRED and still in use (last sign-in {used})");
        }
        Why::Unacknowledged => {
            let _ = write!(line, "; {} days left, nobody acknowledged it", c.days_left(now));
        }
    }
    if e.reminded.is_empty() {
        line.push_str("; nobody was reminded yet");
    } else {
        let who: Vec<String> = e.reminded.iter().map(|(to, at)| format!("{to} at {}", when(*at))).collect();
        let _ = write!(line, "; reminded: {}", who.join(", "));
    }
    line
}

/// Escalates what is due at `now`; records each credential's `escalated` event once some
/// target accepted. Without `[escalation]`, does nothing.
#[tracing::instrument(name = "escalate", skip_all, fields(now = %now))]
pub async fn try_escalate(store: &Store, config: &Config, now: Timestamp) -> Result<EscalationReport, StoreError> {
    let mut report = EscalationReport::default();
    let Some(rule) = &config.escalation else {
        return Ok(report);
    };
    let end_before = now.plus_days(rule.within_days);
    let credentials = store
        .credentials(&CredentialFilter {
            end_before: Some(end_before),
            ..Default::default()
        })
        .await?;
    let ledger = store.reminder_ledger(end_before).await?;
    let escalated = store.escalated(&credentials.iter().map(|c| c.id).collect::<Vec<_>>()).await?;
    let due = due(
        rule,
        &credentials,
        &ledger,
        &escalated,
        &config.exclusions,
        config.usage.active_days,
        now,
    );
    if due.is_empty() {
        return Ok(report);
    }
    report.lines = due.iter().map(|e| describe(e, now)).collect();
    let mut envs: Vec<&str> = due.iter().map(|e| e.credential.environment.as_str()).collect();
    envs.sort_unstable();
    envs.dedup();
    let subject = clean(&format!(
        "[credwatch] escalation: {} credential{} nobody acknowledged ({})",
        due.len(),
        if due.len() == 1 { "" } else { "s" },
        envs.join(", ")
    ));
    let dashboard = config.server.public_url.as_str().trim_end_matches('/');
    let text = format!(
        "{subject}\n\n{}\n\nAcknowledge, snooze or hand these over from their reminders or from credwatch: {dashboard}\n",
        report.lines.iter().map(|l| format!("* {l}")).collect::<Vec<_>>().join("\n")
    );
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><body><h1 style=\"font-size:18px\">{}</h1><ul>{}</ul><p><a href=\"{}\">Open credwatch</a></p></body></html>",
        crate::domain::html_escape(&subject),
        report
            .lines
            .iter()
            .map(|l| format!("<li>{}</li>", crate::domain::html_escape(l)))
            .collect::<String>(),
        crate::domain::html_escape(dashboard)
    );
    if !rule.to.is_empty()
        && let (Some(mailer), Some(from)) = (Mailer::from_config(&config.email).ok().flatten(), config.email.from.as_ref())
    {
        for to in &rule.to {
            let key = super::plan::recipient_key(to);
            let sent = match mail::build_message(from, to, &subject, text.clone(), html.clone()) {
                Ok(m) => mailer.send(m).await,
                Err(e) => Err(e),
            };
            match sent {
                Ok(()) => report.accepted.push(key),
                Err(e) => report.failed.push((key, e.to_string())),
            }
        }
    }
    if let Some(name) = &rule.webhook
        && let Some(hook) = config.webhooks.iter().find(|w| w.name == *name)
    {
        let body = match hook.kind {
            WebhookKind::Teams => webhook::teams_message(
                std::iter::once(json!({"type": "TextBlock", "text": webhook::escape_markdown(&subject), "weight": "Bolder", "wrap": true}))
                    .chain(
                        report
                            .lines
                            .iter()
                            .map(|l| json!({"type": "TextBlock", "text": webhook::escape_markdown(l), "wrap": true, "color": "Attention"})),
                    )
                    .collect(),
                dashboard,
            ),
            WebhookKind::Json => json!({
                "type": "escalation",
                "subject": subject,
                "credentials": due.iter().map(|e| json!({
                    "environment": e.credential.environment,
                    "app_id": e.credential.app_id,
                    "key_id": e.credential.key_id,
                    "end": e.credential.end_at.to_string(),
                    "reason": match e.why { Why::Unacknowledged => "unacknowledged", Why::ExpiredInUse => "expired_in_use" },
                    "reminded": e.reminded.iter().map(|(to, at)| json!({"to": to, "at": at.to_string()})).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            }),
        };
        let sent = match webhook::client() {
            Ok(http) => webhook::send(&http, hook, &body).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match sent {
            Ok(()) => report.accepted.push(hook.ledger_key()),
            Err(e) => report.failed.push((hook.ledger_key(), e)),
        }
    }
    for (target, e) in &report.failed {
        tracing::warn!(target = %target, error = %e, "an escalation was not delivered");
    }
    if report.accepted.is_empty() {
        // Nothing delivered: not recorded, so the next run tries again.
        return Ok(report);
    }
    let note = format!("to {}", report.accepted.join(", "));
    store
        .record_events(
            &due.iter().map(|e| e.credential.id).collect::<Vec<_>>(),
            EventKind::Escalated,
            Some(&note),
            now,
        )
        .await?;
    tracing::info!(credentials = due.len(), "escalated");
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Acknowledgement, LastUse};

    fn credential(id: i64, end: Timestamp, last_use: LastUse) -> Credential {
        Credential {
            last_use,
            ..Credential::sample(id, "prod", end)
        }
    }

    fn sent(id: i64, to: &str, at: Timestamp) -> ReminderRow {
        ReminderRow {
            credential_id: id,
            rung: 7,
            recipient: to.into(),
            outcome: "sent".into(),
            decided_at: at,
        }
    }

    #[test]
    fn unacknowledged_after_the_wait_expired_in_use_at_once_and_each_only_once() {
        let now = Timestamp::parse("2026-03-01T08:00:00Z").unwrap();
        let rule = EscalationConfig {
            within_days: 7,
            after_hours: 24,
            to: Vec::new(),
            webhook: Some("x".into()),
        };
        let mut acked = credential(3, now.plus_days(5), LastUse::NotRead);
        acked.attention.acknowledged = Some(Acknowledgement { by: "ana".into(), at: now });
        let creds = vec![
            credential(1, now.plus_days(5), LastUse::NotRead),
            credential(2, now.plus_days(5), LastUse::NotRead),
            acked,
            // Expired yesterday, signed in with an hour ago; never reminded.
            credential(4, now.plus_days(-1), LastUse::At(now.plus_seconds(-3600))),
            // Expired and idle: the ladder's business only.
            credential(5, now.plus_days(-1), LastUse::Never),
            credential(6, now.plus_days(30), LastUse::NotRead),
        ];
        let day_ago = now.plus_seconds(-24 * 3600);
        let ledger = vec![
            sent(1, "ops@example.com", day_ago),
            sent(1, "oncall@example.com", day_ago.plus_seconds(60)),
            sent(2, "ops@example.com", day_ago.plus_seconds(1)),
            sent(3, "ops@example.com", day_ago),
            sent(6, "ops@example.com", day_ago),
        ];
        let due = due(&rule, &creds, &ledger, &HashSet::new(), &Exclusions::default(), 30, now);
        let got: Vec<(i64, Why)> = due.iter().map(|e| (e.credential.id, e.why)).collect();
        assert_eq!(got, vec![(4, Why::ExpiredInUse), (1, Why::Unacknowledged)]);
        assert_eq!(
            due[1].reminded,
            vec![
                ("ops@example.com".to_string(), day_ago),
                ("oncall@example.com".to_string(), day_ago.plus_seconds(60))
            ]
        );
        assert!(
            describe(&due[1], now)
                .contains("reminded: ops@example.com at 2026-02-28 08:00 UTC, oncall@example.com at 2026-02-28 08:01 UTC")
        );
        assert!(describe(&due[0], now).contains("EXPIRED and still in use"));
        let again = super::due(
            &rule,
            &creds,
            &ledger,
            &[1, 4].into_iter().collect(),
            &Exclusions::default(),
            30,
            now,
        );
        assert!(again.is_empty(), "escalated once: {again:?}");
    }
}
