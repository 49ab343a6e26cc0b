//! `/api/v1/credentials`, its CSV twin and `/api/v1/environments`, shaped exactly as SPEC.md
//! shows. Filters are parsed into a [`CredentialFilter`] once; a bad value is a 400 naming it.

use super::error::ApiError;
use super::query::CredentialQuery;
use super::state::AppState;
use super::stream;
use super::view::rfc3339;
use crate::domain::{Answering, CSV_HEADER, Timestamp, UsageStatus};
use crate::store::{CredentialFilter, StoreError, answers_basis};
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, get, web};
use chrono::Utc;
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;

/// The query's filters as a filter over live credentials; an environment nobody configured is
/// a 400 naming the parameter, like any other bad value.
async fn filter_from(query: &CredentialQuery, state: &AppState, now: Timestamp) -> Result<CredentialFilter, ApiError> {
    let mut filter = CredentialFilter {
        kind: query.kind,
        end_before: query.within_days.map(|d| d.end_before(now)),
        ..Default::default()
    };
    if let Some(env) = &query.environment {
        match state.store.environment_by_name(env).await {
            Ok(e) if e.retired_at.is_none() => filter.environment = Some(e.name),
            Ok(_) | Err(StoreError::NotFound) => {
                return Err(ApiError::BadParameter {
                    parameter: "environment".into(),
                    message: format!("no environment is named {env:?}"),
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(s) = query.status {
        filter = filter.with_status(s, &state.config.status, now);
    }
    Ok(filter)
}

/// `{"credentials": [ … ]}`, streamed in batches (see [`super::stream`]); each row as
/// [`Answer::write_json`] renders it (SPEC.md's fields in its order, then credwatch's own).
#[get("/api/v1/credentials")]
pub async fn credentials(query: web::Query<CredentialQuery>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let now = Timestamp::from(Utc::now());
    let filter = filter_from(&query, &state, now).await?;
    let rules = answers_basis(&state.config.exclusions);
    let first = stream::first_answers(&state.store, &filter, &rules).await?;
    let mut lead = "";
    let rows = stream::answer_batches(state.store.clone(), filter, rules, first).and_then(move |batch| {
        let at = answering(&state, now);
        let mut out = Vec::with_capacity(batch.size_hint(600) * 3 / 2);
        let written = batch.answers(&state.config.exclusions).enumerate().try_for_each(|(i, answer)| {
            let sep = if i == 0 { std::mem::replace(&mut lead, ",") } else { "," };
            out.extend_from_slice(sep.as_bytes());
            answer?.write_json(&mut out, &at);
            Ok(())
        });
        std::future::ready(written.map(|()| Bytes::from(out)))
    });
    let body = futures_util::stream::once(async { stream::chunk(r#"{"credentials":["#) })
        .chain(rows.map_err(stream::cut_short("streaming /api/v1/credentials")))
        .chain(futures_util::stream::once(async { stream::chunk("]}") }));
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

/// The same rows as a spreadsheet-safe CSV (RFC 4180, formulas neutralised; see
/// [`crate::domain::text_cell`]), streamed in batches.
#[get("/api/v1/credentials.csv")]
pub async fn credentials_csv(query: web::Query<CredentialQuery>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let now = Timestamp::from(Utc::now());
    let filter = filter_from(&query, &state, now).await?;
    let rules = answers_basis(&state.config.exclusions);
    let first = stream::first_answers(&state.store, &filter, &rules).await?;
    let rows = stream::answer_batches(state.store.clone(), filter, rules, first).and_then(move |batch| {
        let at = answering(&state, now);
        let mut out = String::with_capacity(batch.size_hint(300));
        let written = batch
            .answers(&state.config.exclusions)
            .try_for_each(|answer| answer.map(|a| a.write_csv(&mut out, &at)));
        std::future::ready(written.map(|()| Bytes::from(out)))
    });
    let body = futures_util::stream::once(async { stream::chunk(CSV_HEADER) })
        .chain(rows.map_err(stream::cut_short("streaming /api/v1/credentials.csv")));
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, "attachment; filename=\"credwatch-credentials.csv\""))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

/// What an answer's time-dependent fields are worked out with.
fn answering(state: &AppState, now: Timestamp) -> Answering<'_> {
    Answering {
        thresholds: &state.config.status,
        active_days: state.config.usage.active_days,
        exclusions: &state.config.exclusions,
        now,
    }
}

#[derive(Serialize)]
struct EnvironmentJson {
    name: String,
    tenant_id: String,
    last_sync_at: Option<String>,
    last_success_at: Option<String>,
    last_error: Option<String>,
    applications: i64,
    credentials: i64,
    /// `ok`, `no_permission`, `no_license`, `unavailable` or `off`.
    usage_status: UsageStatus,
    /// The last complete read of usage: the age of the values shown.
    usage_read_at: Option<String>,
    /// Why usage is unknown and what fixes it, when it is.
    usage_reason: Option<&'static str>,
}

#[derive(Serialize)]
struct EnvironmentsBody {
    environments: Vec<EnvironmentJson>,
}

#[get("/api/v1/environments")]
pub async fn environments(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let envs = state.store.environment_states().await?;
    let body = EnvironmentsBody {
        environments: envs
            .into_iter()
            .map(|e| {
                let usage_status = usage_status(&state, &e);
                EnvironmentJson {
                    usage_reason: usage_status.explanation(),
                    usage_status,
                    usage_read_at: e.usage_read_at.map(rfc3339),
                    last_sync_at: e.last_run_finished_at.map(rfc3339),
                    last_success_at: e.last_success_at.map(rfc3339),
                    // The error of the latest run, so a recovered environment shows none.
                    last_error: if e.last_run_outcome.as_deref() == Some("success") {
                        None
                    } else {
                        e.last_run_error
                    },
                    applications: e.applications,
                    credentials: e.credentials,
                    name: e.name,
                    tenant_id: e.tenant_id,
                }
            })
            .collect(),
    };
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(body))
}

/// An environment's usage status: off as configured, else as the last attempt left it
/// (`unavailable` before the first).
pub fn usage_status(state: &AppState, e: &crate::store::EnvironmentState) -> UsageStatus {
    if !state.config.environment(&e.name).is_some_and(|c| c.usage) {
        return UsageStatus::Off;
    }
    e.usage_status
        .as_deref()
        .and_then(UsageStatus::parse)
        .unwrap_or(UsageStatus::Unavailable)
}

/// `GET /api/v1/findings`: the policy findings over every live credential (see
/// [`crate::domain::findings`]), with the counts per kind.
#[get("/api/v1/findings")]
pub async fn findings(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let now = Timestamp::from(Utc::now());
    let all = state.store.credentials(&CredentialFilter::default()).await?;
    let findings = crate::domain::findings_with_usage(&all, Some(&super::findings::usage_findings(&state).await?), now);
    let counts: std::collections::BTreeMap<&str, usize> = crate::domain::FindingKind::ALL
        .iter()
        .map(|k| (k.as_str(), findings.iter().filter(|f| f.kind == *k).count()))
        .collect();
    let rules: Vec<&crate::domain::ExclusionRule> = state.config.exclusions.rules.iter().collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({"counts": counts, "findings": findings, "exclusions": rules})))
}
