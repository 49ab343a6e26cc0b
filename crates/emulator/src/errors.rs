//! Error bodies shaped like the real services' (graph-facts §1.4, §6).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::{Value, json};

/// A token-endpoint failure: HTTP status, OAuth `error`, AADSTS number and message text.
#[derive(Debug, Clone)]
pub(crate) struct AadError {
    pub status: u16,
    pub error: &'static str,
    pub code: u32,
    pub message: String,
}

impl AadError {
    pub(crate) fn new(status: u16, error: &'static str, code: u32, message: impl Into<String>) -> Self {
        AadError {
            status,
            error,
            code,
            message: message.into(),
        }
    }

    /// The JSON body, byte-for-byte in the layout Entra ID uses: the description carries the
    /// trace id, correlation id and timestamp after `\r\n`, and the timestamp has a space, no `T`.
    pub(crate) fn body(&self) -> Value {
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let timestamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
        json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
                self.code, self.message
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        })
    }

    pub(crate) fn response(&self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        HttpResponse::build(status)
            .insert_header(("Cache-Control", "no-store, no-cache"))
            .json(self.body())
    }
}

/// Graph's `innerError.date`: no zone, no fraction (graph-facts §8.1).
pub(crate) fn graph_date() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// The generic Graph error body `{"error":{"code","message","innerError":{…}}}`.
pub(crate) fn graph_error_body(code: &str, message: &str, request_id: &str, client_request_id: &str) -> Value {
    json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": graph_date(),
                "request-id": request_id,
                "client-request-id": client_request_id,
            }
        }
    })
}

/// The code and message Graph uses for an injected failure status.
pub(crate) fn graph_code_for_status(status: u16) -> (&'static str, &'static str) {
    match status {
        400 => ("BadRequest", "The request is malformed or incorrect."),
        401 => ("InvalidAuthenticationToken", "Access token validation failure."),
        403 => ("Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
        404 => ("Request_ResourceNotFound", "The requested resource does not exist."),
        409 => ("conflict", "The current state conflicts with what the request expects."),
        429 => ("TooManyRequests", "Please retry again later."),
        500 => ("generalException", "An unspecified error has occurred."),
        501 => ("notSupported", "The requested feature isn't implemented."),
        502 => ("badGateway", "The service received an invalid response from an upstream server."),
        503 => (
            "serviceNotAvailable",
            "The service is temporarily unavailable. Please retry after a delay.",
        ),
        504 => (
            "gatewayTimeout",
            "The server, while acting as a proxy, did not receive a timely response from the upstream server.",
        ),
        _ => ("UnknownError", "An error occurred."),
    }
}

/// The 429 body, which unlike the others repeats the status inside `innerError`
/// (graph-facts §6.1).
pub(crate) fn throttled_body(request_id: &str) -> Value {
    json!({
        "error": {
            "code": "TooManyRequests",
            "message": "Please retry again later.",
            "innerError": {
                "code": "429",
                "date": graph_date(),
                "message": "Please retry after",
                "request-id": request_id,
                "status": "429",
            }
        }
    })
}

/// Value of the `WWW-Authenticate` header on Graph's 401 (graph-facts §6.3).
pub(crate) const WWW_AUTHENTICATE: &str = r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000""#;
