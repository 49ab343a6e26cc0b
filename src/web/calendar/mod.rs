//! The ICS feed: `/calendar.ics?token=T` (every environment) and
//! `/calendar/{environment}.ics?token=T` (one), RFC 5545 (see [`ics`] for how it is written and
//! [`feed`] for the events).
//!
//! **Filters.** Both paths take `environment` (the first path only), `status` (one of the four),
//! `within_days=N` (ending less than N days ahead, expired included) and `owner` (a mail address
//! or user principal name: the applications that person owns), and `group=day` for one event per
//! day instead of one per credential. Empty parameters count as absent (an HTML form sends them).
//!
//! **Size.** Only credentials whose end lies within [`HORIZON_PAST_DAYS`] days ago up to
//! [`HORIZON_FUTURE_DAYS`] days ahead are in a feed: "never expires" secrets ending in 2299 and
//! long-expired leftovers would only bloat it. A feed that would still hold more events than
//! `calendar.max_events` switches to one event per day by itself, and says so in its name: no
//! calendar client subscribes to hundreds of megabytes, and a day-grouped feed is bounded by the
//! horizon's 431 days whatever the tenant's size.
//!
//! **Cost.** The body is streamed (credentials in keyset batches, days one by one), so a download
//! holds a batch at most; a reader that stops reading is cut off (see [`stall`]). The ETag is
//! derived before anything is read: from the stored data's version (which any process's sync
//! changes), the clock the feed is computed at, the filters and the settings that shape it. So a
//! `304 Not Modified` costs one tiny query, and a body is a pure function of its ETag's inputs.
//!
//! **Clock.** A feed is computed as of the start of the current UTC day, or of the current UTC
//! hour when it filters by `status` or `within_days` (whose answers move with time). Between two
//! such instants a feed, and its ETag, change only when the data does.

pub mod feed;
pub mod ics;
pub mod stall;
mod subscribe;

pub use subscribe::{FeedLinks, SubscribeBox};

use super::AppState;
use super::stream::{self, cut_short};
use crate::domain::Status;
use crate::store::{CredentialFilter, CredentialView, DAY, StoreError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, ResponseError, get, web};
use chrono::{DateTime, Utc};
use feed::{Context, Day};
use futures_util::{StreamExt, TryStreamExt, stream as streams};
use ics::Writer;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::rc::Rc;
use subtle::ConstantTimeEq;

/// Credentials that ended more than this many days ago are left out of the feed.
pub const HORIZON_PAST_DAYS: i64 = 30;
/// Credentials ending more than this many days ahead are left out of the feed.
pub const HORIZON_FUTURE_DAYS: i64 = 400;
/// Bumped whenever the feed's bytes change for the same data, so cached ETags stop matching.
const FORMAT: &str = "feed-2";
/// Credentials rendered into one chunk of the body (about 200 KB).
const CHUNK_EVENTS: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum IcsError {
    #[error("a valid calendar token is required")]
    Forbidden,
    #[error("no such environment")]
    NotFound,
    #[error("{parameter}: {message}")]
    BadParameter { parameter: &'static str, message: String },
    #[error("the calendar is unavailable")]
    Store(#[from] StoreError),
}

impl ResponseError for IcsError {
    fn status_code(&self) -> StatusCode {
        match self {
            IcsError::Forbidden => StatusCode::FORBIDDEN,
            IcsError::NotFound => StatusCode::NOT_FOUND,
            IcsError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            IcsError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let IcsError::Store(e) = self {
            tracing::error!(error = %e, "calendar feed: reading the store failed");
        }
        HttpResponse::build(self.status_code())
            .content_type("text/plain; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(format!("{self}\n"))
    }
}

fn bad(parameter: &'static str, message: impl Into<String>) -> IcsError {
    IcsError::BadParameter {
        parameter,
        message: message.into(),
    }
}

/// The query string as sent; [`Filters::parse`] validates it once the token matched.
#[derive(Debug, Default, Deserialize)]
pub struct FeedQuery {
    token: Option<String>,
    environment: Option<String>,
    status: Option<String>,
    within_days: Option<String>,
    owner: Option<String>,
    group: Option<String>,
}

/// True only when a token is configured and `given` equals it. Both sides are hashed first so the
/// comparison is constant-time whatever their lengths.
pub fn token_matches(configured: Option<&SecretString>, given: Option<&str>) -> bool {
    let (Some(configured), Some(given)) = (configured, given) else {
        return false;
    };
    let a = Sha256::digest(configured.expose_secret().as_bytes());
    let b = Sha256::digest(given.as_bytes());
    bool::from(a.ct_eq(&b))
}

/// What a feed shows, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub environment: Option<String>,
    pub status: Option<Status>,
    pub within_days: Option<i64>,
    pub owner: Option<String>,
    /// `group=day`: one event per day whatever the count.
    pub by_day: bool,
}

/// Longest `owner` accepted (RFC 5321 limits an address to 254 octets).
const MAX_OWNER: usize = 320;

impl Filters {
    /// `path_environment` is the environment named by the path, if any.
    pub fn parse(q: &FeedQuery, path_environment: Option<&str>, state: &AppState) -> Result<Filters, IcsError> {
        let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
        let environment = match (path_environment, given(&q.environment)) {
            (Some(path), Some(query)) if path != query => {
                return Err(bad("environment", format!("the address names {path:?} already")));
            }
            (Some(path), _) => {
                // The token was checked first: only its holder learns which environments exist.
                state.config.environment(path).ok_or(IcsError::NotFound)?;
                Some(path.to_string())
            }
            (None, Some(env)) => {
                if state.config.environment(&env).is_none() {
                    return Err(bad("environment", format!("no environment is named {env:?}")));
                }
                Some(env)
            }
            (None, None) => None,
        };
        let status = given(&q.status)
            .map(|s| Status::parse(&s).ok_or_else(|| bad("status", format!("{s:?} is not one of expired, critical, warning, ok"))))
            .transpose()?;
        let within_days = given(&q.within_days)
            .map(|d| {
                d.parse::<i64>()
                    .ok()
                    .filter(|n| (0..=3_000_000).contains(n))
                    .ok_or_else(|| bad("within_days", format!("{d:?} is not a whole number of days from 0 to 3000000")))
            })
            .transpose()?;
        let owner = given(&q.owner)
            .map(|o| {
                if o.len() > MAX_OWNER || o.chars().any(char::is_control) {
                    Err(bad("owner", format!("give a mail address or user principal name of at most {MAX_OWNER} characters")))
                } else {
                    Ok(o)
                }
            })
            .transpose()?;
        let by_day = match given(&q.group).as_deref() {
            None => false,
            Some("day") => true,
            Some(other) => return Err(bad("group", format!("{other:?} is not a grouping; use day"))),
        };
        Ok(Filters {
            environment,
            status,
            within_days,
            owner,
            by_day,
        })
    }

    /// The filters in one fixed order, the way feed links write them (without `group`).
    pub fn canonical(&self) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        if let Some(env) = &self.environment {
            out.append_pair("environment", env);
        }
        if let Some(s) = self.status {
            out.append_pair("status", s.as_str());
        }
        if let Some(d) = self.within_days {
            out.append_pair("within_days", &d.to_string());
        }
        if let Some(o) = &self.owner {
            out.append_pair("owner", o);
        }
        out.finish()
    }

    /// Whether the answer moves with the clock within a day.
    fn hourly(&self) -> bool {
        self.status.is_some() || self.within_days.is_some()
    }

    /// The instant the feed is computed at (see the module's note on the clock).
    fn clock(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let step = if self.hourly() { 3_600 } else { DAY };
        DateTime::from_timestamp(now.timestamp().div_euclid(step) * step, 0).unwrap_or(now)
    }

    /// The store's filter as of `clock`: the horizon, narrowed by the filters.
    fn store_filter(&self, clock: DateTime<Utc>, state: &AppState) -> CredentialFilter {
        let today = clock.timestamp().div_euclid(DAY) * DAY;
        let mut filter = CredentialFilter {
            environment: self.environment.clone(),
            owner: self.owner.clone(),
            end_from: Some(today - HORIZON_PAST_DAYS * DAY),
            // Through the whole of the last day ahead.
            end_before: Some(today + (HORIZON_FUTURE_DAYS + 1) * DAY),
            ..Default::default()
        };
        if let Some(n) = self.within_days {
            filter.end_before = filter.end_before.map(|b| b.min(clock.timestamp() + n * DAY));
        }
        if let Some(s) = self.status {
            filter = filter.with_status(s, &state.config.status, clock);
        }
        filter
    }

    /// The calendar's name: where it looks, what it keeps, and how it is grouped.
    fn name(&self, form: Form, max_events: u64) -> String {
        let mut name = match &self.environment {
            Some(env) => format!("credwatch: {}", feed::whole(env)),
            None => "credwatch: all environments".to_string(),
        };
        if let Some(s) = self.status {
            let _ = write!(name, ", {}", s.as_str());
        }
        if let Some(d) = self.within_days {
            let _ = write!(name, ", within {d} days");
        }
        if let Some(o) = &self.owner {
            let _ = write!(name, ", owned by {}", feed::whole(o));
        }
        match form {
            Form::PerCredential => {}
            Form::PerDay { automatic: false } => name.push_str(" (by day)"),
            Form::PerDay { automatic: true } => {
                let _ = write!(name, " (by day: more than {} credentials)", super::view::thousands(max_events as i64));
            }
        }
        name
    }
}

/// The two forms of a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    PerCredential,
    /// `automatic`: chosen because the feed would hold more than `calendar.max_events` events.
    PerDay { automatic: bool },
}

#[get("/calendar.ics")]
pub async fn calendar_all(state: web::Data<AppState>, query: web::Query<FeedQuery>, req: HttpRequest) -> Result<HttpResponse, IcsError> {
    serve(&state, &query, None, &req).await
}

#[get("/calendar/{environment}.ics")]
pub async fn calendar_environment(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<FeedQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, IcsError> {
    serve(&state, &query, Some(&path.into_inner()), &req).await
}

async fn serve(state: &AppState, query: &FeedQuery, environment: Option<&str>, req: &HttpRequest) -> Result<HttpResponse, IcsError> {
    // The token first: without it, nobody learns which environments or filters exist.
    if !token_matches(state.config.calendar.token.as_ref(), query.token.as_deref()) {
        return Err(IcsError::Forbidden);
    }
    let filters = Filters::parse(query, environment, state)?;
    let clock = filters.clock(Utc::now());
    let etag = etag(&state.store.feed_version().await?, clock, &filters, state);
    if if_none_match(req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish());
    }

    let filter = filters.store_filter(clock, state);
    // Counted per day from the expiry index: enough to choose the form, and all a day-grouped
    // feed needs besides the few credentials it names.
    let days = Day::group(state.store.feed_days(&filter).await?);
    let total: i64 = days.iter().map(|d| d.total).sum();
    let max_events = state.config.calendar.max_events;
    let form = if filters.by_day {
        Form::PerDay { automatic: false }
    } else if total as u64 > max_events {
        Form::PerDay { automatic: true }
    } else {
        Form::PerCredential
    };
    let cx = Rc::new(Context {
        ladder: state.config.reminders.clone(),
        public_url: state.config.server.public_url.clone(),
        scope: ics::tag(&filters.canonical()),
    });

    let mut head = Writer::with_capacity(1024);
    let description = match form {
        Form::PerCredential => "Expiry of Microsoft Entra ID app-registration secrets and certificates: one event per credential",
        Form::PerDay { .. } => "Expiry of Microsoft Entra ID app-registration secrets and certificates: one event per UTC day on which some end",
    };
    feed::header(&mut head, &filters.name(form, max_events), description);
    let head = streams::once(std::future::ready(Ok::<_, StoreError>(Bytes::from(head.take()))));
    let events = match form {
        Form::PerCredential => {
            let first = stream::first_credentials(&state.store, &filter).await?;
            let cx = cx.clone();
            stream::credential_batches(state.store.clone(), filter, first)
                .map_ok(move |batch| render_credentials(batch, cx.clone()))
                .try_flatten()
                .boxed_local()
        }
        Form::PerDay { .. } => {
            let store = state.store.clone();
            streams::iter(days)
                .then(move |day| {
                    let (store, filter, cx) = (store.clone(), filter.clone(), cx.clone());
                    async move {
                        let mut of_day = filter;
                        of_day.end_from = Some(of_day.end_from.map_or(day.start(), |f| f.max(day.start())));
                        of_day.end_before = Some(of_day.end_before.map_or(day.start() + DAY, |b| b.min(day.start() + DAY)));
                        let listed = store.credentials_page(&of_day, None, 0, feed::DAY_LIST as i64).await?;
                        let mut w = Writer::with_capacity(8 * 1024);
                        feed::day_event(&mut w, &day, &listed, &cx);
                        Ok::<_, StoreError>(Bytes::from(w.take()))
                    }
                })
                .boxed_local()
        }
    };
    let tail = streams::once(std::future::ready(Ok(Bytes::from_static(b"END:VCALENDAR\r\n"))));
    let body = head.chain(events).chain(tail).map_err(cut_short("streaming the calendar feed"));
    let socket = req.conn_data::<stall::ConnectionSocket>().cloned();
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((header::ETAG, etag))
        // The token is in the URL: nothing may keep a copy.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(stall::guard(body, socket, state.config.calendar.stall_timeout)))
}

/// A batch of credentials as a stream of chunks, rendered as the body is read: a batch's rows
/// stay in memory until sent, its text only a chunk at a time.
fn render_credentials(
    batch: Vec<CredentialView>,
    cx: Rc<Context>,
) -> impl futures_util::Stream<Item = Result<Bytes, StoreError>> {
    let mut rows = batch.into_iter();
    streams::iter(std::iter::from_fn(move || {
        let mut w = Writer::with_capacity(CHUNK_EVENTS * 1_600);
        for c in rows.by_ref().take(CHUNK_EVENTS) {
            feed::credential_event(&mut w, &c, &cx);
        }
        (!w.is_empty()).then(|| Ok(Bytes::from(w.take())))
    }))
}

/// The feed's entity tag (see the module's note on cost).
fn etag(version: &str, clock: DateTime<Utc>, filters: &Filters, state: &AppState) -> String {
    let c = &state.config;
    let shape = format!(
        "{FORMAT}|{version}|{}|{}|{}|{:?}|{}|{:?}|{}|{}|{}",
        clock.timestamp(),
        filters.canonical(),
        filters.by_day,
        (c.reminders.days_before(), c.reminders.expired_notice()),
        c.server.public_url,
        (c.status.critical_days, c.status.warning_days),
        c.calendar.max_events,
        HORIZON_PAST_DAYS,
        HORIZON_FUTURE_DAYS,
    );
    let digest = Sha256::digest(shape.as_bytes());
    let hex = digest[..16].iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    });
    format!("\"{hex}\"")
}

/// True when the request's If-None-Match lists `etag` (weakly compared, as RFC 9110 asks for GET).
fn if_none_match(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v: &HeaderValue| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        let t = SecretString::from("s3cret".to_string());
        assert!(token_matches(Some(&t), Some("s3cret")));
        assert!(!token_matches(Some(&t), Some("s3cre")));
        assert!(!token_matches(Some(&t), Some("")));
        assert!(!token_matches(Some(&t), None));
        assert!(!token_matches(None, Some("")));
        assert!(!token_matches(None, None));
    }

    #[test]
    fn the_clock_is_the_day_or_the_hour() {
        let now = DateTime::parse_from_rfc3339("2026-03-15T14:35:12Z").unwrap().with_timezone(&Utc);
        assert_eq!(Filters::default().clock(now).to_rfc3339(), "2026-03-15T00:00:00+00:00");
        let hourly = Filters {
            within_days: Some(7),
            ..Default::default()
        };
        assert_eq!(hourly.clock(now).to_rfc3339(), "2026-03-15T14:00:00+00:00");
    }

    #[test]
    fn canonical_filters_are_ordered_and_encoded() {
        let f = Filters {
            environment: Some("prod".into()),
            status: Some(Status::Critical),
            within_days: Some(30),
            owner: Some("Ann Lee+ops@contoso.com".into()),
            by_day: true,
        };
        assert_eq!(f.canonical(), "environment=prod&status=critical&within_days=30&owner=Ann+Lee%2Bops%40contoso.com");
        assert_eq!(Filters::default().canonical(), "");
    }
}
