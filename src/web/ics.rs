//! The ICS feed: `/calendar.ics?token=T` (every environment) and
//! `/calendar/{environment}.ics?token=T` (one), RFC 5545 through the `icalendar` crate.
//!
//! One VEVENT per live credential. The event is *timed at the credential's end instant* (UTC), not
//! an all-day event: an all-day DATE is floating, so a secret ending 2026-03-15T02:00Z would show
//! on the 15th in New York although it stops working on the evening of the 14th there. A timed
//! event shows the true local time everywhere, and its alarms (`TRIGGER;RELATED=START:-P{d}D`,
//! one per rung of `reminders.days_before`, plus one at the end with `expired_notice`) fire
//! exactly `d` days before the credential stops working. It lasts 15 minutes and is
//! `TRANSP:TRANSPARENT`, so it never blocks anyone's free/busy time.
//!
//! The UID is `{app_object_id}-{kind}-{key_id}@{environment}.credwatch`: the store's identity of a
//! credential, so it is the same across fetches and syncs (an app owner may choose a keyId, so the
//! keyId alone is not unique). DTSTAMP is when credwatch first saw the credential, which keeps
//! the body, and so the ETag, unchanged while nothing changed: polling clients get 304.
//!
//! Very large tenants: only credentials whose end lies within [`HORIZON_PAST_DAYS`] days ago up to
//! [`HORIZON_FUTURE_DAYS`] days ahead are in the feed; "never expires" secrets ending in 2299 or
//! 9999 and long-expired leftovers would only bloat it. A rotated-away (removed) credential leaves
//! the feed at the next sync.
//!
//! Names from Graph are untrusted: icalendar escapes `\`, `,`, `;` and LF in TEXT values and folds
//! long lines, but lets CR and other control characters through, so every name goes through
//! [`crate::domain::clean`] first.

use super::state::AppState;
use crate::config::Config;
use crate::domain::{Credential, Ladder, Timestamp, clean, credwatch_link};
use crate::store::{CredentialFilter, StoreError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, get, web};
use chrono::{DateTime, Utc};
use icalendar::{Alarm, Calendar, Component, EventLike, Property};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Credentials that ended more than this many days ago are left out of the feed.
pub const HORIZON_PAST_DAYS: i64 = 30;
/// Credentials ending more than this many days ahead are left out of the feed.
pub const HORIZON_FUTURE_DAYS: i64 = 400;
/// What clients are asked to poll at (REFRESH-INTERVAL, X-PUBLISHED-TTL).
const REFRESH: &str = "PT1H";
const EVENT_MINUTES: i64 = 15;

#[derive(Debug, thiserror::Error)]
pub enum IcsError {
    #[error("a valid calendar token is required")]
    Forbidden,
    #[error("no such environment")]
    NotFound,
    #[error("the calendar is unavailable")]
    Store(#[from] StoreError),
}

impl ResponseError for IcsError {
    fn status_code(&self) -> StatusCode {
        match self {
            IcsError::Forbidden => StatusCode::FORBIDDEN,
            IcsError::NotFound => StatusCode::NOT_FOUND,
            IcsError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let IcsError::Store(e) = self {
            tracing::error!(error = %e, "calendar feed: reading the store failed");
        }
        HttpResponse::build(self.status_code())
            .content_type("text/plain; charset=utf-8")
            .body(format!("{self}\n"))
    }
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
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
pub async fn calendar_all(state: web::Data<AppState>, query: web::Query<TokenQuery>, req: HttpRequest) -> Result<HttpResponse, IcsError> {
    serve(&state, query.token.as_deref(), None, &req).await
}

#[get("/calendar/{environment}.ics")]
pub async fn calendar_environment(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<TokenQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, IcsError> {
    serve(&state, query.token.as_deref(), Some(&path.into_inner()), &req).await
}

async fn serve(state: &AppState, token: Option<&str>, environment: Option<&str>, req: &HttpRequest) -> Result<HttpResponse, IcsError> {
    // The token first: without it, nobody learns which environments exist.
    if !token_matches(state.config.calendar.token.as_ref(), token) {
        return Err(IcsError::Forbidden);
    }
    if let Some(env) = environment
        && state.config.environment(env).is_none()
    {
        return Err(IcsError::NotFound);
    }
    let now = Timestamp::from(Utc::now());
    let filter = CredentialFilter {
        environment: environment.map(str::to_string),
        end_from: Some(now.plus_days(-HORIZON_PAST_DAYS)),
        end_before: Some(now.plus_days(HORIZON_FUTURE_DAYS)),
        ..Default::default()
    };
    let credentials = state.store.credentials(&filter).await?;
    let body = feed(&credentials, &state.config, environment);
    let etag = format!("\"{}\"", hex(&Sha256::digest(body.as_bytes())[..16]));
    let not_modified = if_none_match(req, &etag);
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        // The token is in the URL; keep shared caches out of it.
        .insert_header((header::CACHE_CONTROL, "private, max-age=300"));
    if not_modified {
        return Ok(response.finish());
    }
    Ok(response.content_type("text/calendar; charset=utf-8").body(body))
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

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The feed for `credentials` (all of one environment when `environment` is given).
pub fn feed(credentials: &[Credential], config: &Config, environment: Option<&str>) -> String {
    let name = match environment {
        Some(env) => format!("credwatch: {env}"),
        None => "credwatch: all environments".to_string(),
    };
    let mut calendar = Calendar::empty();
    calendar
        .append_property(Property::new("VERSION", "2.0"))
        .append_property(Property::new("PRODID", "-//credwatch//credential expiry//EN"))
        .append_property(Property::new("CALSCALE", "GREGORIAN"))
        .append_property(Property::new("METHOD", "PUBLISH"))
        .name(&name)
        .append_property(Property::new(
            "X-WR-CALDESC",
            "Expiry of Microsoft Entra ID app-registration secrets and certificates",
        ))
        .append_property(Property::new("REFRESH-INTERVAL", REFRESH).add_parameter("VALUE", "DURATION").done())
        .append_property(Property::new("X-PUBLISHED-TTL", REFRESH));
    for c in credentials.iter().filter(|c| c.is_live()) {
        calendar.push(event(c, &config.reminders, &config.server.public_url));
    }
    calendar.to_string()
}

/// Stable identity of a credential's event.
pub fn uid(c: &Credential) -> String {
    clean(&format!(
        "{}-{}-{}@{}.credwatch",
        c.app_object_id,
        c.kind.as_str(),
        c.key_id,
        c.environment
    ))
}

/// A DATE-TIME in UTC: whole seconds, as RFC 5545 has no fraction.
fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y%m%dT%H%M%SZ").to_string()
}

fn event(c: &Credential, ladder: &Ladder, public_url: &url::Url) -> icalendar::Event {
    let app = c.app_display_name.as_deref().map(clean).unwrap_or_else(|| "(no name)".into());
    let name = c
        .display_name
        .as_deref()
        .map(clean)
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "(no name)".into());
    let kind = c.kind.as_str();
    let env = clean(&c.environment);
    let end = c.end_at.to_datetime();
    let summary = format!("{kind} \"{name}\" of {app} expires ({env})");
    let mut description = format!(
        "Application: {app} ({})\nEnvironment: {env}\nKind: {kind}\nName: {name}\n",
        clean(&c.app_id)
    );
    if let Some(hint) = &c.hint {
        description.push_str(&format!("Hint: {}…\n", clean(hint)));
    }
    description.push_str(&format!(
        "Key ID: {}\nEnds: {}\nAzure portal: {}\ncredwatch: {}\n",
        clean(&c.key_id),
        c.end_at,
        c.portal_link(),
        credwatch_link(public_url, &c.environment, &c.app_object_id)
    ));
    let stamp = c.first_seen_at.to_datetime();
    let mut event = icalendar::Event::new();
    event
        .uid(&uid(c))
        .add_property("DTSTAMP", utc(stamp))
        .add_property("DTSTART", utc(end))
        .add_property("DTEND", utc(end + chrono::Duration::minutes(EVENT_MINUTES)))
        .summary(&summary)
        .description(&description)
        .add_property("URL", c.portal_link())
        .add_property("TRANSP", "TRANSPARENT")
        .add_property("STATUS", "CONFIRMED");
    let uid = uid(c);
    let stamp = utc(stamp);
    for &d in ladder.days_before() {
        let trigger = if d == 0 { "PT0S".to_string() } else { format!("-P{d}D") };
        let when = if d == 1 { "In 1 day".to_string() } else { format!("In {d} days") };
        event.alarm(alarm(&format!("{when}: {summary}"), &trigger, &format!("{d}d-{uid}"), &stamp));
    }
    if ladder.expired_notice() {
        event.alarm(alarm(&format!("Now: {summary}"), "PT0S", &format!("end-{uid}"), &stamp));
    }
    event.done()
}

/// A display alarm. The crate gives every component, alarms included, a DTSTAMP and a UID when
/// it has none, and makes them up (now, a random UUID): deterministic ones keep the body stable
/// across fetches, so the ETag holds (RFC 9074 allows a UID on VALARM).
fn alarm(description: &str, trigger: &str, uid: &str, stamp: &str) -> Alarm {
    // TRIGGER written by hand: the crate renders a chrono duration in seconds; days read better.
    Alarm::display(description, chrono::Duration::zero())
        .append_property(Property::new("TRIGGER", trigger).add_parameter("RELATED", "START").done())
        .add_property("UID", uid)
        .add_property("DTSTAMP", stamp)
        .done()
}

/// The subscription addresses of a feed, for the dashboard: the https URL and the same as
/// `webcal://` (which calendar apps open as a subscription). The token is left for the reader to
/// add (`?token=…`): the dashboard must not hand it to everyone who can see the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedUrls {
    pub https: String,
    pub webcal: String,
}

/// The feed of every environment (`None`) or of one.
pub fn feed_urls(public_url: &url::Url, environment: Option<&str>) -> FeedUrls {
    let base = public_url.as_str().trim_end_matches('/');
    let https = match environment {
        Some(env) => format!(
            "{base}/calendar/{}.ics",
            url::form_urlencoded::byte_serialize(env.as_bytes()).collect::<String>()
        ),
        None => format!("{base}/calendar.ics"),
    };
    let webcal = match https.split_once("://") {
        Some((_, rest)) => format!("webcal://{rest}"),
        None => https.clone(),
    };
    FeedUrls { https, webcal }
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
    fn subscription_addresses() {
        let u = url::Url::parse("https://credwatch.example.com/").unwrap();
        assert_eq!(
            feed_urls(&u, Some("prod")),
            FeedUrls {
                https: "https://credwatch.example.com/calendar/prod.ics".into(),
                webcal: "webcal://credwatch.example.com/calendar/prod.ics".into()
            }
        );
        assert_eq!(feed_urls(&u, None).webcal, "webcal://credwatch.example.com/calendar.ics");
    }
}
