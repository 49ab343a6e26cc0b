//! Request tracing: each request is served inside a `request` span carrying its id, so every log
//! line written while serving it (the handler's, the store's, and those written while a big
//! answer streams) names the request. The id goes back in `X-Request-Id`, for a user to quote.
//!
//! The span holds the method and the path, never the query string: the calendar's token travels
//! there. A signed action link's token is in its path, and is left out too.

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tracing::Instrument;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id a proxy in front already gave the request, when it is a plain token; else a new one.
/// Anything else is replaced, so a client cannot write arbitrary text into the log.
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

/// The path as the log shows it: an action link's token replaced (it acts on a credential).
fn loggable(path: &str) -> &str {
    if path.starts_with("/act/") { "/act/[link]" } else { path }
}

/// The middleware (`middleware::from_fn(trace_requests)`); wrap it outermost, so the guards'
/// answers carry the id too.
pub async fn trace_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<InSpan>, actix_web::Error> {
    let id = request_id(req.headers());
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %loggable(req.path()));
    let started = Instant::now();
    let mut res = next.call(req).instrument(span.clone()).await?;
    tracing::debug!(
        parent: &span,
        status = res.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "answered"
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(res.map_body(|_, body| InSpan { body: body.boxed(), span }))
}

/// A response body that enters the request's span while it is produced: streamed answers read
/// the store (and may log) long after the handler returned.
pub struct InSpan {
    body: BoxBody,
    span: tracing::Span,
}

impl MessageBody for InSpan {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        let _entered = this.span.enter();
        Pin::new(&mut this.body).poll_next(cx)
    }

    fn try_into_bytes(self) -> Result<Bytes, Self> {
        let InSpan { body, span } = self;
        body.try_into_bytes().map_err(|body| InSpan { body, span })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_ids_are_taken_over() {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID, HeaderValue::from_static("edge-7f3a.1"));
        assert_eq!(request_id(&headers), "edge-7f3a.1");
        headers.insert(REQUEST_ID, HeaderValue::from_static("a b\" injected=1"));
        let replaced = request_id(&headers);
        assert_eq!(replaced.len(), 32, "{replaced}");
        assert!(replaced.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
