//! Microsoft Graph: sign-in (token.rs), the paged applications listing with throttling and
//! token renewal (client.rs), and the wire types converted to domain types at the edge (model.rs).

pub mod client;
pub mod http;
pub mod model;
pub mod token;

pub use client::{GraphClient, PageSink, SinkStopped};
pub use token::TokenError;

/// Everything that can go wrong talking to Graph or the token endpoint. Messages never carry a
/// secret, an assertion or a token.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// The token endpoint refused to sign us in.
    #[error("sign-in failed ({}{error}, HTTP {status}): {hint}{}", code.map(|c| format!("AADSTS{c} ")).unwrap_or_default(), if description.is_empty() { String::new() } else { format!(" [{description}]") })]
    SignIn {
        status: u16,
        code: Option<u64>,
        error: String,
        description: String,
        hint: &'static str,
    },
    /// Graph answered 403: the app lacks the permission or admin consent.
    #[error(
        "Graph refused to list applications (HTTP 403 {code}): the app registration {client_id} needs the Microsoft Graph application permission Application.Read.All with admin consent granted in this tenant"
    )]
    Forbidden { code: String, client_id: String },
    /// Graph kept rejecting our token after a fresh sign-in.
    #[error("Graph rejected a freshly issued access token (HTTP 401 {code}): {message}")]
    Unauthorized { code: String, message: String },
    /// Any other error status from Graph.
    #[error("Graph answered HTTP {status} {code}: {message}")]
    Http { status: u16, code: String, message: String },
    /// Throttled, unavailable, timing out or unreachable on every attempt.
    #[error("{what} unavailable after {attempts} attempt(s){}{}", status.map(|s| format!(", last HTTP {s}")).unwrap_or_default(), if detail.is_empty() { String::new() } else { format!(": {detail}") })]
    Unavailable {
        what: String,
        status: Option<u16>,
        attempts: u32,
        detail: String,
    },
    /// A response that is not what Graph sends.
    #[error("malformed response from Graph: {0}")]
    Malformed(String),
    /// Where the pages went stopped taking them (the store could not stage a page).
    #[error(transparent)]
    Sink(#[from] SinkStopped),
    /// A local problem signing in: unreadable secret file, refused token URL, cannot sign.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// `graph_url` does not make a request URL.
    #[error("graph_url: {0}")]
    GraphUrl(url::ParseError),
    /// The HTTP client could not be built (its TLS setup failed).
    #[error("cannot build the HTTP client: {}", http::cause_chain(.0))]
    HttpClient(reqwest::Error),
}
