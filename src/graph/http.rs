//! The retry rules shared by the token endpoint and Graph: bounded attempts, `Retry-After`
//! honoured (fractional seconds included), capped exponential backoff with jitter otherwise.

use super::GraphError;
use crate::config::SyncConfig;
use rand::Rng;
use reqwest::StatusCode;
use std::time::Duration;

/// Builds the HTTP client every outbound call uses: rustls, a request timeout, no redirects
/// (a redirect could carry a bearer token to another host).
pub fn http_client(sync: &SyncConfig) -> Result<reqwest::Client, GraphError> {
    crate::tls::install();
    reqwest::Client::builder()
        .timeout(sync.request_timeout)
        .connect_timeout(sync.request_timeout.min(Duration::from_secs(10)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("credwatch/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(GraphError::HttpClient)
}

/// An error and its causes, outermost first, joined by ": ".
pub fn cause_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[derive(Debug, Clone)]
pub struct Retrier {
    max_attempts: u32,
    base: Duration,
    cap: Duration,
}

/// Statuses that mean "try again later": throttling and transient server trouble.
fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

impl Retrier {
    pub fn new(sync: &SyncConfig) -> Retrier {
        Retrier {
            max_attempts: sync.max_attempts.max(1),
            base: sync.backoff_base,
            cap: sync.max_backoff,
        }
    }

    /// Sends the request built by `build` until it gets an answer that is not throttling or a
    /// transient failure, or the attempts run out. Returns the final response whatever its status,
    /// except when every attempt was throttled, failed in transit or timed out.
    #[tracing::instrument(level = "debug", name = "graph_request", skip(self, build))]
    pub async fn send(&self, what: &str, build: impl Fn() -> reqwest::RequestBuilder) -> Result<reqwest::Response, GraphError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.max_attempts;
            match build().send().await {
                Ok(resp) if retryable(resp.status()) && !last => {
                    let wait = retry_after(&resp).map(|w| w.min(self.cap)).unwrap_or_else(|| self.backoff(attempt));
                    tracing::warn!(target: "credwatch::graph", status = resp.status().as_u16(), attempt, wait_ms = wait.as_millis() as u64, "{what} asked us to wait; retrying");
                    drop(resp);
                    tokio::time::sleep(wait).await;
                }
                Ok(resp) if retryable(resp.status()) => {
                    return Err(GraphError::Unavailable {
                        what: what.to_string(),
                        status: Some(resp.status().as_u16()),
                        attempts: attempt,
                        detail: String::new(),
                    });
                }
                Ok(resp) => return Ok(resp),
                Err(e) if !last => {
                    let wait = self.backoff(attempt);
                    tracing::warn!(target: "credwatch::graph", attempt, wait_ms = wait.as_millis() as u64, error = %describe_transport(&e), "{what} unreachable; retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => {
                    return Err(GraphError::Unavailable {
                        what: what.to_string(),
                        status: None,
                        attempts: attempt,
                        detail: describe_transport(&e),
                    });
                }
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.base.saturating_mul(1u32 << (attempt - 1).min(16)).min(self.cap);
        // Jitter between half and the full delay, so parallel syncs do not retry in lockstep.
        exp.mul_f64(rand::rng().random_range(0.5..=1.0))
    }
}

/// `Retry-After` in seconds, possibly fractional ("2.128").
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let value = resp.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// A transport error in words, without the request (no URL query, no headers).
pub fn describe_transport(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "response body broken off"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    if cause.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {cause}")
    }
}

/// Reads a response body, refusing one larger than `limit` bytes (a broken or hostile server
/// must not exhaust memory).
#[tracing::instrument(level = "debug", skip(resp))]
pub async fn body_limited(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, GraphError> {
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(GraphError::Malformed(format!("response larger than {} MiB", limit >> 20)));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(GraphError::Unavailable {
                    what: "response".into(),
                    status: None,
                    attempts: 1,
                    detail: describe_transport(&e),
                });
            }
        }
    }
}
