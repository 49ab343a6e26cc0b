//! `GET /api/v1/events`: what happened to credentials (reminded, acknowledged, snoozed, disputed,
//! escalated, rotated, removed), newest first, as SPEC.md names it; paged by event id.

use super::error::ApiError;
use super::query::{EVENTS_PER_PAGE, EventQuery};
use super::state::AppState;
use super::view::rfc3339;
use crate::store::{EventFilter, EventRow, StoreError};
use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use serde::Serialize;

/// One event. Field order is SPEC.md's; `id` pages.
#[derive(Debug, Serialize)]
pub struct EventJson {
    pub at: String,
    pub environment: String,
    pub app_id: String,
    pub key_id: String,
    pub kind: String,
    /// Who: a user, a reminder's recipient, or null for credwatch itself.
    pub actor: Option<String>,
    /// `email`, `dashboard`, `api` or `system`.
    pub via: String,
    pub note: Option<String>,
    pub id: i64,
}

impl From<EventRow> for EventJson {
    fn from(e: EventRow) -> Self {
        EventJson {
            at: rfc3339(e.at),
            environment: e.environment,
            app_id: e.app_id,
            key_id: e.key_id,
            kind: e.kind,
            actor: e.actor,
            via: e.via,
            note: e.note,
            id: e.id,
        }
    }
}

#[derive(Debug, Serialize)]
struct EventsJson {
    events: Vec<EventJson>,
    /// The next (older) page's address, or null on the last page.
    next: Option<String>,
}

#[get("/api/v1/events")]
pub async fn events(query: web::Query<EventQuery>, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if let Some(env) = &query.environment {
        match state.store.environment_by_name(env).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => {
                return Err(ApiError::BadParameter {
                    parameter: "environment".into(),
                    message: format!("no environment is named {env:?}"),
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
    let limit = query.limit.unwrap_or(EVENTS_PER_PAGE);
    // One more than asked: whether there is a next page, without counting.
    let mut rows = state
        .store
        .events(&EventFilter {
            environment: query.environment.clone(),
            key_id: query.key_id.clone(),
            kind: query.kind,
            since: query.since,
            before_id: query.before,
            limit: i64::from(limit) + 1,
            ..Default::default()
        })
        .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = match (more, rows.last()) {
        (true, Some(last)) => {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            if let Some(e) = &query.environment {
                q.append_pair("environment", e);
            }
            if let Some(k) = &query.key_id {
                q.append_pair("key_id", k);
            }
            if let Some(k) = query.kind {
                q.append_pair("kind", k.as_str());
            }
            if let Some(s) = query.since {
                q.append_pair("since", &rfc3339(s));
            }
            q.append_pair("limit", &limit.to_string());
            q.append_pair("before", &last.id.to_string());
            Some(format!("/api/v1/events?{}", q.finish()))
        }
        _ => None,
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(EventsJson {
            events: rows.into_iter().map(EventJson::from).collect(),
            next,
        }))
}
