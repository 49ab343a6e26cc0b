//! The emulator as the OpenID Connect authority of its tenants (graph-facts §12): discovery,
//! an authorize endpoint whose sign-in page lists the tenant's test users, authorization codes
//! (with PKCE) redeemed at the token endpoint for RS256 ID tokens, the JWKS with switchable key
//! rotation, and signed access tokens for scripts calling an API app.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::RngCore;
use serde_json::{Value, json};
use sha2::Digest;

use super::Shared;
use super::errors::AadError;

/// The signing keys, in rotation order. Fixed keys, so no test waits for RSA key generation.
const KEY_PEMS: [&str; 2] = [include_str!("../keys/signing-1.pem"), include_str!("../keys/signing-2.pem")];
/// How long a code may wait to be redeemed; Entra's codes live about ten minutes.
const CODE_LIFETIME_SECS: i64 = 600;

/// A user who may sign in on the emulator's sign-in page.
#[derive(Debug, Clone)]
pub struct TestUser {
    /// `oid`: the stable object id.
    pub oid: String,
    /// `preferred_username`.
    pub username: String,
    /// `name`: shown on the sign-in page (escaped: tests give it hostile values).
    pub name: String,
    /// App roles assigned to this user, sent in `roles`.
    pub roles: Vec<String>,
}

/// An issued, not yet redeemed authorization code.
#[derive(Debug, Clone)]
pub(crate) struct IssuedCode {
    tenant: String,
    client_id: String,
    redirect_uri: String,
    nonce: Option<String>,
    challenge: Option<String>,
    user: TestUser,
    expires_at: i64,
}

/// One signing key: what signs, and what the JWKS publishes.
#[derive(Debug, Clone)]
pub(crate) struct SigningKey {
    kid: String,
    pem: &'static str,
    n: String,
    e: String,
}

impl SigningKey {
    fn load(pem: &'static str) -> SigningKey {
        let cert = super::token::CertInfo::from_pem(pem).expect("the emulator's signing certificate parses");
        let (n, e) = cert.rsa_components().expect("the emulator's signing key is RSA");
        SigningKey {
            kid: cert.thumbprint().to_string(),
            pem,
            n: URL_SAFE_NO_PAD.encode(n),
            e: URL_SAFE_NO_PAD.encode(e),
        }
    }
}

/// The authority's state inside the emulator.
#[derive(Debug)]
pub(crate) struct Authority {
    pub users: HashMap<String, Vec<TestUser>>,
    pub codes: HashMap<String, IssuedCode>,
    /// (tenant, client id) → app roles its app-only tokens carry.
    pub app_roles: HashMap<(String, String), Vec<String>>,
    /// (tenant, client id) → the redirect URIs registered for it (Authentication → Web).
    pub redirect_uris: HashMap<(String, String), Vec<String>>,
    keys: Vec<SigningKey>,
    /// Index of the key that signs now; the JWKS lists every key up to it.
    current: usize,
    pub jwks_requests: usize,
    /// Claims the next ID token gets instead of the right ones (a test of credwatch's checks).
    pub next_id_token: Option<Value>,
}

impl Default for Authority {
    fn default() -> Authority {
        Authority {
            users: HashMap::new(),
            codes: HashMap::new(),
            app_roles: HashMap::new(),
            redirect_uris: HashMap::new(),
            keys: KEY_PEMS.iter().map(|pem| SigningKey::load(pem)).collect(),
            current: 0,
            jwks_requests: 0,
            next_id_token: None,
        }
    }
}

impl Authority {
    /// Signs with the next key (published from now on beside the old one); false when there is none.
    pub fn rotate_key(&mut self) -> bool {
        if self.current + 1 >= self.keys.len() {
            return false;
        }
        self.current += 1;
        true
    }

    /// A JWT of `claims` signed RS256 with the current key.
    pub fn sign(&self, claims: &Value) -> String {
        let key = &self.keys[self.current];
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(key.kid.clone());
        let encoding = EncodingKey::from_rsa_pem(key.pem.as_bytes()).expect("the emulator's signing key parses");
        jsonwebtoken::encode(&header, claims, &encoding).expect("signing with the emulator's key")
    }
}

fn issuer(base: &str, tenant: &str) -> String {
    format!("{base}/{tenant}/v2.0")
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub(crate) async fn discovery(tenant: web::Path<String>, shared: web::Data<Shared>) -> HttpResponse {
    let state = shared.lock();
    // A multi-tenant app's authority names no tenant; its issuer is a template (graph-facts §12).
    let multi = matches!(tenant.as_str(), "organizations" | "common");
    if !multi && !state.tenants.contains_key(tenant.as_str()) {
        return tenant_not_found(&tenant).response();
    }
    let base = &state.base_url;
    HttpResponse::Ok().json(json!({
        "issuer": issuer(base, if multi { "{tenantid}" } else { &tenant }),
        "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
        "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
        "end_session_endpoint": format!("{base}/{tenant}/oauth2/v2.0/logout"),
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "tenant_region_scope": "EU",
    }))
}

/// `GET /{tenant}/discovery/v2.0/keys`.
pub(crate) async fn keys(shared: web::Data<Shared>) -> HttpResponse {
    let mut state = shared.lock();
    state.authority.jwks_requests += 1;
    let authority = &state.authority;
    let keys: Vec<Value> = authority.keys[..=authority.current]
        .iter()
        .map(|k| json!({"kty": "RSA", "use": "sig", "kid": k.kid, "x5t": k.kid, "n": k.n, "e": k.e}))
        .collect();
    HttpResponse::Ok().json(json!({ "keys": keys }))
}

fn tenant_not_found(tenant: &str) -> AadError {
    AadError::new(
        400,
        "invalid_request",
        90002,
        format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Checks an authorize request as Entra does before it shows a sign-in page.
fn check_authorize(tenant: &str, query: &HashMap<String, String>, shared: &Shared) -> Result<(), AadError> {
    let state = shared.lock();
    let Some(t) = state.tenants.get(tenant) else {
        return Err(tenant_not_found(tenant));
    };
    let client_id = query.get("client_id").map(String::as_str).unwrap_or_default();
    if !t.clients.contains_key(client_id) {
        return Err(AadError::new(
            400,
            "unauthorized_client",
            700016,
            format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'."),
        ));
    }
    if query.get("response_type").map(String::as_str) != Some("code") {
        return Err(AadError::new(
            400,
            "unsupported_response_type",
            900144,
            "response_type must be 'code' here.",
        ));
    }
    let Some(redirect_uri) = query.get("redirect_uri").filter(|u| !u.is_empty()) else {
        return Err(AadError::new(
            400,
            "invalid_request",
            900144,
            "The request must contain 'redirect_uri'.",
        ));
    };
    // Entra compares the redirect URI with the app's registered ones exactly, and shows an error
    // page instead of redirecting anywhere else.
    let registered = state
        .authority
        .redirect_uris
        .get(&(tenant.to_string(), client_id.to_string()))
        .is_some_and(|uris| uris.iter().any(|u| u == redirect_uri));
    if !registered {
        return Err(AadError::new(
            400,
            "invalid_request",
            50011,
            format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'."
            ),
        ));
    }
    if let Some(method) = query.get("code_challenge_method")
        && method != "S256"
    {
        return Err(AadError::new(
            400,
            "invalid_request",
            501491,
            "Only S256 code challenges are emulated.",
        ));
    }
    Ok(())
}

/// `GET /{tenant}/oauth2/v2.0/authorize`: the sign-in page, one button per test user.
pub(crate) async fn authorize_page(req: HttpRequest, tenant: web::Path<String>, shared: web::Data<Shared>) -> HttpResponse {
    let query: HashMap<String, String> = url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect();
    if let Err(e) = check_authorize(&tenant, &query, &shared) {
        return e.response();
    }
    let users = shared.lock().authority.users.get(tenant.as_str()).cloned().unwrap_or_default();
    let buttons: String = users
        .iter()
        .map(|u| {
            format!(
                "<li><button type=\"submit\" name=\"user\" value=\"{}\">{} ({})</button></li>\n",
                escape(&u.oid),
                escape(&u.name),
                escape(&u.username)
            )
        })
        .collect();
    let page = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Sign in to your account</title></head><body>\n\
         <h1>Pick an account</h1>\n<form method=\"post\" action=\"?{}\">\n<ul>\n{buttons}</ul>\n</form>\n</body></html>\n",
        escape(req.query_string())
    );
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(page)
}

/// `POST /{tenant}/oauth2/v2.0/authorize` with `user=<oid>`: signs that user in and redirects
/// back with `code` and `state`.
pub(crate) async fn authorize_pick(
    req: HttpRequest,
    tenant: web::Path<String>,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let query: HashMap<String, String> = url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect();
    if let Err(e) = check_authorize(&tenant, &query, &shared) {
        return e.response();
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let oid = form.get("user").cloned().unwrap_or_default();
    let mut state = shared.lock();
    let Some(user) = state
        .authority
        .users
        .get(tenant.as_str())
        .and_then(|us| us.iter().find(|u| u.oid == oid))
        .cloned()
    else {
        return AadError::new(
            400,
            "invalid_request",
            50034,
            format!("The user account {oid} does not exist in the '{tenant}' directory."),
        )
        .response();
    };
    let code = random_token();
    let redirect_uri = query["redirect_uri"].clone();
    state.authority.codes.insert(
        code.clone(),
        IssuedCode {
            tenant: tenant.to_string(),
            client_id: query["client_id"].clone(),
            redirect_uri: redirect_uri.clone(),
            nonce: query.get("nonce").cloned(),
            challenge: query.get("code_challenge").cloned(),
            user,
            expires_at: Utc::now().timestamp() + CODE_LIFETIME_SECS,
        },
    );
    let mut back = match url::Url::parse(&redirect_uri) {
        Ok(u) => u,
        Err(_) => return AadError::new(400, "invalid_request", 50011, "The redirect URI is not a URL.").response(),
    };
    back.query_pairs_mut().append_pair("code", &code);
    if let Some(s) = query.get("state") {
        back.query_pairs_mut().append_pair("state", s);
    }
    HttpResponse::Found().insert_header((header::LOCATION, back.to_string())).finish()
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn invalid_grant(code: u32, message: &str) -> AadError {
    AadError::new(400, "invalid_grant", code, message.to_string())
}

/// The `authorization_code` grant, after the client proved itself: checks the code (once only),
/// its redirect URI and PKCE verifier, and issues the ID token.
pub(crate) fn redeem(tenant: &str, client_id: &str, form: &HashMap<String, String>, shared: &Shared) -> Result<Value, AadError> {
    let code = form
        .get("code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| super::token::missing("code"))?;
    let mut state = shared.lock();
    // Removed before any check: a code is good for one attempt, as on Entra (AADSTS54005).
    let Some(issued) = state.authority.codes.remove(code) else {
        return Err(invalid_grant(
            54005,
            "OAuth2 Authorization code was already redeemed or is not valid.",
        ));
    };
    if issued.tenant != tenant || issued.client_id != client_id {
        return Err(invalid_grant(
            70000,
            "The provided authorization code was issued to another client or tenant.",
        ));
    }
    if issued.expires_at < Utc::now().timestamp() {
        return Err(invalid_grant(
            70008,
            "The provided authorization code or refresh token has expired due to inactivity.",
        ));
    }
    if form.get("redirect_uri") != Some(&issued.redirect_uri) {
        return Err(invalid_grant(
            50148,
            "The redirect URI does not match the one used in the authorization request.",
        ));
    }
    if let Some(challenge) = &issued.challenge {
        let verifier = form.get("code_verifier").map(String::as_str).unwrap_or_default();
        let computed = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
        if computed != *challenge {
            return Err(invalid_grant(
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            ));
        }
    }
    let now = Utc::now().timestamp();
    let user = &issued.user;
    let mut claims = json!({
        "ver": "2.0",
        "iss": issuer(&state.base_url, tenant),
        "aud": client_id,
        "iat": now, "nbf": now, "exp": now + 3600,
        "sub": URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(format!("{}{client_id}", user.oid))),
        "oid": user.oid,
        "tid": tenant,
        "preferred_username": user.username,
        "name": user.name,
        "roles": user.roles,
    });
    if let Some(nonce) = &issued.nonce {
        claims["nonce"] = json!(nonce);
    }
    if let Some(Value::Object(overrides)) = state.authority.next_id_token.take() {
        for (key, value) in overrides {
            claims[key] = value;
        }
    }
    let id_token = state.authority.sign(&claims);
    Ok(json!({
        "token_type": "Bearer",
        "scope": "openid profile email",
        "expires_in": 3599,
        "id_token": id_token,
        "access_token": random_token(),
    }))
}

/// An app-only access token for the API app (a client of the tenant) named by `scope`, or `None`
/// for another resource such as Graph (`{client_id}/.default` gives a
/// v2.0 token whose `aud` is the client id; `api://{client_id}/.default` a v1.0 token whose `aud`
/// is that App ID URI), carrying the app roles granted to the caller.
pub(crate) fn api_token(tenant: &str, caller: &str, scope: &str, shared: &Shared) -> Option<Value> {
    let resource = scope.strip_suffix("/.default")?;
    let state = shared.lock();
    // Graph's scope (whatever host the test serves Graph from) is not an app of the tenant.
    let app = resource.strip_prefix("api://").unwrap_or(resource);
    if !state.tenants.get(tenant).is_some_and(|t| t.clients.contains_key(app)) {
        return None;
    }
    let roles = state
        .authority
        .app_roles
        .get(&(tenant.to_string(), caller.to_string()))
        .cloned()
        .unwrap_or_default();
    let now = Utc::now().timestamp();
    let (ver, iss) = if resource.starts_with("api://") {
        ("1.0", format!("https://sts.windows.net/{tenant}/"))
    } else {
        ("2.0", issuer(&state.base_url, tenant))
    };
    let claims = json!({
        "ver": ver, "iss": iss, "aud": resource,
        "iat": now, "nbf": now, "exp": now + 3600,
        "tid": tenant, "oid": caller, "sub": caller, "azp": caller, "appid": caller,
        "idtyp": "app", "roles": roles,
    });
    Some(json!({
        "token_type": "Bearer",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": state.authority.sign(&claims),
    }))
}
