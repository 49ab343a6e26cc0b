//! The ICS feed: `/calendar.ics?token=T` (every environment) and
//! `/calendar/{environment}.ics?token=T` (one), RFC 5545 (see [`ics`] for how it is written and
//! [`feed`] for what it shows).
//!
//! **Filters.** Both paths take `environment` (the first path only), `status` (one of the four),
//! `within_days=N` (ending less than N days ahead, expired included) and `owner` (a mail address
//! or user principal name: the applications that person owns), and `group=day` for one event per
//! day instead of one per credential. They are read only once the token matched: without it,
//! every address is a 403 and nobody learns which environments or filters exist.
//!
//! **Size.** Only credentials whose end lies within [`feed::HORIZON_PAST_DAYS`] days ago up to
//! [`feed::HORIZON_FUTURE_DAYS`] days ahead are in a feed: "never expires" secrets ending in 2299
//! and long-expired leftovers would only bloat it. A feed that would still hold more events than
//! `calendar.max_events` switches to one event per day by itself, and says so in its name: no
//! calendar client subscribes to hundreds of megabytes, and a day-grouped feed is bounded by the
//! horizon's 431 days whatever the tenant's size.
//!
//! **Cost.** One event per credential is streamed (keyset batches), so a download holds a batch at
//! most; a day-grouped feed (a few MB whatever the tenant) is rendered once per ETag and its bytes
//! shared ([`cache`]). A reader that stops reading is cut off (see [`stall`]). The ETag is
//! derived before anything is read: from the stored data's version (which any process's sync
//! changes), the clock the feed is computed at ([`Filters::clock`]), the filters and the settings
//! that shape it. So a `304 Not Modified` costs one tiny query, and a body is a pure function of
//! its ETag's inputs.

mod cache;
pub mod feed;
pub mod ics;
pub mod stall;
mod subscribe;

pub use cache::FeedCache;
pub use subscribe::{FeedLinks, SubscribeBox};

use super::query::{self, FeedQuery, FeedToken};
use super::state::AppState;
use super::stream::{self, cut_short};
use crate::domain::{Credential, Timestamp};
use crate::store::{CredentialFilter, StoreError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, ResponseError, get, web};
use chrono::Utc;
use feed::{Context, Day, FilterError, Filters, Form};
use futures_util::{Stream, StreamExt, TryStreamExt, stream as streams};
use ics::Writer;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::rc::Rc;
use subtle::ConstantTimeEq;

/// Bumped whenever the feed's bytes change for the same data, so cached ETags stop matching.
const FORMAT: &str = "feed-2";
/// Credentials rendered into one chunk of the body (about 200 KB).
const CHUNK_EVENTS: usize = 128;
/// Bytes per chunk of a shared body.
const CHUNK_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum IcsError {
    #[error("a valid calendar token is required")]
    Forbidden,
    #[error("no such environment")]
    NotFound,
    #[error("The parameter “environment” is wrong: {0}.")]
    Environment(String),
    /// A refused query string, already answered in the words every query refusal uses.
    #[error("the query string was refused")]
    Query(actix_web::Error),
    #[error("the calendar is unavailable")]
    Store(#[from] StoreError),
}

impl ResponseError for IcsError {
    fn status_code(&self) -> StatusCode {
        match self {
            IcsError::Forbidden => StatusCode::FORBIDDEN,
            IcsError::NotFound => StatusCode::NOT_FOUND,
            IcsError::Environment(_) => StatusCode::BAD_REQUEST,
            IcsError::Query(e) => e.as_response_error().status_code(),
            IcsError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            IcsError::Query(e) => return e.error_response(),
            IcsError::Store(e) => tracing::error!(error = %e, "calendar feed: reading the store failed"),
            _ => {}
        }
        HttpResponse::build(self.status_code())
            .content_type("text/plain; charset=utf-8")
            .body(format!("{self}\n"))
    }
}

impl From<FilterError> for IcsError {
    fn from(e: FilterError) -> IcsError {
        match e {
            FilterError::NoSuchPath => IcsError::NotFound,
            FilterError::Environment(message) => IcsError::Environment(message),
        }
    }
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

#[get("/calendar.ics")]
pub async fn calendar_all(
    state: web::Data<AppState>,
    cache: web::Data<FeedCache>,
    token: web::Query<FeedToken>,
    req: HttpRequest,
) -> Result<HttpResponse, IcsError> {
    serve(&state, &cache, &token, None, &req).await
}

#[get("/calendar/{environment}.ics")]
pub async fn calendar_environment(
    state: web::Data<AppState>,
    cache: web::Data<FeedCache>,
    path: web::Path<String>,
    token: web::Query<FeedToken>,
    req: HttpRequest,
) -> Result<HttpResponse, IcsError> {
    serve(&state, &cache, &token, Some(&path.into_inner()), &req).await
}

async fn serve(
    state: &AppState,
    cache: &FeedCache,
    token: &FeedToken,
    environment: Option<&str>,
    req: &HttpRequest,
) -> Result<HttpResponse, IcsError> {
    if !token_matches(state.config.calendar.token.as_ref(), token.token.as_deref()) {
        return Err(IcsError::Forbidden);
    }
    let query: FeedQuery = query::after_check(req).map_err(IcsError::Query)?;
    let filters = Filters::new(query, environment, &state.config)?;
    let clock = filters.clock(Timestamp::from(Utc::now()));
    let etag = etag(&state.store.feed_version().await?, clock, &filters, state);
    if if_none_match(req, &etag) {
        return Ok(HttpResponse::NotModified().insert_header((header::ETAG, etag)).finish());
    }

    let filter = filters.store_filter(clock, &state.config);
    let cx = Context {
        ladder: state.config.reminders.clone(),
        public_url: state.config.server.public_url.clone(),
        scope: ics::tag(&filters.canonical()),
        clock,
    };
    let max_events = state.config.calendar.max_events;
    let rendered = cache
        .slot(&etag)
        .get_or_try_init(|| async {
            // Counted per day from the expiry index: enough to choose the form, and all a
            // day-grouped feed needs besides the few credentials it names.
            let days = Day::group(state.store.feed_days(&filter).await?);
            let total: i64 = days.iter().map(|d| d.total).sum();
            match Form::choose(&filters, total, max_events) {
                Form::PerCredential => Ok::<_, StoreError>(None),
                form => render_days(state, &filters, &filter, form, days, &cx).await.map(Some),
            }
        })
        .await?
        .clone();
    let body = match rendered {
        Some(bytes) => chunks(bytes).boxed_local(),
        None => {
            let mut head = Writer::with_capacity(1024);
            feed::header(&mut head, &filters.name(Form::PerCredential, max_events), Form::PerCredential);
            let head = streams::once(std::future::ready(Ok::<_, StoreError>(Bytes::from(head.take()))));
            let first = stream::first_credentials(&state.store, &filter).await?;
            let cx = Rc::new(cx);
            let events = stream::credential_batches(state.store.clone(), filter, first)
                .map_ok(move |batch| render_credentials(batch, cx.clone()))
                .try_flatten();
            let mut tail = Writer::with_capacity(16);
            feed::footer(&mut tail);
            let tail = streams::once(std::future::ready(Ok(Bytes::from(tail.take()))));
            head.chain(events).chain(tail).boxed_local()
        }
    };
    let body = body.map_err(cut_short("streaming the calendar feed"));
    let socket = req.conn_data::<stall::ConnectionSocket>().cloned();
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((header::ETAG, etag))
        .streaming(stall::guard(body, socket, state.config.calendar.stall_timeout)))
}

/// A day-grouped feed, whole: its days and, for each, the first credentials it names.
async fn render_days(
    state: &AppState,
    filters: &Filters,
    filter: &CredentialFilter,
    form: Form,
    days: Vec<Day>,
    cx: &Context,
) -> Result<Bytes, StoreError> {
    let mut w = Writer::with_capacity(days.len() * 6 * 1024 + 1024);
    feed::header(&mut w, &filters.name(form, state.config.calendar.max_events), form);
    for day in &days {
        let mut of_day = filter.clone();
        of_day.end_from = Some(of_day.end_from.map_or(day.start(), |f| f.max(day.start())));
        of_day.end_before = Some(of_day.end_before.map_or(day.end(), |b| b.min(day.end())));
        let listed = state.store.credentials_page(&of_day, None, 0, feed::DAY_LIST as i64).await?;
        feed::day_event(&mut w, day, &listed, cx);
    }
    feed::footer(&mut w);
    Ok(Bytes::from(w.take()))
}

/// Shared bytes as a body of chunks of [`CHUNK_BYTES`] (slices of one buffer, nothing copied),
/// so the stall guard sees a reader's progress.
fn chunks(bytes: Bytes) -> impl Stream<Item = Result<Bytes, StoreError>> {
    let len = bytes.len();
    streams::iter(
        (0..len)
            .step_by(CHUNK_BYTES)
            .map(move |at| Ok(bytes.slice(at..len.min(at + CHUNK_BYTES)))),
    )
}

/// A batch of credentials as a stream of chunks, rendered as the body is read: a batch's rows
/// stay in memory until sent, its text only a chunk at a time.
fn render_credentials(batch: Vec<Credential>, cx: Rc<Context>) -> impl Stream<Item = Result<Bytes, StoreError>> {
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
fn etag(version: &str, clock: Timestamp, filters: &Filters, state: &AppState) -> String {
    let c = &state.config;
    let shape = format!(
        "{FORMAT}|{version}|{}|{}|{}|{:?}|{}|{:?}|{}|{}|{}",
        clock.ticks(),
        filters.canonical(),
        filters.by_day,
        (c.reminders.days_before(), c.reminders.expired_notice()),
        c.server.public_url,
        (c.status.critical_days, c.status.warning_days),
        c.calendar.max_events,
        feed::HORIZON_PAST_DAYS,
        feed::HORIZON_FUTURE_DAYS,
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
}
