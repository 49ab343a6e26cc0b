//! E-mail reminders: `store → plan → render → mail → ledger`.
//!
//! [`try_remind`] is one run: it reads the live credentials near their end and the ledger, plans
//! one digest per recipient ([`plan`]), sends each, and records a recipient's reminders only
//! after the mail server accepted that recipient's message. A refused or unreachable server
//! leaves them due for the next run; the others are not sent twice.

pub mod escalate;
pub mod mail;
pub mod plan;
pub mod render;
pub mod webhook;

use crate::config::{Config, EmailTransport};
use crate::domain::Timestamp;
use crate::store::{CredentialFilter, Store, StoreError};
use chrono::{DateTime, SecondsFormat, Utc};
use mail::{MailError, Mailer};
use plan::{Ledger, Plan, Recipient, Recipients};
use std::fmt;

/// Why a run could not even start (sending failures are in the [`RemindReport`] instead).
#[derive(Debug, thiserror::Error)]
pub enum RemindError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error("rendering a digest: {0}")]
    Render(#[from] askama::Error),
    /// Another process is sending reminders now; this run sent nothing (what it would have sent
    /// is the other run's to send).
    #[error("{0}; this run sent nothing")]
    Busy(crate::store::lease::LeaseHeld),
}

/// What happened to one recipient's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestOutcome {
    /// Accepted by the mail server (or written to its file) and recorded.
    Sent,
    /// Not sent: a dry run, or `transport = "none"`.
    NotSent,
    /// Refused or undeliverable; the reminders stay due.
    Failed(String),
    /// Accepted, but the ledger write failed: the next run may send it again.
    SentNotRecorded(String),
}

/// One recipient's digest in a run.
#[derive(Debug, Clone)]
pub struct DigestReport {
    pub recipient: String,
    pub subject: String,
    /// One line per credential, for the terminal and logs.
    pub lines: Vec<String>,
    pub outcome: DigestOutcome,
}

/// The outcome of one run of [`try_remind`].
#[derive(Debug, Clone)]
pub struct RemindReport {
    pub now: DateTime<Utc>,
    pub dry_run: bool,
    /// `transport = "none"`: nothing was sent or recorded.
    pub transport_none: bool,
    pub digests: Vec<DigestReport>,
    /// What `[escalation]` sent in this run, if configured and anything was due.
    pub escalation: Option<escalate::EscalationReport>,
}

impl RemindReport {
    pub fn sent(&self) -> usize {
        self.digests
            .iter()
            .filter(|d| matches!(d.outcome, DigestOutcome::Sent | DigestOutcome::SentNotRecorded(_)))
            .count()
    }

    pub fn failed(&self) -> usize {
        self.digests
            .iter()
            .filter(|d| matches!(d.outcome, DigestOutcome::Failed(_) | DigestOutcome::SentNotRecorded(_)))
            .count()
            // Escalation targets that refused count too (retried only when no target took it).
            + self.escalation.as_ref().map_or(0, |e| e.failed.len())
    }

    /// True when every digest due was accepted and recorded (or none was due).
    pub fn succeeded(&self) -> bool {
        self.failed() == 0
    }
}

impl fmt::Display for RemindReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = self.now.to_rfc3339_opts(SecondsFormat::Secs, true);
        let reminders: usize = self.digests.iter().map(|d| d.lines.len()).sum();
        let note = if self.dry_run {
            " (dry run: nothing sent or recorded)"
        } else if self.transport_none {
            " (email transport is \"none\": nothing sent or recorded)"
        } else {
            ""
        };
        if self.digests.is_empty() {
            writeln!(f, "as of {when}: no reminder due{note}")?;
        } else {
            writeln!(f, "as of {when}: {} digest(s), {reminders} reminder(s){note}", self.digests.len())?;
        }
        for d in &self.digests {
            let status = match &d.outcome {
                DigestOutcome::Sent => "sent".to_string(),
                DigestOutcome::NotSent => "would send".to_string(),
                DigestOutcome::Failed(e) => format!("FAILED: {e}"),
                DigestOutcome::SentNotRecorded(e) => format!("sent but NOT RECORDED (may be sent again): {e}"),
            };
            writeln!(f, "{}: {status}: {}", d.recipient, d.subject)?;
            for line in &d.lines {
                writeln!(f, "  {line}")?;
            }
        }
        if let Some(e) = self.escalation.as_ref().filter(|e| !e.lines.is_empty()) {
            writeln!(
                f,
                "escalated to {}:",
                if e.accepted.is_empty() {
                    "nobody (failed)".to_string()
                } else {
                    e.accepted.join(", ")
                }
            )?;
            for line in &e.lines {
                writeln!(f, "  {line}")?;
            }
        }
        Ok(())
    }
}

/// Plans the reminders due at `now`: the live credentials that may have crossed a rung, the
/// ledger, and the recipients of the config.
pub async fn plan_reminders(store: &Store, config: &Config, now: DateTime<Utc>) -> Result<Plan, StoreError> {
    let now = Timestamp::from(now);
    let Some(end_before) = config.reminders.horizon(now) else {
        return Ok(Plan { now, digests: Vec::new() });
    };
    let credentials = store
        .credentials(&CredentialFilter {
            end_before: Some(end_before),
            ..Default::default()
        })
        .await?;
    let ledger = Ledger::new(&store.reminder_ledger(end_before).await?);
    // Rotation awareness needs the newer credentials too, which end after the horizon.
    let (successors, rotations) = crate::domain::rotation_policy(
        store
            .live_siblings_of(&credentials.iter().map(|c| c.application_id).collect::<Vec<_>>())
            .await?,
        now,
    );
    let rules = plan::Rules {
        exclusions: Some(&config.exclusions),
        successors: Some(&successors),
        rotations: Some(&rotations),
        usage: Some((config.usage.active_days, config.usage.idle_reminders)),
        critical_days: Some(config.status.critical_days),
    };
    Ok(plan::plan_with(
        &credentials,
        &ledger,
        &Recipients::from_config(config),
        &config.reminders,
        &rules,
        now,
    ))
}

/// One reminder run as of `now`. With `dry_run`, or with `transport = "none"`, the plan is
/// reported and nothing is sent or recorded.
#[tracing::instrument(name = "remind", skip_all, fields(now = %now, dry_run))]
pub async fn try_remind(store: &Store, config: &Config, now: DateTime<Utc>, dry_run: bool) -> Result<RemindReport, RemindError> {
    // Webhooks send whatever the e-mail transport is.
    let transport_none = matches!(config.email.transport, EmailTransport::None) && config.webhooks.is_empty();
    // One sending run at a time across processes, taken before planning: a second run planning
    // from the same ledger would send every digest again.
    let lease = match dry_run || transport_none {
        true => None,
        false => Some(store.take_lease("remind").await?.map_err(RemindError::Busy)?),
    };
    let plan = plan_reminders(store, config, now).await?;
    let mut report = RemindReport {
        now,
        dry_run,
        transport_none,
        digests: Vec::new(),
        escalation: None,
    };
    let mailer = if dry_run { None } else { Mailer::from_config(&config.email)? };
    let from = config.email.from.as_ref();
    // Once the server is unreachable, the remaining digests are not attempted: they would only
    // wait for the same timeout.
    let mut unreachable: Option<String> = None;
    // Built once per run; when it cannot be, each webhook's digest fails with that error.
    let http = webhook::client();
    if let (Err(e), false) = (&http, config.webhooks.is_empty()) {
        tracing::error!(error = %e, "no webhook is called in this run");
    }
    // Links are signed only for what is sent: a dry run shows none.
    let signer = match dry_run {
        true => None,
        false => Some(store.link_signer(config.server.link_key.as_ref()).await?),
    };
    for digest in &plan.digests {
        let rendered = render::render(digest, &config.server.public_url, plan.now, signer.as_ref())?;
        let lines = rendered.groups.iter().flat_map(|g| g.lines.iter().map(describe)).collect();
        let mut entry = DigestReport {
            recipient: digest.recipient.to_string(),
            subject: rendered.subject.clone(),
            lines,
            outcome: DigestOutcome::NotSent,
        };
        if lease.as_ref().is_some_and(|l| !l.held()) {
            entry.outcome = DigestOutcome::Failed("not attempted: the run's lease expired and another process took over".into());
            report.digests.push(entry);
            continue;
        }
        let sent: Option<Result<(), String>> = match &digest.recipient {
            Recipient::Email(to) => match (&mailer, from) {
                (Some(mailer), Some(from)) => Some(match &unreachable {
                    Some(e) => Err(format!("not attempted: {e}")),
                    None => {
                        let result = match mail::build_message(from, to, &rendered.subject, rendered.text.clone(), rendered.html.clone()) {
                            Ok(message) => mailer.send(message).await,
                            Err(e) => Err(e),
                        };
                        result.map_err(|e| {
                            if e.is_unreachable() {
                                unreachable = Some(e.to_string());
                            }
                            e.to_string()
                        })
                    }
                }),
                _ => None,
            },
            Recipient::Webhook(name) => match config.webhooks.iter().find(|w| w.name == *name) {
                Some(hook) if !dry_run => {
                    let dashboard = config.server.public_url.as_str().trim_end_matches('/');
                    let body = webhook::payload(hook.kind, digest, &rendered.subject, &rendered.groups, dashboard, now);
                    Some(match &http {
                        Ok(http) => webhook::send(http, hook, &body).await.map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    })
                }
                _ => None,
            },
        };
        entry.outcome = match sent {
            None => DigestOutcome::NotSent,
            // Recorded only now that the server accepted it (STYLE habit 13).
            Some(Ok(())) => match store
                .record_reminders(
                    &digest.key,
                    &digest.sent_rows(),
                    &digest.skipped_rows(),
                    Timestamp::from(Utc::now()),
                )
                .await
            {
                Ok(()) => DigestOutcome::Sent,
                Err(e) => {
                    tracing::error!(recipient = %digest.key, error = %e, "a digest was sent but could not be recorded");
                    DigestOutcome::SentNotRecorded(e.to_string())
                }
            },
            Some(Err(e)) => {
                tracing::warn!(recipient = %digest.key, error = %e, "a digest was not sent; its reminders stay due");
                DigestOutcome::Failed(e)
            }
        };
        report.digests.push(entry);
    }
    // Under the same lease: two processes would escalate the same credential twice.
    if !dry_run && config.escalation.is_some() && lease.as_ref().is_none_or(|l| l.held()) {
        report.escalation = Some(escalate::try_escalate(store, config, plan.now).await?);
    }
    if let Some(lease) = lease {
        lease.release().await;
    }
    if !dry_run {
        tracing::info!(
            digests = report.digests.len(),
            sent = report.sent(),
            failed = report.failed(),
            transport_none,
            "reminder run finished"
        );
    }
    Ok(report)
}

/// One credential of a digest on one line, for the terminal.
fn describe(l: &render::Line) -> String {
    let hint = if l.hint.is_empty() {
        String::new()
    } else {
        format!(" ({})", l.hint)
    };
    format!(
        "[{}] {}: {} \"{}\"{hint} ends {}, {} ({}); last used {}",
        l.environment, l.app, l.kind, l.name, l.end, l.when, l.reminder, l.last_used
    )
}
