//! `GET /metrics`: Prometheus text format (version 0.0.4), derived from the store, so runs made by
//! `credwatch sync` and `credwatch remind` count as well as the server's own.

use super::error::PageError;
use super::snapshot::SnapshotCache;
use super::state::AppState;
use super::stream;
use crate::domain::{Status, Usage};
use crate::store::Expiry;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, get, web};
use futures_util::{StreamExt, TryStreamExt};
use std::fmt::Write;

/// Escapes a label value as the text format requires: backslash, double quote and line feed.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// The environment-level families first (a few lines each), then one expiry series per live
/// credential, streamed in batches (see [`super::stream`]).
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>, cache: web::Data<SnapshotCache>) -> Result<HttpResponse, PageError> {
    let (envs, snap) = cache.get(&state).await?;
    let sent = state.store.reminders_sent().await?;
    let mut out = String::with_capacity(4 << 10);
    header(
        &mut out,
        "credwatch_sync_last_success_timestamp_seconds",
        "gauge",
        "When the last successful sync of each environment finished, in Unix seconds (0: never).",
    );
    for e in envs.iter() {
        let _ = writeln!(
            out,
            "credwatch_sync_last_success_timestamp_seconds{{environment=\"{}\"}} {}",
            escape_label(&e.name),
            e.last_success_at.map_or_else(|| "0".into(), |t| t.unix_seconds_decimal())
        );
    }
    header(
        &mut out,
        "credwatch_sync_failures_total",
        "counter",
        "Sync runs of each environment that failed.",
    );
    for e in envs.iter() {
        let _ = writeln!(
            out,
            "credwatch_sync_failures_total{{environment=\"{}\"}} {}",
            escape_label(&e.name),
            e.failures
        );
    }
    header(
        &mut out,
        "credwatch_reminders_sent_total",
        "counter",
        "Reminders the mail server accepted.",
    );
    let _ = writeln!(out, "credwatch_reminders_sent_total {sent}");
    let events = state.store.event_counts().await?;
    header(
        &mut out,
        "credwatch_events_total",
        "counter",
        "Events of the credential event log by kind (acknowledgements, snoozes, escalations, …).",
    );
    // Every kind, zeros included: a rate over a series that appears late misses its first step.
    for kind in crate::domain::EventKind::ALL {
        let n = events.iter().find(|(k, _)| k == kind.as_str()).map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "credwatch_events_total{{kind=\"{}\"}} {n}", kind.as_str());
    }
    header(
        &mut out,
        "credwatch_credentials",
        "gauge",
        "Live credentials of each environment by status and usage (in_use, idle, unknown; refreshed every few seconds).",
    );
    for e in envs.iter() {
        for s in Status::ALL {
            for u in Usage::ALL {
                let count: i64 = snap
                    .usage_counts
                    .iter()
                    .filter(|c| c.environment_id == e.id && c.status == s && c.usage == u)
                    .map(|c| c.count)
                    .sum();
                let _ = writeln!(
                    out,
                    "credwatch_credentials{{environment=\"{}\",status=\"{}\",usage=\"{}\"}} {count}",
                    escape_label(&e.name),
                    s.as_str(),
                    u.as_str(),
                );
            }
        }
    }
    header(
        &mut out,
        "credwatch_credential_expiry_timestamp_seconds",
        "gauge",
        "When each live credential expires, in Unix seconds.",
    );
    let first = state.store.live_expiries(0, stream::BATCH).await?;
    let store = state.store.clone();
    let batches = stream::keyset_batches(
        first,
        |c| c.id,
        move |after| {
            let store = store.clone();
            async move { store.live_expiries(after, stream::BATCH).await }
        },
    )
    .map_ok(|rows| series(&rows));
    let body =
        futures_util::stream::once(async move { stream::chunk(out) }).chain(batches.map_err(stream::cut_short("streaming /metrics")));
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .streaming(body))
}

/// One batch of expiry series.
fn series(rows: &[Expiry]) -> Bytes {
    let mut out = String::with_capacity(rows.len() * 192);
    for c in rows {
        let _ = writeln!(
            out,
            "credwatch_credential_expiry_timestamp_seconds{{environment=\"{}\",app_id=\"{}\",app_name=\"{}\",kind=\"{}\",key_id=\"{}\"}} {}",
            escape_label(&c.environment),
            escape_label(&c.app_id),
            escape_label(c.app_name.as_deref().unwrap_or("")),
            c.kind.as_str(),
            escape_label(&c.key_id),
            c.end_at.unix_seconds_decimal()
        );
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn label_values_are_escaped() {
        assert_eq!(super::escape_label("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }
}
