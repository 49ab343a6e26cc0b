//! OAuth2 client credentials against the Microsoft identity platform's v2.0 token endpoint:
//! a client secret, a certificate (signed JWT client assertion) or a federated token file.
//! Tokens are cached until shortly before they expire.

use super::GraphError;
use super::http::{Retrier, body_limited};
use crate::certificate::CertError;
use crate::config::{ClientCredential, EnvironmentConfig, SyncConfig, is_loopback};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use url::Url;

/// A local problem signing in: nothing was sent to the token endpoint. (What the endpoint
/// answers is a [`GraphError::SignIn`].)
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// `authority_host` and `tenant_id` do not make a URL.
    #[error("token URL for tenant {tenant:?}: {error}")]
    TokenUrl { tenant: String, error: url::ParseError },
    /// The token endpoint is plain http on a host that is not this machine.
    #[error("refusing to send a client secret over plain http to {host}")]
    PlainHttp { host: String },
    /// A secret file or federated token file cannot be read.
    #[error("cannot read {}: {error}", path.display())]
    Unreadable { path: PathBuf, error: std::io::Error },
    /// A secret file or federated token file holds nothing.
    #[error("{} is empty", path.display())]
    Empty { path: PathBuf },
    /// The certificate could not sign the client assertion; its own error says why.
    #[error(transparent)]
    Assertion(#[from] CertError),
}

/// An access token and when to stop using it.
struct Cached {
    token: SecretString,
    refresh_at: Instant,
}

/// Signs in to one environment and caches the token.
pub struct TokenProvider {
    http: reqwest::Client,
    retrier: Retrier,
    token_url: Url,
    scope: String,
    client_id: String,
    credential: ClientCredential,
    cached: Mutex<Option<Cached>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
}

/// The error body of the token endpoint.
#[derive(Deserialize)]
struct TokenErrorBody {
    error: String,
    #[serde(default)]
    error_description: String,
    #[serde(default)]
    error_codes: Vec<u64>,
}

impl TokenProvider {
    pub fn new(http: reqwest::Client, env: &EnvironmentConfig, sync: &SyncConfig) -> Result<TokenProvider, GraphError> {
        let authority = env.authority_host.as_str().trim_end_matches('/');
        let token_url = Url::parse(&format!("{authority}/{}/oauth2/v2.0/token", env.tenant_id)).map_err(|error| TokenError::TokenUrl {
            tenant: env.tenant_id.clone(),
            error,
        })?;
        // Checked at config load too; checked again here because this is where secrets leave.
        if token_url.scheme() != "https" && !is_loopback(&token_url) {
            return Err(TokenError::PlainHttp {
                host: token_url.host_str().unwrap_or("?").to_string(),
            }
            .into());
        }
        let scope = format!("{}/.default", env.graph_url.as_str().trim_end_matches('/'));
        Ok(TokenProvider {
            http,
            retrier: Retrier::new(sync),
            token_url,
            scope,
            client_id: env.client_id.clone(),
            credential: env.credential.clone(),
            cached: Mutex::new(None),
        })
    }

    /// A valid access token, from the cache or freshly acquired.
    #[tracing::instrument(level = "debug", name = "token", skip_all)]
    pub async fn token(&self) -> Result<SecretString, GraphError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.refresh_at
        {
            return Ok(c.token.clone());
        }
        let fresh = self.acquire().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Forgets the cached token, after Graph rejected it (401).
    #[tracing::instrument(level = "debug", name = "token_invalidate", skip_all)]
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    #[tracing::instrument(name = "sign_in", skip(self), fields(client_id = %self.client_id, method = self.credential.describe()))]
    async fn acquire(&self) -> Result<Cached, GraphError> {
        let mut form: Vec<(&str, String)> = vec![
            ("grant_type", "client_credentials".into()),
            ("client_id", self.client_id.clone()),
            ("scope", self.scope.clone()),
        ];
        // Read per attempt: secret files and federated token files are rotated by their owners.
        let assertion_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string();
        match &self.credential {
            ClientCredential::Secret(s) => form.push(("client_secret", s.expose_secret().to_string())),
            ClientCredential::SecretFile(p) => form.push(("client_secret", read_trimmed(p)?)),
            ClientCredential::Certificate(cert) => {
                let assertion = cert
                    .assertion(&self.client_id, self.token_url.as_str())
                    .map_err(TokenError::Assertion)?;
                form.push(("client_assertion_type", assertion_type));
                form.push(("client_assertion", assertion.expose_secret().to_string()));
            }
            ClientCredential::FederatedTokenFile(p) => {
                form.push(("client_assertion_type", assertion_type));
                form.push(("client_assertion", read_trimmed(p)?));
            }
        }
        let started = Instant::now();
        let response = self
            .retrier
            .send("token endpoint", || self.http.post(self.token_url.clone()).form(&form))
            .await?;
        let status = response.status();
        let body = body_limited(response, 1 << 20).await?;
        if !status.is_success() {
            return Err(sign_in_error(status.as_u16(), &body));
        }
        let parsed: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| GraphError::Malformed(format!("token endpoint answered 200 with an unexpected body: {e}")))?;
        let lifetime = Duration::from_secs(parsed.expires_in);
        // Renew five minutes early, or halfway through a short-lived token.
        let margin = Duration::from_secs(300).min(lifetime / 2);
        tracing::debug!(expires_in = parsed.expires_in, "signed in");
        Ok(Cached {
            token: SecretString::from(parsed.access_token),
            refresh_at: started + lifetime - margin,
        })
    }
}

fn read_trimmed(path: &Path) -> Result<String, TokenError> {
    let text = std::fs::read_to_string(path).map_err(|error| TokenError::Unreadable {
        path: path.to_path_buf(),
        error,
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(TokenError::Empty { path: path.to_path_buf() });
    }
    Ok(text.to_string())
}

/// Turns a token endpoint error into an AADSTS error with a plain-language hint.
fn sign_in_error(status: u16, body: &[u8]) -> GraphError {
    let Ok(parsed) = serde_json::from_slice::<TokenErrorBody>(body) else {
        return GraphError::SignIn {
            status,
            code: None,
            error: "unexpected response".into(),
            description: snippet(body),
            hint: "the token endpoint did not answer like the Microsoft identity platform; check authority_host",
        };
    };
    let code = parsed.error_codes.first().copied().or_else(|| {
        let d = parsed.error_description.strip_prefix("AADSTS")?;
        d.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    });
    // The description carries trace and correlation IDs after the first line; keep only the message.
    let description = parsed
        .error_description
        .split("\r\n")
        .next()
        .unwrap_or_default()
        .split(" Trace ID:")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    GraphError::SignIn {
        status,
        code,
        error: parsed.error,
        description,
        hint: aadsts_hint(code),
    }
}

/// What an operator should do about an AADSTS code.
pub fn aadsts_hint(code: Option<u64>) -> &'static str {
    match code {
        Some(7000215) => {
            "wrong client secret: use the secret's Value (shown once when created), not its Secret ID, and check it belongs to this client_id"
        }
        Some(7000222) => {
            "the client secret has expired: create a new one under Certificates & secrets of credwatch's app registration and update the configuration"
        }
        Some(90002) => "tenant not found: check tenant_id (a GUID or a domain) and that authority_host is the right cloud",
        Some(700016) => "application not found in the tenant: check client_id and that the app is registered in this tenant (tenant_id)",
        Some(700027) => {
            "the certificate was not accepted: upload this certificate (see its thumbprint) to the app registration, or check that the key and certificate match"
        }
        Some(700024) => "the client assertion is outside its valid time range: check this machine's clock",
        Some(70011) => "invalid scope: check graph_url",
        Some(50027) => "the client assertion is malformed: check the certificate or federated token file",
        Some(700213) | Some(70021) => {
            "no federated credential matches the presented token: check the federated credential's issuer and subject on the app registration"
        }
        Some(7000112) => "the application is disabled in the tenant",
        _ => "see the error description; https://login.microsoftonline.com/error?code=<code> explains the code",
    }
}

pub(super) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}
