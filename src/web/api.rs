//! `/api/v1/credentials`, its CSV twin and `/api/v1/environments`, shaped exactly as SPEC.md
//! shows. Filters are parsed into a [`CredentialFilter`] once; a bad value is a 400 naming it.

use super::error::ApiError;
use super::query::CredentialQuery;
use super::state::AppState;
use super::stream;
use super::view::rfc3339;
use crate::domain::{Credential, CredentialKind, Rotation, Sibling, Status, Timestamp, Usage, UsageStatus};
use crate::store::{CredentialFilter, StoreError, WithNewer};
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, get, web};
use chrono::Utc;
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;
use std::fmt::Write as _;

/// One live credential, the API's row. Field order is SPEC.md's.
#[derive(Debug, Serialize)]
pub struct CredentialJson {
    pub environment: String,
    pub app_object_id: String,
    pub app_id: String,
    pub app_display_name: Option<String>,
    pub kind: CredentialKind,
    pub key_id: String,
    pub display_name: Option<String>,
    pub hint: Option<String>,
    pub start: Option<String>,
    pub end: String,
    pub days_left: i64,
    pub status: Status,
    /// Beyond SPEC.md's fields: `application` (app registration) or `service_principal`
    /// (enterprise application).
    pub source: crate::domain::Source,
    /// The exclusion rule silencing this credential's reminders, if one applies.
    pub excluded: Option<Excluded>,
    /// The newer credential that replaced this one, if it was superseded. Where sign-in
    /// evidence gives a rotation verdict, that replaces the time-based guess: `complete` keeps
    /// it, `in_progress` clears it (the old one is still needed).
    pub superseded_by: Option<crate::domain::Successor>,
    /// The last recorded sign-in with this credential (RFC 3339), or null.
    pub last_used_at: Option<String>,
    /// `in_use`, `idle` or `unknown` (see `usage.active_days`).
    pub usage: Usage,
    /// What the sign-in evidence says of a rotation away from this credential, if any.
    pub rotation: Option<Rotation>,
    /// Who said "I'm on it", or null.
    pub acknowledged_by: Option<String>,
    /// Until when its reminders are snoozed (RFC 3339), or null when not snoozed now.
    pub snoozed_until: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Excluded {
    pub rule: String,
    pub reason: String,
    pub until: Option<String>,
}

impl CredentialJson {
    fn new(c: Credential, state: &AppState, now: Timestamp) -> Self {
        let excluded = state.config.exclusions.find(&c, now).map(|r| Excluded {
            rule: r.name.clone(),
            reason: r.reason.clone(),
            until: r.until.map(|u| u.to_string()),
        });
        CredentialJson {
            acknowledged_by: c.attention.acknowledged.as_ref().map(|a| a.by.clone()),
            snoozed_until: c.attention.snoozed_until.filter(|u| *u > now).map(rfc3339),
            source: c.app_source,
            excluded,
            superseded_by: None,
            last_used_at: c.last_use.at().map(rfc3339),
            usage: c.usage(state.config.usage.active_days, now),
            rotation: None,
            kind: c.kind,
            days_left: c.days_left(now),
            status: c.status(&state.config.status, now),
            start: c.start_at.map(rfc3339),
            end: rfc3339(c.end_at),
            environment: c.environment,
            app_object_id: c.app_object_id,
            app_id: c.app_id,
            app_display_name: c.app_display_name,
            key_id: c.key_id,
            display_name: c.display_name,
            hint: c.hint,
        }
    }
}

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

/// `{"credentials": [ … ]}`, streamed in batches (see [`super::stream`]); each batch's rotation
/// awareness is worked out from its own applications' live credentials.
#[get("/api/v1/credentials")]
pub async fn credentials(query: web::Query<CredentialQuery>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let now = Timestamp::from(Utc::now());
    let filter = filter_from(&query, &state, now).await?;
    let first = stream::first_with_newer(&state.store, &filter).await?;
    let mut lead = "";
    let rows = stream::batches_with_newer(state.store.clone(), filter, first).and_then(move |rows| {
        let sep = std::mem::replace(&mut lead, ",");
        let mut out = Vec::with_capacity(rows.len() * 512);
        for (i, WithNewer { credential: c, newer }) in rows.into_iter().enumerate() {
            out.extend_from_slice(if i == 0 { sep } else { "," }.as_bytes());
            let (by, verdict) = crate::domain::rotation_of((Sibling::from(&c), c.last_use), newer, now);
            let mut j = CredentialJson::new(c, &state, now);
            j.superseded_by = match &verdict {
                Some(v) if v.rotation == Rotation::InProgress => None,
                _ => by,
            };
            j.rotation = verdict.map(|v| v.rotation);
            if let Err(e) = serde_json::to_writer(&mut out, &j) {
                return std::future::ready(Err(StoreError::Setup(format!("encoding a credential: {e}"))));
            }
        }
        std::future::ready(Ok(Bytes::from(out)))
    });
    let body = futures_util::stream::once(async { stream::chunk(r#"{"credentials":["#) })
        .chain(rows.map_err(stream::cut_short("streaming /api/v1/credentials")))
        .chain(futures_util::stream::once(async { stream::chunk("]}") }));
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

/// The same rows as a spreadsheet-safe CSV (RFC 4180, formulas neutralised), streamed in batches.
#[get("/api/v1/credentials.csv")]
pub async fn credentials_csv(query: web::Query<CredentialQuery>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let now = Timestamp::from(Utc::now());
    let filter = filter_from(&query, &state, now).await?;
    let first = stream::first_with_newer(&state.store, &filter).await?;
    let rows = stream::batches_with_newer(state.store.clone(), filter, first).map_ok(move |rows| {
        let mut out = String::with_capacity(rows.len() * 256);
        for WithNewer { credential: c, newer } in rows {
            let (_, verdict) = crate::domain::rotation_of((Sibling::from(&c), c.last_use), newer, now);
            let mut j = CredentialJson::new(c, &state, now);
            j.rotation = verdict.map(|v| v.rotation);
            for cell in [
                j.environment.as_str(),
                &j.app_object_id,
                &j.app_id,
                j.app_display_name.as_deref().unwrap_or(""),
            ] {
                push_text_cell(&mut out, cell);
                out.push(',');
            }
            out.push_str(j.kind.as_str());
            out.push(',');
            for cell in [&j.key_id, j.display_name.as_deref().unwrap_or(""), j.hint.as_deref().unwrap_or("")] {
                push_text_cell(&mut out, cell);
                out.push(',');
            }
            let _ = write!(
                out,
                "{},{},{},{},{},{},{},",
                j.start.as_deref().unwrap_or(""),
                j.end,
                j.days_left,
                j.status.as_str(),
                j.last_used_at.as_deref().unwrap_or(""),
                j.usage.as_str(),
                j.rotation.map(|r| r.as_str()).unwrap_or("")
            );
            push_text_cell(&mut out, j.acknowledged_by.as_deref().unwrap_or(""));
            let _ = write!(out, ",{}\r\n", j.snoozed_until.as_deref().unwrap_or(""));
        }
        Bytes::from(out)
    });
    let body = futures_util::stream::once(async {
        stream::chunk("environment,app_object_id,app_id,app_display_name,kind,key_id,display_name,hint,start,end,days_left,status,last_used_at,usage,rotation,acknowledged_by,snoozed_until\r\n")
    })
    .chain(rows.map_err(stream::cut_short("streaming /api/v1/credentials.csv")));
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, "attachment; filename=\"credwatch-credentials.csv\""))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

/// A text cell a spreadsheet shows as text: a leading `= + - @`, tab or carriage return would make
/// it a formula (OWASP "CSV injection"), so such cells get a leading apostrophe; then quoted
/// when it holds a separator, a quote or a line break.
pub fn text_cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_text_cell(&mut out, s);
    out
}

/// [`text_cell`], appended to `out` (the CSV writes a million cells without a String each).
pub fn push_text_cell(out: &mut String, s: &str) {
    let formula = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quoted = s.contains([',', '"', '\n', '\r']) || (!formula && s.starts_with(' ')) || s.ends_with(' ');
    if quoted {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    if quoted {
        for (i, part) in s.split('"').enumerate() {
            if i > 0 {
                out.push_str("\"\"");
            }
            out.push_str(part);
        }
        out.push('"');
    } else {
        out.push_str(s);
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

#[cfg(test)]
mod tests {
    use super::text_cell;

    #[test]
    fn csv_cells_cannot_become_formulas() {
        assert_eq!(
            text_cell("=HYPERLINK(\"http://evil\",\"x\")"),
            "\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\""
        );
        assert_eq!(text_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(text_cell("-2+3"), "'-2+3");
        assert_eq!(text_cell("\tx"), "'\tx");
        assert_eq!(text_cell("a\r\nb"), "\"a\r\nb\"");
        assert_eq!(text_cell("plain"), "plain");
    }
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
