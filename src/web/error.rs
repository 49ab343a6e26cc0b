//! Errors of the web side, mapped to HTTP in one place: pages render them through a template,
//! the API answers JSON naming the parameter at fault. A failing database is named by its class
//! (locked, unreadable, schema…) so an operator knows where to look; the details go to the log only.

use super::layout::Layout;
use crate::store::StoreError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use askama::Template;

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// The store failed; the page names the class of failure.
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => PageError::NotFound("There is nothing at this address.".into()),
            e => PageError::Store(e),
        }
    }
}

/// What kind of database failure a request met: enough for an operator to know where to look,
/// nothing of the query, the path or the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// Another process holds a lock, or every connection stayed busy.
    Locked,
    /// The file cannot be read, or what is read is not a sound SQLite database.
    Unreadable,
    /// The database's tables or columns are not what this version expects (a migration is
    /// missing, failed or comes from another version).
    Schema,
    /// The disk is full.
    Full,
    /// The file or its directory cannot be written.
    ReadOnly,
    /// Anything else.
    Other,
}

/// SQLite's primary result codes (the low byte of an extended code) that name a class.
mod sqlite {
    pub const BUSY: i64 = 5;
    pub const LOCKED: i64 = 6;
    pub const READONLY: i64 = 8;
    pub const IOERR: i64 = 10;
    pub const CORRUPT: i64 = 11;
    pub const FULL: i64 = 13;
    pub const CANTOPEN: i64 = 14;
    pub const SCHEMA: i64 = 17;
    pub const MISMATCH: i64 = 20;
    pub const AUTH: i64 = 23;
    pub const NOTADB: i64 = 26;
    pub const PERM: i64 = 3;
}

impl FailureClass {
    pub fn of(e: &StoreError) -> FailureClass {
        match e {
            StoreError::Db { error, .. } => FailureClass::of_sqlx(error),
            StoreError::Migrate(_) => FailureClass::Schema,
            // A stored value this version cannot read back (a damaged kind, tags or owners).
            StoreError::Corrupt { .. } => FailureClass::Unreadable,
            StoreError::NotFound | StoreError::Setup(_) => FailureClass::Other,
        }
    }

    fn of_sqlx(e: &sqlx::Error) -> FailureClass {
        match e {
            sqlx::Error::Database(db) => {
                let code = db.code().and_then(|c| c.parse::<i64>().ok()).unwrap_or(0) & 0xff;
                match code {
                    sqlite::BUSY | sqlite::LOCKED => FailureClass::Locked,
                    sqlite::CORRUPT | sqlite::NOTADB | sqlite::IOERR | sqlite::CANTOPEN | sqlite::PERM | sqlite::AUTH => {
                        FailureClass::Unreadable
                    }
                    sqlite::FULL => FailureClass::Full,
                    sqlite::READONLY => FailureClass::ReadOnly,
                    sqlite::SCHEMA | sqlite::MISMATCH => FailureClass::Schema,
                    // SQLITE_ERROR is generic; a missing table or column is the one an operator meets.
                    _ if ["no such table", "no such column", "has no column"]
                        .iter()
                        .any(|m| db.message().contains(m)) =>
                    {
                        FailureClass::Schema
                    }
                    _ => FailureClass::Other,
                }
            }
            sqlx::Error::PoolTimedOut => FailureClass::Locked,
            sqlx::Error::Io(_) => FailureClass::Unreadable,
            sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::TypeNotFound { .. }
            | sqlx::Error::Decode(_) => FailureClass::Schema,
            _ => FailureClass::Other,
        }
    }

    /// A short, stable name (for the API's error answer).
    pub fn key(self) -> &'static str {
        match self {
            FailureClass::Locked => "database_locked",
            FailureClass::Unreadable => "database_unreadable",
            FailureClass::Schema => "database_schema",
            FailureClass::Full => "disk_full",
            FailureClass::ReadOnly => "database_read_only",
            FailureClass::Other => "internal",
        }
    }

    /// What the error page says.
    pub fn explanation(self) -> &'static str {
        match self {
            FailureClass::Locked => {
                "credwatch's database is locked or busy: another process holds it, or too many requests are waiting for it. Try again in a moment."
            }
            FailureClass::Unreadable => {
                "credwatch cannot read its database: the file is unreadable or damaged. Restore it from a backup, or remove it and let the next sync rebuild it."
            }
            FailureClass::Schema => {
                "credwatch's database does not match this version of credwatch: a migration is missing, failed, or comes from another version."
            }
            FailureClass::Full => "credwatch cannot write its database: the disk is full.",
            FailureClass::ReadOnly => "credwatch cannot write its database: the file or its directory is read-only.",
            FailureClass::Other => "credwatch could not read its database.",
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    heading: &'static str,
    message: String,
}

impl PageError {
    /// The error page, for handlers that answer without going through `ResponseError`.
    pub fn render(&self, _req: &HttpRequest) -> HttpResponse {
        self.error_response()
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::Store(_) | PageError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (heading, message) = match self {
            PageError::NotFound(m) => ("Not found", m.clone()),
            PageError::BadRequest(m) => ("Bad request", m.clone()),
            PageError::Store(e) => {
                let class = FailureClass::of(e);
                tracing::error!(error = %e, class = class.key(), "a page failed");
                (
                    "Something went wrong",
                    format!("{} The details are in credwatch's log.", class.explanation()),
                )
            }
            PageError::Unexpected(e) => {
                tracing::error!(error = format!("{e:#}"), "a page failed");
                (
                    "Something went wrong",
                    "credwatch failed to answer. The details are in its log.".to_string(),
                )
            }
        };
        let page = ErrorPage {
            layout: Layout::new(heading, "", Vec::new()),
            status: status.as_u16(),
            heading,
            message,
        };
        match page.render() {
            Ok(html) => HttpResponse::build(status).content_type("text/html; charset=utf-8").body(html),
            Err(e) => {
                tracing::error!(error = %e, "the error page failed to render");
                HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(heading)
            }
        }
    }
}

/// Why an API request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{parameter}: {message}")]
    BadParameter { parameter: String, message: String },
    /// A query string that names no parameter in particular could not be read.
    #[error("{0}")]
    BadQuery(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadParameter { .. } | ApiError::BadQuery(_) => StatusCode::BAD_REQUEST,
            ApiError::Store(_) | ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let body = match self {
            ApiError::BadParameter { parameter, message } => {
                serde_json::json!({ "error": format!("invalid {parameter}: {message}"), "parameter": parameter })
            }
            ApiError::BadQuery(message) => serde_json::json!({ "error": message }),
            ApiError::Store(e) => {
                let class = FailureClass::of(e);
                tracing::error!(error = %e, class = class.key(), "an API request failed");
                serde_json::json!({ "error": class.explanation(), "class": class.key() })
            }
            ApiError::Unexpected(e) => {
                tracing::error!(error = format!("{e:#}"), "an API request failed");
                serde_json::json!({ "error": "internal error; see credwatch's log", "class": FailureClass::Other.key() })
            }
        };
        HttpResponse::build(self.status_code()).json(body)
    }
}

/// Any path nothing else answers.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    PageError::NotFound(format!("There is no page at {}.", req.path())).error_response()
}
