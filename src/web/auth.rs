//! Access control for the dashboard and API (`[server.auth]`), and the security headers every
//! response carries. `/healthz` and static assets stay open; the calendar feed checks its own
//! token (calendar clients cannot log in); `/metrics` also opens to its own bearer token.

mod checks;
pub mod oidc;
mod throttle;

pub use checks::CheckStats;
pub use oidc::{Role, User};
pub use throttle::FREE_FAILURES;

use crate::config::{AuthConfig, AuthMode};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{Error, HttpMessage, HttpResponse, web};
use base64::Engine;
use checks::{Busy, Checks, Lane, StoredHash};
use secrecy::ExposeSecret;
use sha2::Digest;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use throttle::{ClientKey, Escalation, Throttle};

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
    /// `mode = "basic"`'s users with their hashes taken apart, and the decoy unknown names are
    /// checked against.
    accounts: Vec<(String, StoredHash)>,
    decoy: StoredHash,
    /// Digests of (user, password, hash) already verified: argon2 is deliberately slow, and a
    /// browser sends Basic credentials with every request.
    verified: Mutex<HashSet<[u8; 32]>>,
    checks: Arc<Checks>,
    throttle: Throttle,
    /// The sign-in side of `mode = "oidc"`.
    oidc: Option<Arc<oidc::Oidc>>,
}

/// What the guard decided about a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// 401 with a Basic challenge.
    Challenge,
    /// 403 with the reason.
    Forbidden(&'static str),
    /// 429: this address failed too often; it may try again after the wait.
    TooManyFailures(Duration),
    /// 503: too many logins are being checked right now.
    Busy,
}

const MAX_CACHED: usize = 1024;

impl AuthGuard {
    /// The guard of `[server.auth]`; with `mode = "basic"`, at most `password_checks` argon2
    /// verifications run at once.
    pub fn new(config: AuthConfig) -> AuthGuard {
        let password_checks = match &config.mode {
            AuthMode::Basic { password_checks, .. } => *password_checks,
            _ => 1,
        };
        let accounts: Vec<(String, StoredHash)> = match &config.mode {
            AuthMode::Basic { users, .. } => users
                .iter()
                .filter_map(|u| match StoredHash::parse(&u.password_hash) {
                    Ok(hash) => Some((u.name.clone(), hash)),
                    Err(e) => {
                        tracing::error!(user = %u.name, error = %e, "this user's password hash cannot be used; the user cannot log in");
                        None
                    }
                })
                .collect(),
            _ => Vec::new(),
        };
        let decoy = accounts
            .first()
            .map(|(_, hash)| StoredHash::decoy(hash))
            .unwrap_or_else(StoredHash::default_decoy);
        let oidc = match &config.mode {
            AuthMode::Oidc(oidc) => Some(Arc::new(oidc::Oidc::new((**oidc).clone()))),
            _ => None,
        };
        AuthGuard {
            oidc,
            config,
            accounts,
            decoy,
            verified: Mutex::new(HashSet::new()),
            checks: Arc::new(Checks::new(password_checks)),
            throttle: Throttle::default(),
        }
    }

    /// What the password checks have done so far.
    pub fn check_stats(&self) -> CheckStats {
        self.checks.stats()
    }

    /// Paths that never need a login.
    fn open(path: &str) -> bool {
        path == "/healthz"
            || path.starts_with("/static/")
            || path == "/calendar.ics"
            || path.starts_with("/calendar/")
            || path == "/favicon.ico"
            // Signed action links carry their own authority (see `web::act`).
            || path.starts_with("/act/")
    }

    pub async fn decide(&self, path: &str, headers: &header::HeaderMap, peer: Option<IpAddr>) -> Verdict {
        if Self::open(path) {
            return Verdict::Allow;
        }
        let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if path == "/metrics"
            && let (Some(token), Some(given)) = (&self.config.metrics_token, scheme_value(authorization, "Bearer"))
            && same_secret(token.expose_secret(), given)
        {
            return Verdict::Allow;
        }
        match &self.config.mode {
            AuthMode::None => Verdict::Allow,
            AuthMode::Basic { .. } => {
                let Some((user, password)) = basic_credentials(authorization) else {
                    return Verdict::Challenge;
                };
                self.login(&user, password, ClientKey::of(peer)).await
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
            // Sessions and access tokens are checked by `oidc::Oidc::access`.
            AuthMode::Oidc(_) => Verdict::Challenge,
        }
    }

    /// A Basic login. The backoff comes before the cache of verified logins: otherwise an
    /// address in backoff could still test guesses against the cache at full speed.
    async fn login(&self, user: &str, password: String, client: ClientKey) -> Verdict {
        if let Some(wait) = self.throttle.blocked(client, Instant::now()) {
            return Verdict::TooManyFailures(wait);
        }
        let account = self.accounts.iter().find(|(name, _)| name == user);
        let key = account.map(|(name, hash)| cache_key(name, &password, hash));
        if let Some(key) = &key
            && self.verified.lock().unwrap_or_else(|e| e.into_inner()).contains(key)
        {
            return Verdict::Allow;
        }
        if let Err(wait) = self.throttle.reserve(client, Instant::now()) {
            return Verdict::TooManyFailures(wait);
        }
        let reservation = Reservation {
            throttle: &self.throttle,
            client,
            done: false,
        };
        // An unknown name is checked against the decoy, so it costs what a known one does and
        // its answer's timing does not tell which names exist.
        let hash = account.map(|(_, hash)| hash.clone()).unwrap_or_else(|| self.decoy.clone());
        let lane = if self.throttle.suspect(client) {
            Lane::Suspect
        } else {
            Lane::Clean
        };
        let ok = match self.checks.verify(hash, password, lane).await {
            Ok(ok) => ok && account.is_some(),
            Err(Busy) => {
                self.throttle.turned_away(client, Instant::now());
                return Verdict::Busy;
            }
        };
        let escalation = reservation.finish(ok);
        if let Some((failures, wait)) = escalation.client_waits {
            tracing::warn!(client = ?client, failures, wait_secs = wait.as_secs(), "failed logins: this address now waits before each attempt");
        }
        if escalation.attack_began {
            tracing::warn!(
                "failed logins from many addresses: every address that has failed now waits; addresses that never failed are not held back"
            );
        }
        if !ok {
            return Verdict::Challenge;
        }
        if let Some(key) = key {
            let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(key);
        }
        Verdict::Allow
    }

    fn realm(&self) -> &str {
        match &self.config.mode {
            AuthMode::Basic { realm, .. } => realm,
            _ => "credwatch",
        }
    }
}

/// A verification reserved with the throttle; released without a verdict if the request goes
/// away before its check ran.
struct Reservation<'a> {
    throttle: &'a Throttle,
    client: ClientKey,
    done: bool,
}

impl Reservation<'_> {
    fn finish(mut self, ok: bool) -> Escalation {
        self.done = true;
        self.throttle.finish(self.client, Some(ok), Instant::now())
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.throttle.finish(self.client, None, Instant::now());
        }
    }
}

fn cache_key(user: &str, password: &str, hash: &StoredHash) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    for part in [user.as_bytes(), password.as_bytes(), hash.identity()] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// Equal secrets, compared without leaking where they differ or how long the configured one is:
/// both sides are hashed first, as the calendar token is.
fn same_secret(configured: &str, given: &str) -> bool {
    let a = sha2::Sha256::digest(configured.as_bytes());
    let b = sha2::Sha256::digest(given.as_bytes());
    bool::from(a.ct_eq(&b))
}

/// The credentials of an `Authorization` header for `scheme`; schemes are case-insensitive
/// (RFC 9110 §11.1), so `bearer` and `BASIC` count.
fn scheme_value<'a>(authorization: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, value) = authorization.trim_start().split_once([' ', '\t'])?;
    given.eq_ignore_ascii_case(scheme).then(|| value.trim())
}

fn basic_credentials(authorization: &str) -> Option<(String, String)> {
    let encoded = scheme_value(authorization, "Basic")?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Who may act on credentials from the dashboard, as the request was let in: the Basic login,
/// the user the proxy named, a signed-in Entra user with the operate (or admin) role, or
/// "anonymous" when `mode = "none"` allows actions (`anonymous_actions`). `None`: nobody to
/// record, so no action. The guard checked the request before any handler sees it.
pub fn acting_user(config: &AuthConfig, req: &actix_web::HttpRequest) -> Option<String> {
    let headers = req.headers();
    match &config.mode {
        AuthMode::None => config.anonymous_actions.then(|| "anonymous".to_string()),
        AuthMode::Basic { .. } => {
            let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())?;
            basic_credentials(authorization).map(|(user, _)| user)
        }
        AuthMode::Proxy { user_header, .. } => headers
            .get(user_header.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string),
        AuthMode::Oidc(_) => req
            .extensions()
            .get::<User>()
            .filter(|u| u.role >= Role::Operate)
            .map(|u| u.name.clone()),
    }
}

/// Answers that may carry credential data or a token must not be kept by browsers or proxies;
/// only the static assets may be cached.
fn cacheable(path: &str) -> bool {
    path.starts_with("/static/")
}

/// The middleware: lets a request through or answers 401/403/429/503 itself, and marks every
/// answer but the static assets `Cache-Control: no-store`.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let no_store = !cacheable(req.path());
    let mut response = answer(req, next).await?;
    if no_store {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    }
    Ok(response)
}

async fn answer(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let Some(guard) = req.app_data::<web::Data<AuthGuard>>().cloned() else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    let peer = req.peer_addr().map(|a| a.ip());
    if let Some(oidc) = guard.oidc.clone()
        && !req.path().starts_with("/auth/")
        && guard.decide(req.path(), req.headers(), peer).await != Verdict::Allow
    {
        let store = req.app_data::<web::Data<crate::web::state::AppState>>().map(|s| s.store.clone());
        let access = oidc.access(&req, store.as_ref()).await;
        if let oidc::Access::Allowed(user) = access {
            actix_web::HttpMessage::extensions_mut(&req).insert(user);
            return next.call(req).await.map(ServiceResponse::map_into_left_body);
        }
        let response = oidc.refuse(access, &req);
        return Ok(req.into_response(response).map_into_right_body());
    }
    if guard.oidc.is_some() {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let text = |mut response: actix_web::HttpResponseBuilder, body: String| response.content_type("text/plain; charset=utf-8").body(body);
    let response = match guard.decide(req.path(), req.headers(), peer).await {
        Verdict::Allow => return next.call(req).await.map(ServiceResponse::map_into_left_body),
        Verdict::Challenge => {
            let mut r = HttpResponse::Unauthorized();
            r.insert_header((
                header::WWW_AUTHENTICATE,
                format!("Basic realm=\"{}\", charset=\"UTF-8\"", guard.realm()),
            ));
            text(r, "credwatch: log in to see this page\n".into())
        }
        Verdict::Forbidden(why) => text(HttpResponse::Forbidden(), format!("credwatch: {why}\n")),
        Verdict::TooManyFailures(wait) => {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            let mut r = HttpResponse::TooManyRequests();
            r.insert_header((header::RETRY_AFTER, secs.to_string()));
            text(
                r,
                format!("credwatch: too many failed logins from your address; try again in {secs} s\n"),
            )
        }
        Verdict::Busy => {
            let mut r = HttpResponse::ServiceUnavailable();
            r.insert_header((header::RETRY_AFTER, "1"));
            text(
                r,
                "credwatch: too many logins are being checked right now; try again in a second\n".into(),
            )
        }
    };
    Ok(req.into_response(response).map_into_right_body())
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
