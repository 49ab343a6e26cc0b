//! `mode = "oidc"`: people sign in with Microsoft Entra ID (authorization code flow with PKCE,
//! graph-facts §12) and get a server-side session; scripts send an access token issued for the
//! same app. Both carry app roles, mapped by `server.auth.roles` to what a request may do.

use crate::config::{ClientCredential, OidcConfig};
use crate::domain::html_escape;
use crate::store::{PendingSignIn, SessionRow, Store};
use actix_web::dev::ServiceRequest;
use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::Digest;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// The session cookie: an opaque random id.
pub const SESSION_COOKIE: &str = "credwatch_session";
/// The cookie that ties a callback to the browser that started the sign-in (its `state`).
const LOGIN_COOKIE: &str = "credwatch_login";
/// How long a started sign-in may take.
const LOGIN_TTL: Duration = Duration::from_secs(600);
/// Sign-ins in progress at once; beyond it the oldest make room.
const MAX_PENDING: i64 = 10_000;
/// Clock skew allowed on `exp`/`nbf`.
const LEEWAY_SECS: u64 = 120;
/// Discovery is fetched again after this long.
const DISCOVERY_TTL: Duration = Duration::from_secs(24 * 3600);
/// At most this many JWKS fetches per [`JWKS_WINDOW`], however many unknown `kid`s arrive: a
/// token with a made-up `kid` must not turn into a request to the authority each time.
const JWKS_FETCHES_PER_WINDOW: usize = 3;
const JWKS_WINDOW: Duration = Duration::from_secs(60);
/// A session's `seen_at` is written at most this often.
const TOUCH_AFTER_SECS: i64 = 60;

/// What a signed-in person or a script may do, from its app roles; ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Read,
    Operate,
    Admin,
}

/// Who made a request, as a request extension (`req.extensions().get::<User>()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `preferred_username` of a person, or the client id of a script. For display and logs:
    /// it is mutable, so nothing is decided on it.
    pub name: String,
    pub role: Role,
}

#[derive(Deserialize, Clone)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Default)]
struct Keys {
    set: Option<JwkSet>,
    fetches: VecDeque<Instant>,
}

/// The claims credwatch reads from ID and access tokens.
#[derive(Deserialize, Debug)]
struct Claims {
    iss: String,
    tid: Option<String>,
    oid: Option<String>,
    preferred_username: Option<String>,
    appid: Option<String>,
    azp: Option<String>,
    nonce: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

/// Why a token was refused. Said in logs; the answer to the client stays terse.
#[derive(Debug, thiserror::Error)]
pub enum TokenProblem {
    #[error("not a JWT, or its algorithm is not RS256: {0}")]
    Header(String),
    #[error("algorithm {0:?} refused: only RS256 is accepted")]
    Algorithm(Algorithm),
    #[error("no `kid` in the header")]
    NoKid,
    #[error("the signing key {0:?} is not in the authority's key set")]
    UnknownKey(String),
    #[error("{0}")]
    Invalid(String),
    #[error("issuer {0:?} is not this app's tenant")]
    Issuer(String),
    #[error("tenant {0:?} is not among allowed_tenants")]
    Tenant(String),
    #[error("the nonce does not match the sign-in")]
    Nonce,
    #[error("the authority could not be asked: {0}")]
    Authority(String),
}

/// The sign-in side of the guard.
pub struct Oidc {
    config: OidcConfig,
    http: reqwest::Client,
    discovery: tokio::sync::Mutex<Option<(Discovery, Instant)>>,
    keys: tokio::sync::Mutex<Keys>,
}

/// What the guard decided about a request under `mode = "oidc"`.
#[derive(Debug)]
pub enum Access {
    Allowed(User),
    /// A page without a session: send the browser to sign in.
    SignIn,
    /// An API or metrics request without a valid token or session.
    Unauthorized,
    /// Signed in, but without the role this request needs.
    NeedsRole(String),
    /// The session store failed.
    Unavailable,
}

fn random() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn session_key(id: &str) -> Vec<u8> {
    sha2::Sha256::digest(id.as_bytes()).to_vec()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// `return_to` if it is a path of this site, else `/`: `//host`, `/\host` and schemes would send
/// the browser elsewhere after sign-in.
pub fn same_origin_path(return_to: Option<&str>) -> String {
    match return_to {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && !p.chars().any(|c| c.is_control() || c == '\\')
                && p.len() <= 2048 =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

impl Oidc {
    pub fn new(config: OidcConfig) -> Oidc {
        crate::tls::install();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Oidc {
            config,
            http,
            discovery: Default::default(),
            keys: Default::default(),
        }
    }

    fn role_of(&self, roles: &[String]) -> Option<Role> {
        let names = &self.config.roles;
        let has = |name: &str| roles.iter().any(|r| r == name);
        if has(&names.admin) {
            Some(Role::Admin)
        } else if has(&names.operate) {
            Some(Role::Operate)
        } else if has(&names.read) {
            Some(Role::Read)
        } else {
            None
        }
    }

    /// The app role a request with `method` needs: reading for GET and HEAD, operating for the rest.
    fn needed(&self, method: &Method) -> (Role, &str) {
        if matches!(*method, Method::GET | Method::HEAD) {
            (Role::Read, &self.config.roles.read)
        } else {
            (Role::Operate, &self.config.roles.operate)
        }
    }

    async fn discovery(&self) -> Result<Discovery, TokenProblem> {
        let mut cached = self.discovery.lock().await;
        if let Some((d, at)) = cached.as_ref()
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(d.clone());
        }
        let url = format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            self.config.authority_host.as_str().trim_end_matches('/'),
            self.config.tenant_id
        );
        let d: Discovery = self.get_json(&url).await?;
        *cached = Some((d.clone(), Instant::now()));
        Ok(d)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, TokenProblem> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| TokenProblem::Authority(format!("{url}: {e}")))?;
        if !response.status().is_success() {
            return Err(TokenProblem::Authority(format!("{url} answered {}", response.status())));
        }
        response.json().await.map_err(|e| TokenProblem::Authority(format!("{url}: {e}")))
    }

    /// The key `kid` names: from the cached set, or from a fresh fetch when it is not there
    /// (keys rotate), within the bound on fetches.
    async fn key(&self, kid: &str) -> Result<DecodingKey, TokenProblem> {
        let mut keys = self.keys.lock().await;
        let find = |set: &Option<JwkSet>| set.as_ref().and_then(|s| s.find(kid)).map(DecodingKey::from_jwk);
        if let Some(key) = find(&keys.set) {
            return key.map_err(|e| TokenProblem::Invalid(e.to_string()));
        }
        while keys.fetches.front().is_some_and(|at| at.elapsed() > JWKS_WINDOW) {
            keys.fetches.pop_front();
        }
        if keys.fetches.len() >= JWKS_FETCHES_PER_WINDOW {
            return Err(TokenProblem::UnknownKey(kid.to_string()));
        }
        keys.fetches.push_back(Instant::now());
        let discovery = self.discovery().await?;
        let set: JwkSet = self.get_json(&discovery.jwks_uri).await?;
        keys.set = Some(set);
        match find(&keys.set) {
            Some(key) => key.map_err(|e| TokenProblem::Invalid(e.to_string())),
            None => Err(TokenProblem::UnknownKey(kid.to_string())),
        }
    }

    /// Checks a token's signature (RS256 with the authority's key), `exp`/`nbf`, `aud` (one of
    /// `audiences`), `iss` (the tenant's issuer; the v1.0 one too when `v1` is allowed) and the
    /// tenant.
    async fn validate(&self, token: &str, audiences: &[String], v1: bool) -> Result<Claims, TokenProblem> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| TokenProblem::Header(e.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenProblem::Algorithm(header.alg));
        }
        let kid = header.kid.ok_or(TokenProblem::NoKid)?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_audience(audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| TokenProblem::Invalid(e.to_string()))?
            .claims;
        let discovery = self.discovery().await?;
        let tid = claims.tid.clone().unwrap_or_default();
        let v2_issuer = discovery.issuer.replace("{tenantid}", &tid);
        // The issuer names the tenant (`…/{tid}/v2.0`); `tid` must be that same tenant, so a
        // single-tenant app's issuer pins both.
        let names_tid = v2_issuer.contains(&format!("/{tid}/"));
        let issuer_ok = names_tid && (claims.iss == v2_issuer || (v1 && claims.iss == format!("https://sts.windows.net/{tid}/")));
        if tid.is_empty() || !issuer_ok {
            return Err(TokenProblem::Issuer(claims.iss));
        }
        let allowed = &self.config.allowed_tenants;
        if !allowed.is_empty() && !allowed.contains(&tid.to_ascii_lowercase()) {
            return Err(TokenProblem::Tenant(tid));
        }
        Ok(claims)
    }

    /// Decides a request that no open path or metrics token let through.
    pub async fn access(&self, req: &ServiceRequest, store: Option<&Store>) -> Access {
        let path = req.path();
        let scripted = path.starts_with("/api/") || path == "/metrics";
        let (needed, role_name) = self.needed(req.method());
        let authorization = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if scripted && let Some(token) = super::scheme_value(authorization, "Bearer") {
            let audiences = [self.config.client_id.clone(), format!("api://{}", self.config.client_id)];
            return match self.validate(token, &audiences, true).await {
                Ok(claims) => {
                    let name = claims.azp.or(claims.appid).or(claims.oid).unwrap_or_default();
                    match self.role_of(&claims.roles) {
                        Some(role) if role >= needed => Access::Allowed(User { name, role }),
                        _ => Access::NeedsRole(role_name.to_string()),
                    }
                }
                Err(e) => {
                    tracing::info!(reason = %e, "bearer token refused");
                    Access::Unauthorized
                }
            };
        }
        let session = match (store, cookie(req.headers(), SESSION_COOKIE)) {
            (Some(store), Some(cookie)) => {
                let idle = self.config.session_idle.as_secs() as i64;
                let absolute = self.config.session_absolute.as_secs() as i64;
                match store.session(&session_key(&cookie), now(), idle, absolute, TOUCH_AFTER_SECS).await {
                    Ok(session) => session,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read sessions");
                        return Access::Unavailable;
                    }
                }
            }
            _ => None,
        };
        match session {
            Some(row) => {
                let roles: Vec<String> = row.roles.lines().map(str::to_string).collect();
                match self.role_of(&roles) {
                    Some(role) if role >= needed => Access::Allowed(User { name: row.user_name, role }),
                    _ => Access::NeedsRole(role_name.to_string()),
                }
            }
            None if scripted || !matches!(*req.method(), Method::GET | Method::HEAD) => Access::Unauthorized,
            None => Access::SignIn,
        }
    }

    /// `GET /auth/login?return_to=/path`: records the sign-in (in the database: the callback may
    /// reach another replica) and sends the browser to the authority.
    pub async fn login(&self, store: &Store, return_to: Option<&str>) -> HttpResponse {
        let discovery = match self.discovery().await {
            Ok(d) => d,
            Err(e) => return self.unavailable(&e),
        };
        let state = random();
        let nonce = random();
        let verifier = random();
        let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
        let sign_in = PendingSignIn {
            nonce: nonce.clone(),
            verifier,
            return_to: same_origin_path(return_to),
        };
        let ttl = LOGIN_TTL.as_secs() as i64;
        match store.begin_sign_in(&session_key(&state), &sign_in, now(), ttl, MAX_PENDING).await {
            Ok(0) => {}
            Ok(dropped) => tracing::warn!(
                dropped,
                "sign-ins are started faster than they finish (a flood of /auth/login?): the oldest pending ones were dropped"
            ),
            Err(e) => return store_failed("record the sign-in", &e),
        }
        let mut url = match url::Url::parse(&discovery.authorization_endpoint) {
            Ok(u) => u,
            Err(e) => return self.unavailable(&TokenProblem::Authority(format!("authorization_endpoint: {e}"))),
        };
        url.query_pairs_mut()
            .append_pair("client_id", &self.config.client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", self.config.redirect_uri.as_str())
            .append_pair("response_mode", "query")
            .append_pair("scope", "openid profile email")
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        HttpResponse::Found()
            .insert_header((header::LOCATION, url.to_string()))
            .append_header(self.cookie(LOGIN_COOKIE, &state, "/auth/", Some(LOGIN_TTL)))
            .finish()
    }

    /// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Secure when public_url is https. The values
    /// are base64url, so nothing needs quoting. (actix's cookie feature is not built in.)
    fn cookie(&self, name: &str, value: &str, path: &str, max_age: Option<Duration>) -> (header::HeaderName, String) {
        let mut cookie = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax");
        if self.config.secure_cookie {
            cookie.push_str("; Secure");
        }
        if let Some(age) = max_age {
            cookie.push_str(&format!("; Max-Age={}", age.as_secs()));
        }
        (header::SET_COOKIE, cookie)
    }

    fn removal(&self, name: &str, path: &str) -> (header::HeaderName, String) {
        self.cookie(name, "", path, Some(Duration::ZERO))
    }

    fn unavailable(&self, e: &TokenProblem) -> HttpResponse {
        tracing::error!(error = %e, "sign-in: the authority could not be asked");
        page(
            HttpResponse::BadGateway(),
            "Sign-in is unavailable",
            "credwatch could not reach the sign-in authority. Try again in a moment; if it persists, the operator should check <code>server.auth.authority_host</code> and <code>tenant_id</code>.",
        )
    }

    /// `GET /auth/callback?code=…&state=…`: checks the state against this browser's sign-in,
    /// redeems the code, checks the ID token and the role, and starts a new session.
    pub async fn callback(&self, req: &HttpRequest, store: &Store) -> HttpResponse {
        let query: HashMap<String, String> = url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect();
        let state = query.get("state").map(String::as_str).unwrap_or_default();
        let cookie_state = cookie(req.headers(), LOGIN_COOKIE).unwrap_or_default();
        let pending = if !state.is_empty() && bool::from(subtle::ConstantTimeEq::ct_eq(state.as_bytes(), cookie_state.as_bytes())) {
            match store.take_sign_in(&session_key(state), now(), LOGIN_TTL.as_secs() as i64).await {
                Ok(pending) => pending,
                Err(e) => return store_failed("read the sign-in back", &e),
            }
        } else {
            None
        };
        let Some(pending) = pending else {
            return page(
                HttpResponse::BadRequest(),
                "Sign-in did not match",
                "This sign-in answer does not belong to a sign-in started in this browser, or it took too long. <a href=\"/auth/login\">Sign in again</a>.",
            );
        };
        if let Some(error) = query.get("error") {
            let description = query.get("error_description").map(String::as_str).unwrap_or_default();
            tracing::info!(error = %error, description = %description, "sign-in refused by the authority");
            return page(
                HttpResponse::Unauthorized(),
                "Sign-in was refused",
                &format!(
                    "The sign-in authority answered <code>{}</code>: {}. <a href=\"/auth/login\">Sign in again</a>.",
                    html_escape(error),
                    html_escape(description)
                ),
            );
        }
        let code = query.get("code").map(String::as_str).unwrap_or_default();
        let claims = match self.redeem(code, &pending).await {
            Ok(claims) => claims,
            Err(e) => {
                tracing::warn!(error = %e, "sign-in failed");
                return page(
                    HttpResponse::Unauthorized(),
                    "Sign-in failed",
                    "The sign-in could not be completed (the operator's log says why). <a href=\"/auth/login\">Sign in again</a>.",
                );
            }
        };
        let name = claims.preferred_username.clone().or(claims.oid.clone()).unwrap_or_default();
        if self.role_of(&claims.roles).is_none() {
            return page(
                HttpResponse::Forbidden(),
                "No access to credwatch",
                &format!(
                    "You are signed in as <strong>{}</strong>, but you have no app role of credwatch. Ask an administrator of the app registration to assign you the role <code>{}</code> (or <code>{}</code> to act on findings), under Enterprise applications → credwatch → Users and groups.",
                    html_escape(&name),
                    html_escape(&self.config.roles.read),
                    html_escape(&self.config.roles.operate)
                ),
            );
        }
        // A session id a visitor brought (fixed by someone else, or an old one) is ended: the
        // signed-in session always gets a fresh id.
        if let Some(old) = cookie(req.headers(), SESSION_COOKIE) {
            let _ = store.end_session(&session_key(&old)).await;
        }
        let id = random();
        let at = now();
        let row = SessionRow {
            user_name: name.clone(),
            oid: claims.oid.clone().unwrap_or_default(),
            tenant_id: claims.tid.clone().unwrap_or_default(),
            roles: claims.roles.join("\n"),
            created_at: at,
            seen_at: at,
        };
        if let Err(e) = store.create_session(&session_key(&id), &row).await {
            return store_failed("store the session", &e);
        }
        let idle = self.config.session_idle.as_secs() as i64;
        let absolute = self.config.session_absolute.as_secs() as i64;
        if let Err(e) = store.purge_sessions(at, idle, absolute).await {
            tracing::warn!(error = %e, "cannot purge timed-out sessions");
        }
        tracing::info!(user = %name, "signed in");
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, pending.return_to))
            .append_header(self.cookie(SESSION_COOKIE, &id, "/", None))
            .append_header(self.removal(LOGIN_COOKIE, "/auth/"))
            .finish()
    }

    /// Redeems `code` at the token endpoint with the app's credential and the PKCE verifier,
    /// and checks the ID token it returns, its nonce included.
    async fn redeem(&self, code: &str, pending: &PendingSignIn) -> Result<Claims, TokenProblem> {
        let discovery = self.discovery().await?;
        let mut form: Vec<(&str, String)> = vec![
            ("grant_type", "authorization_code".into()),
            ("client_id", self.config.client_id.clone()),
            ("code", code.to_string()),
            ("redirect_uri", self.config.redirect_uri.to_string()),
            ("code_verifier", pending.verifier.clone()),
            ("scope", "openid profile email".into()),
        ];
        let assertion_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string();
        match &self.config.credential {
            ClientCredential::Secret(s) => form.push(("client_secret", s.expose_secret().to_string())),
            // Read per sign-in: the owner of the file rotates it.
            ClientCredential::SecretFile(p) => {
                let secret =
                    std::fs::read_to_string(p).map_err(|e| TokenProblem::Authority(format!("cannot read {}: {e}", p.display())))?;
                form.push(("client_secret", secret.trim().to_string()));
            }
            ClientCredential::Certificate(cert) => {
                let assertion = cert
                    .assertion(&self.config.client_id, &discovery.token_endpoint)
                    .map_err(|e| TokenProblem::Authority(e.to_string()))?;
                form.push(("client_assertion_type", assertion_type));
                form.push(("client_assertion", assertion.expose_secret().to_string()));
            }
            ClientCredential::FederatedTokenFile(p) => {
                let token = std::fs::read_to_string(p).map_err(|e| TokenProblem::Authority(format!("cannot read {}: {e}", p.display())))?;
                form.push(("client_assertion_type", assertion_type));
                form.push(("client_assertion", token.trim().to_string()));
            }
        }
        let response = self
            .http
            .post(&discovery.token_endpoint)
            .form(&form)
            .send()
            .await
            .map_err(|e| TokenProblem::Authority(format!("token endpoint: {e}")))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| TokenProblem::Authority(format!("token endpoint: {e}")))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)]).replace(['\r', '\n'], " ");
            return Err(TokenProblem::Authority(format!("token endpoint answered {status}: {text}")));
        }
        #[derive(Deserialize)]
        struct Answer {
            id_token: String,
        }
        let answer: Answer = serde_json::from_slice(&body)
            .map_err(|e| TokenProblem::Authority(format!("token endpoint answered without an id_token: {e}")))?;
        let claims = self
            .validate(&answer.id_token, std::slice::from_ref(&self.config.client_id), false)
            .await?;
        let nonce_ok = claims
            .nonce
            .as_deref()
            .is_some_and(|n| bool::from(subtle::ConstantTimeEq::ct_eq(n.as_bytes(), pending.nonce.as_bytes())));
        if !nonce_ok {
            return Err(TokenProblem::Nonce);
        }
        Ok(claims)
    }

    /// `POST /auth/logout`: ends the session and clears its cookie.
    pub async fn logout(&self, req: &HttpRequest, store: &Store) -> HttpResponse {
        if let Some(cookie) = cookie(req.headers(), SESSION_COOKIE)
            && let Err(e) = store.end_session(&session_key(&cookie)).await
        {
            tracing::error!(error = %e, "cannot end a session");
            return page(
                HttpResponse::ServiceUnavailable(),
                "Sign-out failed",
                "credwatch could not end the session; try again.",
            );
        }
        let mut ok = HttpResponse::Ok();
        ok.append_header(self.removal(SESSION_COOKIE, "/"));
        page(
            ok,
            "Signed out",
            "You are signed out of credwatch. <a href=\"/auth/login\">Sign in again</a>.",
        )
    }

    /// The answer to a request the guard turned away.
    pub fn refuse(&self, access: Access, req: &ServiceRequest) -> HttpResponse {
        match access {
            Access::Allowed(_) => HttpResponse::InternalServerError().finish(),
            Access::SignIn => {
                let here = match req.query_string() {
                    "" => req.path().to_string(),
                    q => format!("{}?{q}", req.path()),
                };
                let target: String = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("return_to", &here)
                    .finish();
                HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, format!("/auth/login?{target}")))
                    .finish()
            }
            Access::Unauthorized => HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .content_type("text/plain; charset=utf-8")
                .body("credwatch: sign in at /auth/login, or send Authorization: Bearer <access token for credwatch's app>\n"),
            Access::NeedsRole(role) => page(
                HttpResponse::Forbidden(),
                "No access",
                &format!(
                    "This needs the app role <code>{}</code> of credwatch. Ask an administrator of the app registration to assign it to you (Enterprise applications → credwatch → Users and groups).",
                    html_escape(&role)
                ),
            ),
            Access::Unavailable => HttpResponse::ServiceUnavailable()
                .insert_header((header::RETRY_AFTER, "5"))
                .content_type("text/plain; charset=utf-8")
                .body("credwatch: sessions cannot be read right now; try again shortly\n"),
        }
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie(headers: &header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A sign-in step the database refused: logged, and a 503 page that sends the person to start
/// again.
fn store_failed(what: &str, e: &crate::store::StoreError) -> HttpResponse {
    tracing::error!(error = %e, "sign-in: cannot {what}");
    page(
        HttpResponse::ServiceUnavailable(),
        "Sign-in failed",
        &format!("credwatch could not {what}; <a href=\"/auth/login\">sign in again</a>."),
    )
}

/// A small page of its own (no layout: it must render without a session). `body` is HTML the
/// caller escaped.
fn page(mut response: actix_web::HttpResponseBuilder, title: &str, body: &str) -> HttpResponse {
    response.content_type("text/html; charset=utf-8").body(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · credwatch</title></head>\n<body><h1>{title}</h1>\n<p>{body}</p></body></html>\n"
    ))
}

/// The guard of a running service, with the store, for the `/auth/*` handlers.
fn parts(req: &HttpRequest) -> Option<(std::sync::Arc<Oidc>, Store)> {
    let guard = req.app_data::<web::Data<super::AuthGuard>>()?;
    let state = req.app_data::<web::Data<crate::web::state::AppState>>()?;
    Some((guard.oidc.clone()?, state.store.clone()))
}

#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
}

#[actix_web::get("/auth/login")]
pub async fn login(req: HttpRequest, query: web::Query<LoginQuery>) -> HttpResponse {
    match parts(&req) {
        Some((oidc, store)) => oidc.login(&store, query.return_to.as_deref()).await,
        None => HttpResponse::NotFound().finish(),
    }
}

#[actix_web::get("/auth/callback")]
pub async fn callback(req: HttpRequest) -> HttpResponse {
    match parts(&req) {
        Some((oidc, store)) => oidc.callback(&req, &store).await,
        None => HttpResponse::NotFound().finish(),
    }
}

/// `GET /auth/logout` only asks: a link (or an image) on another site must not sign anyone out.
#[actix_web::get("/auth/logout")]
pub async fn logout_page(req: HttpRequest) -> HttpResponse {
    match parts(&req) {
        Some(_) => HttpResponse::Ok().content_type("text/html; charset=utf-8").body(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign out · credwatch</title></head>\
             <body><main><h1>Sign out of credwatch?</h1><form method=\"post\" action=\"/auth/logout\">\
             <button type=\"submit\">Sign out</button></form></main></body></html>",
        ),
        None => HttpResponse::NotFound().finish(),
    }
}

/// `POST /auth/logout`: the session cookie is SameSite=Lax, so another site's form cannot send
/// it; a browser that says the request came from another site is refused all the same.
#[actix_web::post("/auth/logout")]
pub async fn logout(req: HttpRequest) -> HttpResponse {
    let cross_site = req.headers().get("sec-fetch-site").is_some_and(|v| v.as_bytes() == b"cross-site");
    match parts(&req) {
        Some(_) if cross_site => page(
            HttpResponse::Forbidden(),
            "Not signed out",
            "A sign-out must come from credwatch's own pages.",
        ),
        Some((oidc, store)) => oidc.logout(&req, &store).await,
        None => HttpResponse::NotFound().finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::same_origin_path;

    #[test]
    fn return_urls_stay_on_this_site() {
        assert_eq!(same_origin_path(Some("/apps/x?y=1")), "/apps/x?y=1");
        for bad in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "evil",
            "/a\r\nSet-Cookie: x",
        ] {
            assert_eq!(same_origin_path(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(same_origin_path(None), "/");
    }
}
