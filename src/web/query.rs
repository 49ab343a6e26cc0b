//! Query strings, parsed once at the edge: handlers take `web::Query<T>` of the structs below,
//! whose fields are already typed (a [`Status`], a bounded number of days, a clamped page).
//!
//! - A parameter left empty (as an HTML form sends an unselected filter) counts as absent.
//! - A parameter given twice is refused: which of the two was meant is a guess.
//! - Unknown parameters are ignored, as browsers and proxies add their own.
//!
//! Every refusal is a 400 naming the parameter: JSON for the API, plain text for the calendar,
//! the error page for pages. serde reports a field's error without the field's name, so each
//! field's parser writes the name into its message ([`invalid`]) and [`config`]'s handler reads it
//! back ([`QueryProblem::read`]): the one place that format is written and the one that reads it.

use super::error::{ApiError, PageError};
use crate::domain::Timestamp;
use crate::domain::{CredentialKind, EventKind, Status};
use crate::store::Cursor;
use actix_web::error::QueryPayloadError;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Deserializer};

/// `within_days` accepts at most this (about 8,200 years: past any credential's end).
pub const MAX_WITHIN_DAYS: u32 = 3_000_000;
/// A search longer than this is refused: no name is that long, and SQLite refuses LIKE patterns
/// past a limit with an error that would otherwise be a 500.
pub const MAX_SEARCH_CHARS: usize = 200;
/// Inventory rows per page unless `per_page` says otherwise, and its bounds.
pub const PER_PAGE: u32 = 50;
pub const MIN_PER_PAGE: u32 = 10;
pub const MAX_PER_PAGE: u32 = 500;

/// `/api/v1/credentials` and `/api/v1/credentials.csv`.
#[derive(Debug, Default, Deserialize)]
pub struct CredentialQuery {
    /// An environment's name; whether it exists is the handler's question.
    #[serde(default, deserialize_with = "environment")]
    pub environment: Option<String>,
    #[serde(default, deserialize_with = "status")]
    pub status: Option<Status>,
    #[serde(default, deserialize_with = "kind")]
    pub kind: Option<CredentialKind>,
    #[serde(default, deserialize_with = "within_days")]
    pub within_days: Option<WithinDays>,
}

/// An environment's inventory, `/environments/{name}`.
#[derive(Debug, Default, Deserialize)]
pub struct InventoryQuery {
    /// The search text, trimmed; `None` when blank.
    #[serde(default, deserialize_with = "search")]
    pub q: Option<String>,
    #[serde(default, deserialize_with = "status")]
    pub status: Option<Status>,
    #[serde(default, deserialize_with = "kind")]
    pub kind: Option<CredentialKind>,
    #[serde(default, deserialize_with = "per_page")]
    pub per_page: Option<PerPage>,
    #[serde(default, deserialize_with = "page")]
    pub page: Option<Page>,
    /// Continue after (forwards) or before (backwards) a row's key, as the pager writes it.
    #[serde(default, deserialize_with = "after")]
    pub after: Option<RowKey>,
    #[serde(default, deserialize_with = "before")]
    pub before: Option<RowKey>,
}

impl InventoryQuery {
    pub fn page(&self) -> u32 {
        self.page.map_or(1, |p| p.0)
    }

    pub fn per_page(&self) -> u32 {
        self.per_page.map_or(PER_PAGE, |p| p.0)
    }

    /// Where the pager continues from: `after` wins when both are given.
    pub fn cursor(&self) -> Option<Cursor> {
        match (self.after, self.before) {
            (Some(k), _) => Some(Cursor::After(k.end, k.id)),
            (None, Some(k)) => Some(Cursor::Before(k.end, k.id)),
            (None, None) => None,
        }
    }
}

/// `/api/v1/events`.
#[derive(Debug, Default, Deserialize)]
pub struct EventQuery {
    #[serde(default, deserialize_with = "environment")]
    pub environment: Option<String>,
    #[serde(default, deserialize_with = "key_id")]
    pub key_id: Option<String>,
    #[serde(default, deserialize_with = "event_kind")]
    pub kind: Option<EventKind>,
    /// At or after this instant (RFC 3339).
    #[serde(default, deserialize_with = "since")]
    pub since: Option<Timestamp>,
    /// Paging: events older than the one with this id (the previous page's `next` says it).
    #[serde(default, deserialize_with = "before_event")]
    pub before: Option<i64>,
    #[serde(default, deserialize_with = "limit")]
    pub limit: Option<u32>,
}

/// Events per page of `/api/v1/events` unless `limit` says otherwise, and the most allowed.
pub const EVENTS_PER_PAGE: u32 = 100;
pub const MAX_EVENTS_PER_PAGE: u32 = 1_000;

/// The calendar feed's filters (`/calendar.ics`, `/calendar/{environment}.ics`). Read with
/// [`after_check`] once the token matched, so that without it every address is a 403.
#[derive(Debug, Default, Deserialize)]
pub struct FeedQuery {
    #[serde(default, deserialize_with = "environment")]
    pub environment: Option<String>,
    #[serde(default, deserialize_with = "status")]
    pub status: Option<Status>,
    #[serde(default, deserialize_with = "within_days")]
    pub within_days: Option<WithinDays>,
    /// A mail address or user principal name.
    #[serde(default, deserialize_with = "owner")]
    pub owner: Option<String>,
    #[serde(default, deserialize_with = "group")]
    pub group: Option<Grouping>,
}

/// The feed's token alone, which its handler checks before anything else of the address.
#[derive(Debug, Default, Deserialize)]
pub struct FeedToken {
    pub token: Option<String>,
}

/// `group`: how a feed gathers its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// One event per UTC day on which credentials end.
    Day,
}

/// Longest `owner` accepted: no mail address (254 octets, RFC 5321) or user principal name is longer.
pub const MAX_OWNER_CHARS: usize = 320;

/// A number of days from now, `0..=MAX_WITHIN_DAYS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WithinDays(u32);

impl WithinDays {
    pub fn days(self) -> u32 {
        self.0
    }

    /// The instant a credential must end before to count as within.
    pub fn end_before(self, now: Timestamp) -> Timestamp {
        now.plus_days(i64::from(self.0))
    }
}

/// A page number, 1 or more. Too large a number is clamped, never wrapped: it shows as the page
/// asked for (with nothing on it), not as some other page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page(u32);

/// Rows per page, clamped to `MIN_PER_PAGE..=MAX_PER_PAGE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerPage(u32);

/// A row's place in `(end, id)` order: `END.ID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowKey {
    /// The row's end, in 100 ns ticks.
    pub end: Timestamp,
    pub id: i64,
}

impl std::fmt::Display for RowKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.end.ticks(), self.id)
    }
}

/// The message of a parameter's error, naming it; [`QueryProblem::read`] reads it back.
fn invalid(parameter: &str, message: impl std::fmt::Display) -> String {
    format!("{parameter}: {message}")
}

/// Reads one parameter: absent or blank is `None`, anything else goes through `parse`, whose
/// error is turned into one naming the parameter.
fn parameter<'de, D, T>(d: D, name: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
{
    let Some(text) = Option::<String>::deserialize(d)? else {
        return Ok(None);
    };
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    parse(text).map(Some).map_err(|m| serde::de::Error::custom(invalid(name, m)))
}

/// An unsigned whole number, or `None` when it has too many digits for a `u32` (so a caller can
/// clamp it instead of refusing it).
fn whole_number(text: &str) -> Result<Option<u32>, ()> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    Ok(text.parse().ok())
}

fn environment<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    parameter(d, "environment", |s| Ok(s.to_string()))
}

fn key_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    parameter(d, "key_id", |s| match s.chars().count() {
        // Key ids are GUIDs; anything much longer is not one.
        n if n > 64 || s.chars().any(char::is_control) => Err("is not a key id (a GUID)".to_string()),
        _ => Ok(s.to_string()),
    })
}

fn event_kind<'de, D: Deserializer<'de>>(d: D) -> Result<Option<EventKind>, D::Error> {
    parameter(d, "kind", |s| {
        EventKind::parse(s).ok_or_else(|| {
            let allowed: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
            format!("“{s}” is not a kind of event; use one of {}", allowed.join(", "))
        })
    })
}

fn since<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    parameter(d, "since", |s| {
        Timestamp::parse(s).map_err(|_| format!("“{s}” is not an instant like 2026-03-01T00:00:00Z (RFC 3339)"))
    })
}

fn before_event<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    parameter(d, "before", |s| {
        match s.bytes().all(|b| b.is_ascii_digit()).then(|| s.parse::<i64>().ok()).flatten() {
            Some(n) => Ok(n),
            None => Err(format!("“{s}” is not an event id, as the previous page's next link gives it")),
        }
    })
}

fn limit<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    parameter(d, "limit", |s| match whole_number(s) {
        Ok(n) => Ok(n.unwrap_or(u32::MAX).clamp(1, MAX_EVENTS_PER_PAGE)),
        Err(()) => Err(format!("“{s}” is not a number of events (1 to {MAX_EVENTS_PER_PAGE})")),
    })
}

fn search<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    parameter(d, "q", |s| match s.chars().count() {
        n if n > MAX_SEARCH_CHARS => Err(format!(
            "the search is {n} characters long; at most {MAX_SEARCH_CHARS} are searched for"
        )),
        _ => Ok(s.to_string()),
    })
}

fn status<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Status>, D::Error> {
    parameter(d, "status", |s| {
        Status::parse(s).ok_or_else(|| {
            let allowed: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
            format!("“{s}” is not a status; use one of {}", allowed.join(", "))
        })
    })
}

fn kind<'de, D: Deserializer<'de>>(d: D) -> Result<Option<CredentialKind>, D::Error> {
    parameter(d, "kind", |s| {
        CredentialKind::parse(s).ok_or_else(|| format!("“{s}” is not a kind of credential; use secret or certificate"))
    })
}

fn within_days<'de, D: Deserializer<'de>>(d: D) -> Result<Option<WithinDays>, D::Error> {
    parameter(d, "within_days", |s| match whole_number(s) {
        Ok(Some(n)) if n <= MAX_WITHIN_DAYS => Ok(WithinDays(n)),
        _ => Err(format!("“{s}” is not a whole number of days from 0 to {MAX_WITHIN_DAYS}")),
    })
}

fn owner<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    parameter(d, "owner", |s| {
        if s.chars().count() > MAX_OWNER_CHARS || s.chars().any(char::is_control) {
            Err(format!(
                "give one mail address or user principal name of at most {MAX_OWNER_CHARS} characters"
            ))
        } else {
            Ok(s.to_string())
        }
    })
}

fn group<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Grouping>, D::Error> {
    parameter(d, "group", |s| match s {
        "day" => Ok(Grouping::Day),
        other => Err(format!("“{other}” is not a grouping; use day")),
    })
}

fn page<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Page>, D::Error> {
    parameter(d, "page", |s| match whole_number(s) {
        Ok(n) => Ok(Page(n.unwrap_or(u32::MAX).max(1))),
        Err(()) => Err(format!("“{s}” is not a page number (1, 2, 3…)")),
    })
}

fn per_page<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PerPage>, D::Error> {
    parameter(d, "per_page", |s| match whole_number(s) {
        Ok(n) => Ok(PerPage(n.unwrap_or(u32::MAX).clamp(MIN_PER_PAGE, MAX_PER_PAGE))),
        Err(()) => Err(format!("“{s}” is not a number of rows ({MIN_PER_PAGE} to {MAX_PER_PAGE})")),
    })
}

fn row_key(s: &str) -> Result<RowKey, String> {
    s.split_once('.')
        .and_then(|(end, id)| {
            Some(RowKey {
                end: Timestamp::from_ticks(end.parse().ok()?),
                id: id.parse().ok()?,
            })
        })
        .ok_or_else(|| format!("“{s}” is not a position in the list (END.ID, as the pager writes it)"))
}

fn after<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RowKey>, D::Error> {
    parameter(d, "after", row_key)
}

fn before<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RowKey>, D::Error> {
    parameter(d, "before", row_key)
}

/// A refused query string, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryProblem {
    /// The parameter at fault, when one is.
    pub parameter: Option<String>,
    pub message: String,
}

impl QueryProblem {
    /// Reads serde's message: ours name the parameter ([`invalid`]); serde's own say
    /// "duplicate field `x`".
    pub fn read(text: &str) -> QueryProblem {
        if let Some(name) = text.strip_prefix("duplicate field `").and_then(|r| r.strip_suffix('`')) {
            return QueryProblem {
                parameter: Some(name.to_string()),
                message: "is given more than once; give it once".to_string(),
            };
        }
        match text.split_once(": ") {
            Some((name, message)) if !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') => QueryProblem {
                parameter: Some(name.to_string()),
                message: message.to_string(),
            },
            _ => QueryProblem {
                parameter: None,
                message: format!("the query string could not be read: {text}"),
            },
        }
    }

    fn sentence(&self) -> String {
        match &self.parameter {
            Some(p) => format!("The parameter “{p}” is wrong: {}.", self.message),
            None => format!("{}.", self.message),
        }
    }
}

/// How every `web::Query<T>` answers a query string it refuses.
pub fn config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(refused)
}

/// A query string of type `T` read inside a handler, after a check that must come first (the
/// feed's token); refused exactly as an extractor would refuse it.
pub fn after_check<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T, actix_web::Error> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| refused(e, req))
}

fn refused(err: QueryPayloadError, req: &HttpRequest) -> actix_web::Error {
    let problem = match &err {
        QueryPayloadError::Deserialize(e) => QueryProblem::read(&e.to_string()),
        other => QueryProblem::read(&other.to_string()),
    };
    let response = refusal(req, &problem);
    actix_web::error::InternalError::from_response(err, response).into()
}

/// The 400 in the form the path's clients read.
fn refusal(req: &HttpRequest, problem: &QueryProblem) -> HttpResponse {
    use actix_web::ResponseError as _;
    let path = req.path();
    if path.starts_with("/api/") {
        match &problem.parameter {
            Some(p) => ApiError::BadParameter {
                parameter: p.clone(),
                message: problem.message.clone(),
            },
            None => ApiError::BadQuery(problem.message.clone()),
        }
        .error_response()
    } else if path.starts_with("/calendar") {
        HttpResponse::BadRequest()
            .content_type("text/plain; charset=utf-8")
            .body(format!("{}\n", problem.sentence()))
    } else {
        PageError::BadRequest(problem.sentence()).error_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory(q: &str) -> Result<InventoryQuery, QueryProblem> {
        web::Query::<InventoryQuery>::from_query(q)
            .map(web::Query::into_inner)
            .map_err(|e| match e {
                QueryPayloadError::Deserialize(e) => QueryProblem::read(&e.to_string()),
                e => panic!("{e}"),
            })
    }

    #[test]
    fn blank_values_count_as_absent() {
        let q = inventory("q=+&status=&kind=&page=&per_page=").unwrap();
        assert_eq!((q.page(), q.per_page()), (1, PER_PAGE));
        assert_eq!((q.q, q.status, q.kind), (None, None, None));
    }

    #[test]
    fn numbers_are_clamped_not_wrapped() {
        let q = inventory("page=9223372036854775807&per_page=100000").unwrap();
        assert_eq!((q.page(), q.per_page()), (u32::MAX, MAX_PER_PAGE));
        assert_eq!(
            inventory("page=0&per_page=1").map(|q| (q.page(), q.per_page())),
            Ok((1, MIN_PER_PAGE))
        );
    }

    #[test]
    fn errors_name_the_parameter() {
        let e = inventory("status=soon").unwrap_err();
        assert_eq!(e.parameter.as_deref(), Some("status"));
        assert!(e.message.contains("expired, critical, warning, ok"), "{e:?}");
        assert_eq!(inventory("page=-1").unwrap_err().parameter.as_deref(), Some("page"));
        assert_eq!(inventory("after=x").unwrap_err().parameter.as_deref(), Some("after"));
        let e = inventory("kind=secret&kind=certificate").unwrap_err();
        assert_eq!(e.parameter.as_deref(), Some("kind"));
        assert!(e.message.contains("more than once"), "{e:?}");
    }
}
