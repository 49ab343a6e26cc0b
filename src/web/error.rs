//! Errors of the web side, mapped to HTTP in one place: pages render them through a template,
//! the API answers JSON naming the parameter at fault.

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
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => PageError::NotFound("There is nothing at this address.".into()),
            e => PageError::Unexpected(e.into()),
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
            PageError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (heading, message) = match self {
            PageError::NotFound(m) => ("Not found", m.clone()),
            PageError::BadRequest(m) => ("Bad request", m.clone()),
            PageError::Unexpected(e) => {
                tracing::error!(error = ?e, "a page failed");
                (
                    "Something went wrong",
                    "credwatch could not read its database. The details are in its log.".to_string(),
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
    Unexpected(#[from] anyhow::Error),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Unexpected(e.into())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadParameter { .. } | ApiError::BadQuery(_) => StatusCode::BAD_REQUEST,
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let body = match self {
            ApiError::BadParameter { parameter, message } => {
                serde_json::json!({ "error": format!("invalid {parameter}: {message}"), "parameter": parameter })
            }
            ApiError::BadQuery(message) => serde_json::json!({ "error": message }),
            ApiError::Unexpected(e) => {
                tracing::error!(error = ?e, "an API request failed");
                serde_json::json!({ "error": "internal error; see credwatch's log" })
            }
        };
        HttpResponse::build(self.status_code()).json(body)
    }
}

/// Any path nothing else answers.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    PageError::NotFound(format!("There is no page at {}.", req.path())).error_response()
}
