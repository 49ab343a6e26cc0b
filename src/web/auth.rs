//! Access control for the dashboard and API (`[server.auth]`), and the security headers every
//! response carries. `/healthz` and static assets stay open; the calendar feed checks its own
//! token (calendar clients cannot log in); `/metrics` also opens to its own bearer token.

use crate::config::{AuthConfig, AuthMode, BasicUser};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{Error, HttpResponse, web};
use base64::Engine;
use secrecy::ExposeSecret;
use sha2::Digest;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Mutex;
use subtle::ConstantTimeEq;

/// The Content-Security-Policy: scripts only from our own /static (no inline script), no framing.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Headers on every response. `Referrer-Policy: no-referrer` keeps a calendar URL (with its token)
/// from leaking through a Referer.
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CSP))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
}

/// Decides who may pass; shared by all workers.
pub struct AuthGuard {
    config: AuthConfig,
    /// Digests of (user, password, hash) already verified: argon2 is deliberately slow, and a
    /// browser sends Basic credentials with every request.
    verified: Mutex<HashSet<[u8; 32]>>,
}

/// What the guard decided about a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// 401 with a Basic challenge.
    Challenge,
    /// 403 with the reason.
    Forbidden(&'static str),
}

const MAX_CACHED: usize = 1024;

impl AuthGuard {
    pub fn new(config: AuthConfig) -> AuthGuard {
        AuthGuard {
            config,
            verified: Mutex::new(HashSet::new()),
        }
    }

    /// Paths that never need a login.
    fn open(path: &str) -> bool {
        path == "/healthz"
            || path.starts_with("/static/")
            || path == "/calendar.ics"
            || path.starts_with("/calendar/")
            || path == "/favicon.ico"
    }

    pub async fn decide(&self, path: &str, headers: &header::HeaderMap, peer: Option<IpAddr>) -> Verdict {
        if Self::open(path) {
            return Verdict::Allow;
        }
        let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if path == "/metrics"
            && let (Some(token), Some(given)) = (&self.config.metrics_token, authorization.strip_prefix("Bearer "))
            && bool::from(given.trim().as_bytes().ct_eq(token.expose_secret().as_bytes()))
        {
            return Verdict::Allow;
        }
        match &self.config.mode {
            AuthMode::None => Verdict::Allow,
            AuthMode::Basic { users, .. } => {
                let Some((user, password)) = basic_credentials(authorization) else {
                    return Verdict::Challenge;
                };
                match users.iter().find(|u| u.name == user) {
                    Some(u) if self.verify(u, &password).await => Verdict::Allow,
                    _ => Verdict::Challenge,
                }
            }
            AuthMode::Proxy {
                user_header,
                trusted_proxies,
            } => {
                if !peer.is_some_and(|ip| trusted_proxies.iter().any(|net| net.contains(&ip))) {
                    return Verdict::Forbidden("this credwatch only answers through its authenticating proxy");
                }
                let named = headers
                    .get(user_header.as_str())
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| !v.trim().is_empty());
                if named {
                    Verdict::Allow
                } else {
                    Verdict::Forbidden("the proxy did not name a user")
                }
            }
        }
    }

    async fn verify(&self, user: &BasicUser, password: &str) -> bool {
        let mut h = sha2::Sha256::new();
        for part in [user.name.as_bytes(), password.as_bytes(), user.password_hash.as_bytes()] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        let key: [u8; 32] = h.finalize().into();
        if self.verified.lock().unwrap_or_else(|e| e.into_inner()).contains(&key) {
            return true;
        }
        let hash = user.password_hash.clone();
        let password = password.to_string();
        // argon2 takes tens of milliseconds of CPU: off the async workers.
        let ok = web::block(move || {
            use argon2::PasswordVerifier;
            argon2::PasswordHash::new(&hash)
                .is_ok_and(|parsed| argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
        .unwrap_or(false);
        if ok {
            let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(key);
        }
        ok
    }

    fn realm(&self) -> &str {
        match &self.config.mode {
            AuthMode::Basic { realm, .. } => realm,
            _ => "credwatch",
        }
    }
}

fn basic_credentials(authorization: &str) -> Option<(String, String)> {
    let encoded = authorization
        .strip_prefix("Basic ")
        .or_else(|| authorization.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The middleware: lets a request through or answers 401/403 itself.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(guard) = req.app_data::<web::Data<AuthGuard>>().cloned() else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    let peer = req.peer_addr().map(|a| a.ip());
    match guard.decide(req.path(), req.headers(), peer).await {
        Verdict::Allow => next.call(req).await.map(ServiceResponse::map_into_left_body),
        Verdict::Challenge => {
            let response = HttpResponse::Unauthorized()
                .insert_header((
                    header::WWW_AUTHENTICATE,
                    format!("Basic realm=\"{}\", charset=\"UTF-8\"", guard.realm()),
                ))
                .content_type("text/plain; charset=utf-8")
                .body("credwatch: log in to see this page\n");
            Ok(req.into_response(response).map_into_right_body())
        }
        Verdict::Forbidden(why) => {
            let response = HttpResponse::Forbidden()
                .content_type("text/plain; charset=utf-8")
                .body(format!("credwatch: {why}\n"));
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}

/// An argon2id PHC string for `password`, for `[[server.auth.users]]`.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::PasswordHasher;
    use argon2::password_hash::SaltString;
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let salt = SaltString::encode_b64(&bytes).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}
