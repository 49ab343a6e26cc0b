//! `/api/v1/credentials`, its CSV twin and `/api/v1/environments`, shaped exactly as SPEC.md
//! shows. Filters are parsed into a [`CredentialFilter`] once; a bad value is a 400 naming it.

use super::AppState;
use super::error::ApiError;
use super::query::Params;
use super::view::rfc3339;
use crate::domain::{CredentialKind, Status};
use crate::store::{CredentialFilter, CredentialView, StoreError};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;

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
    /// The newer credential that replaced this one, if it was superseded.
    pub superseded_by: Option<crate::policy::Successor>,
}

#[derive(Debug, Serialize)]
pub struct Excluded {
    pub rule: String,
    pub reason: String,
    pub until: Option<String>,
}

impl CredentialJson {
    fn new(c: CredentialView, state: &AppState, now: DateTime<Utc>) -> Self {
        let excluded = state.config.exclusions.find(&c, now).map(|r| Excluded {
            rule: r.name.clone(),
            reason: r.reason.clone(),
            until: r.until.map(|u| u.to_string()),
        });
        CredentialJson {
            source: c.source(),
            excluded,
            superseded_by: None,
            kind: c.kind(),
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

fn bad(parameter: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::BadParameter {
        parameter,
        message: message.into(),
    }
}

/// `environment`, `status`, `within_days` (and `kind`) into a filter over live credentials.
async fn filter_from(req: &HttpRequest, state: &AppState, now: DateTime<Utc>) -> Result<CredentialFilter, ApiError> {
    let params = Params::parse(req.query_string());
    let mut filter = CredentialFilter::default();
    if let Some(env) = params.get("environment") {
        match state.store.environment_by_name(env).await {
            Ok(e) if e.retired_at.is_none() => filter.environment = Some(e.name),
            Ok(_) | Err(StoreError::NotFound) => return Err(bad("environment", format!("no environment is named {env:?}"))),
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(kind) = params.get("kind") {
        filter.kind = Some(CredentialKind::parse(kind).ok_or_else(|| bad("kind", format!("{kind:?} is not one of secret, certificate")))?);
    }
    if let Some(days) = params.get("within_days") {
        let n: i64 = days
            .trim()
            .parse()
            .ok()
            .filter(|n| (0..=3_000_000).contains(n))
            .ok_or_else(|| bad("within_days", format!("{days:?} is not a whole number of days from 0 to 3000000")))?;
        filter.end_before = Some(now.timestamp() + n * 86_400);
    }
    if let Some(status) = params.get("status") {
        let s = Status::parse(status).ok_or_else(|| bad("status", format!("{status:?} is not one of expired, critical, warning, ok")))?;
        filter = filter.with_status(s, &state.config.status, now);
    }
    Ok(filter)
}

#[derive(Serialize)]
struct CredentialsBody {
    credentials: Vec<CredentialJson>,
}

#[get("/api/v1/credentials")]
pub async fn credentials(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let filter = filter_from(&req, &state, now).await?;
    let rows = state.store.credentials(&filter).await?;
    let siblings = state
        .store
        .live_credentials_of(&rows.iter().map(|c| c.application_id).collect::<Vec<_>>())
        .await?;
    let mut successors = crate::policy::supersession(&siblings, now);
    let body = CredentialsBody {
        credentials: rows
            .into_iter()
            .map(|c| {
                let by = successors.remove(&c.id);
                let mut j = CredentialJson::new(c, &state, now);
                j.superseded_by = by;
                j
            })
            .collect(),
    };
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(body))
}

/// The same rows as a spreadsheet-safe CSV (RFC 4180, formulas neutralised).
#[get("/api/v1/credentials.csv")]
pub async fn credentials_csv(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let filter = filter_from(&req, &state, now).await?;
    let rows = state.store.credentials(&filter).await?;
    let mut out =
        String::from("environment,app_object_id,app_id,app_display_name,kind,key_id,display_name,hint,start,end,days_left,status\r\n");
    for c in rows {
        let j = CredentialJson::new(c, &state, now);
        let cells = [
            text_cell(&j.environment),
            text_cell(&j.app_object_id),
            text_cell(&j.app_id),
            text_cell(j.app_display_name.as_deref().unwrap_or("")),
            j.kind.as_str().to_string(),
            text_cell(&j.key_id),
            text_cell(j.display_name.as_deref().unwrap_or("")),
            text_cell(j.hint.as_deref().unwrap_or("")),
            j.start.unwrap_or_default(),
            j.end,
            j.days_left.to_string(),
            j.status.as_str().to_string(),
        ];
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, "attachment; filename=\"credwatch-credentials.csv\""))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(out))
}

/// A text cell a spreadsheet shows as text: a leading `= + - @`, tab or carriage return would make
/// it a formula (OWASP "CSV injection"), so such cells get a leading apostrophe; then quoted
/// when it holds a separator, a quote or a line break.
pub fn text_cell(s: &str) -> String {
    let neutral = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if neutral.contains([',', '"', '\n', '\r']) || neutral.starts_with(' ') || neutral.ends_with(' ') {
        format!("\"{}\"", neutral.replace('"', "\"\""))
    } else {
        neutral
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
            .map(|e| EnvironmentJson {
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
            })
            .collect(),
    };
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(body))
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
/// [`crate::policy::findings`]), with the counts per kind.
#[get("/api/v1/findings")]
pub async fn findings(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let all = state.store.credentials(&CredentialFilter::default()).await?;
    let findings = crate::policy::findings(&all, now);
    let counts: std::collections::BTreeMap<&str, usize> = crate::policy::FindingKind::ALL
        .iter()
        .map(|k| (k.as_str(), findings.iter().filter(|f| f.kind == *k).count()))
        .collect();
    let rules: Vec<&crate::policy::ExclusionRule> = state.config.exclusions.rules.iter().collect();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({"counts": counts, "findings": findings, "exclusions": rules})))
}
