//! An in-process emulator of the Microsoft identity platform token endpoint and of
//! Microsoft Graph's `GET /v1.0/applications`, for tests, benchmarks and `credwatch demo`.
//!
//! One HTTP server plays both hosts: the client is pointed at [`Emulator::url`] as its
//! authority host *and* as its Graph URL. Status codes, error bodies and paging follow
//! `docs/graph-facts.md`; every divergence from the real services a client could trip over is a
//! bug here. Faults (throttling, 5xx, a failing page, tokens expiring mid-listing) are injected
//! through methods on [`Emulator`] so tests can exercise the client's recovery paths.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use credwatch_emulator::{ClientAuth, Emulator, generate_applications};
//! let emu = Emulator::start().await?;
//! emu.register_client("tenant-1", "client-1", ClientAuth::Secret { value: "s3cret".into(), expired: false });
//! emu.set_applications("tenant-1", generate_applications(7, 250, chrono::Utc::now()));
//! // authority host = graph url = emu.url(); the assertion audience is
//! // format!("{}/tenant-1/oauth2/v2.0/token", emu.url())
//! emu.throttle(1, Some("0.25".into()));
//! # emu.stop().await;
//! # Ok(())
//! # }
//! ```
//!
//! Fault injection applies to `GET /v1.0/applications` requests that passed authentication
//! (Graph throttles per app and tenant, so it must know the caller first), in this order:
//! [`Emulator::throttle`], then [`Emulator::fail_requests`], then [`Emulator::fail_page`].
//! Each answered fault uses up one of its count. `/v1.0/servicePrincipals` and
//! `/v1.0/{applications|servicePrincipals}/{id}/owners` are served too; `$expand=owners` (with
//! an optional nested `$select`) caps pages at 100 objects and each expanded `owners` at 20, as
//! Graph does. The beta sign-in activity reports are served per tenant (see [`Emulator::record_sign_in`],
//! [`Emulator::deny_usage`]); the faults above do not apply to them, theirs are
//! [`Emulator::deny_usage_times`] and [`Emulator::fail_usage_page`]. Not emulated on the
//! listings: `$filter`, `$count`, `$orderby`, delta, and `key` on key credentials
//! (always null, as on a plain listing).

mod authority;
mod errors;
mod generate;
mod graph;
mod model;
mod reports;
mod token;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::dev::{ServerHandle, Service};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use chrono::{DateTime, Datelike, Utc};

pub use authority::TestUser;
pub use generate::{generate_applications, generate_sign_ins, hostile_applications};
pub use model::{
    AppSignIn, Application, CredentialSignIn, DirectoryObject, KeyCredential, PasswordCredential, ServicePrincipal, SignInActivity,
    UsageDenial,
};

/// How a registered client proves its identity at the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// A client secret. `expired: true` makes the token endpoint answer AADSTS7000222,
    /// as Entra ID does for a secret whose end date has passed.
    Secret {
        /// The secret value the client must present.
        value: String,
        /// Whether the secret has expired.
        expired: bool,
    },
    /// A certificate: the client signs a JWT assertion with the matching private key.
    Certificate {
        /// PEM holding the certificate; a private key in the same PEM is ignored.
        pem: String,
    },
    /// Workload identity federation: the client forwards an externally issued token.
    Federated {
        /// The federated token file's content; the presented assertion must equal it.
        assertion: String,
    },
}

/// How a token request authenticated, as recorded in [`RequestRecord::auth_method`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// `client_secret` in the form body.
    Secret,
    /// `client_id:client_secret` in an HTTP Basic `Authorization` header.
    Basic,
    /// Certificate assertion signed RS256 (normally with an `x5t` SHA-1 thumbprint).
    AssertionRs256,
    /// Certificate assertion signed PS256 (normally with an `x5t#S256` thumbprint).
    AssertionPs256,
    /// Federated token passed as the assertion.
    Federated,
}

impl AuthMethod {
    /// Stable lowercase name: `secret`, `basic`, `assertion-rs256`, `assertion-ps256`, `federated`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Secret => "secret",
            AuthMethod::Basic => "basic",
            AuthMethod::AssertionRs256 => "assertion-rs256",
            AuthMethod::AssertionPs256 => "assertion-ps256",
            AuthMethod::Federated => "federated",
        }
    }
}

impl std::fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request the emulator answered, for tests that assert on the client's traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// HTTP method, e.g. `GET`.
    pub method: String,
    /// Request path without the query, e.g. `/v1.0/applications`.
    pub path: String,
    /// Raw query string without the `?` (empty when absent).
    pub query: String,
    /// Status code the emulator answered with.
    pub status: u16,
    /// Graph requests: id of the bearer token presented, when it was one this emulator issued.
    /// Token requests: id of the token issued. Ids are the `uti` claim of the access token.
    pub token_id: Option<String>,
    /// Token requests: how the client authenticated (only set once a credential was presented).
    pub auth_method: Option<AuthMethod>,
    /// Tenant of the token request, or of the token used on Graph.
    pub tenant_id: Option<String>,
    /// Client of the token request, or of the token used on Graph.
    pub client_id: Option<String>,
}

/// Per-response facts the handlers hand to the logging middleware via response extensions.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogExtra {
    pub token_id: Option<String>,
    pub auth_method: Option<AuthMethod>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
}

/// A client registration inside a tenant.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub auth: ClientAuth,
    /// Parsed once at registration; `None` when the PEM held no usable certificate, which
    /// then fails every assertion the way an unregistered key would.
    pub cert: Option<token::CertInfo>,
    /// The app lacks `Application.Read.All`: Graph answers 403.
    pub denied: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Tenant {
    pub clients: HashMap<String, Client>,
    pub applications: Vec<Application>,
    pub service_principals: Vec<ServicePrincipal>,
    pub usage: TenantUsage,
}

/// A tenant's sign-in activity reports and how they fail.
#[derive(Debug, Default)]
pub(crate) struct TenantUsage {
    pub credentials: Vec<CredentialSignIn>,
    pub applications: Vec<AppSignIn>,
    /// Every report request answers this 403.
    pub denied: Option<UsageDenial>,
    /// The next report requests answer this 403, that many times.
    pub intermittent: Option<(UsageDenial, usize)>,
    /// (report path, page index) → (status, remaining times)
    pub page_failures: HashMap<(&'static str, usize), (u16, usize)>,
}

#[derive(Debug, Clone)]
pub(crate) struct IssuedToken {
    pub id: String,
    pub tenant_id: String,
    pub client_id: String,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
}

/// Everything the handlers and the test-facing methods share.
#[derive(Debug)]
pub(crate) struct State {
    pub base_url: String,
    pub tenants: HashMap<String, Tenant>,
    /// Keyed by the access token string the client presents.
    pub tokens: HashMap<String, IssuedToken>,
    pub token_lifetime: i64,
    pub token_issues: usize,
    pub throttle_remaining: usize,
    pub throttle_retry_after: Option<String>,
    pub fail_remaining: usize,
    pub fail_status: u16,
    /// page index → (status, remaining times)
    pub page_failures: HashMap<usize, (u16, usize)>,
    /// page index → (raw 200 body, remaining times)
    pub page_bodies: HashMap<usize, (String, usize)>,
    /// Every Graph GET waits this long before answering.
    pub delay: Option<std::time::Duration>,
    pub log: Vec<RequestRecord>,
    /// The OpenID Connect side: test users, codes, signing keys.
    pub authority: authority::Authority,
}

pub(crate) struct Shared {
    state: Mutex<State>,
    /// Woken after every answer is logged, so a test can wait for a request instead of polling.
    logged: tokio::sync::Notify,
}

impl Shared {
    /// A panic in one handler must not wedge every later request and assertion, so a
    /// poisoned lock is simply taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running emulator. Dropping it without [`Emulator::stop`] leaves the server running until
/// the runtime shuts down, which is harmless in tests.
pub struct Emulator {
    shared: Arc<Shared>,
    url: String,
    handle: ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Emulator {
    /// Binds 127.0.0.1 on a free port and serves from the current tokio runtime.
    pub async fn start() -> anyhow::Result<Emulator> {
        Emulator::start_on("127.0.0.1:0").await
    }

    /// Binds `addr` (a loopback address: the emulator serves plain http) and serves from the
    /// current tokio runtime.
    pub async fn start_on(addr: &str) -> anyhow::Result<Emulator> {
        let listener = TcpListener::bind(addr).with_context(|| format!("binding the emulator's listener on {addr}"))?;
        let port = listener.local_addr().context("reading the emulator's port")?.port();
        let url = format!("http://127.0.0.1:{port}");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                base_url: url.clone(),
                tenants: HashMap::new(),
                tokens: HashMap::new(),
                token_lifetime: 3599,
                token_issues: 0,
                throttle_remaining: 0,
                throttle_retry_after: None,
                fail_remaining: 0,
                fail_status: 503,
                page_failures: HashMap::new(),
                page_bodies: HashMap::new(),
                delay: None,
                log: Vec::new(),
                authority: authority::Authority::default(),
            }),
            logged: tokio::sync::Notify::new(),
        });

        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            let log_to = data.clone();
            App::new()
                .app_data(data.clone())
                .wrap_fn(move |req, srv| {
                    let method = req.method().to_string();
                    let path = req.path().to_string();
                    let query = req.query_string().to_string();
                    let log_to = log_to.clone();
                    let fut = srv.call(req);
                    async move {
                        let res = fut.await?;
                        let extra = res.response().extensions().get::<LogExtra>().cloned().unwrap_or_default();
                        log_to.lock().log.push(RequestRecord {
                            method,
                            path,
                            query,
                            status: res.status().as_u16(),
                            token_id: extra.token_id,
                            auth_method: extra.auth_method,
                            tenant_id: extra.tenant_id,
                            client_id: extra.client_id,
                        });
                        log_to.logged.notify_waiters();
                        Ok(res)
                    }
                })
                .route("/{tenant}/oauth2/v2.0/token", web::post().to(token::token))
                .route(
                    "/{tenant}/v2.0/.well-known/openid-configuration",
                    web::get().to(authority::discovery),
                )
                .route("/{tenant}/oauth2/v2.0/authorize", web::get().to(authority::authorize_page))
                .route("/{tenant}/oauth2/v2.0/authorize", web::post().to(authority::authorize_pick))
                .route("/{tenant}/discovery/v2.0/keys", web::get().to(authority::keys))
                .route("/v1.0/applications", web::get().to(graph::list_applications))
                .route("/v1.0/servicePrincipals", web::get().to(graph::list_service_principals))
                .route("/v1.0/{collection}/{id}/owners", web::get().to(graph::list_owners))
                .route("/beta/reports/{report}", web::get().to(reports::report))
                .route("/_emulator/rotate", web::post().to(rotate))
                .default_service(web::to(graph::not_found))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .context("starting the emulator's HTTP server")?
        .run();
        let handle = server.handle();
        let task = tokio::spawn(server);
        Ok(Emulator { shared, url, handle, task })
    }

    /// Base URL, `http://127.0.0.1:PORT`, of both the authority and Graph.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Adds a user to the tenant's sign-in page (creating the tenant if needed).
    pub fn add_user(&self, tenant_id: &str, user: TestUser) {
        let mut state = self.shared.lock();
        state.tenants.entry(tenant_id.to_string()).or_default();
        state.authority.users.entry(tenant_id.to_string()).or_default().push(user);
    }

    /// Registers a redirect URI for `client_id` (the app registration's Authentication → Web):
    /// the authorize endpoint refuses any other with AADSTS50011, as Entra does.
    pub fn add_redirect_uri(&self, tenant_id: &str, client_id: &str, uri: &str) {
        self.shared
            .lock()
            .authority
            .redirect_uris
            .entry((tenant_id.to_string(), client_id.to_string()))
            .or_default()
            .push(uri.to_string());
    }

    /// Grants `client_id` app roles: its client-credentials tokens for an API app (any scope but
    /// Graph's) are signed JWTs carrying them in `roles`.
    pub fn grant_app_roles(&self, tenant_id: &str, client_id: &str, roles: &[&str]) {
        self.shared.lock().authority.app_roles.insert(
            (tenant_id.to_string(), client_id.to_string()),
            roles.iter().map(|r| r.to_string()).collect(),
        );
    }

    /// Signs `claims` as the authority would (RS256, the current key's `kid`), for tests that
    /// need tokens with chosen claims.
    pub fn sign_token(&self, claims: &serde_json::Value) -> String {
        self.shared.lock().authority.sign(claims)
    }

    /// Starts signing with the next key, published in the JWKS from now on; false when the
    /// emulator has no further key.
    pub fn rotate_signing_key(&self) -> bool {
        self.shared.lock().authority.rotate_key()
    }

    /// Overrides claims of the next ID token the token endpoint issues (`{"aud": "x"}`, `{"nonce": "y"}`).
    pub fn tamper_next_id_token(&self, claims: serde_json::Value) {
        self.shared.lock().authority.next_id_token = Some(claims);
    }

    /// How often the JWKS was fetched.
    pub fn jwks_requests(&self) -> usize {
        self.shared.lock().authority.jwks_requests
    }

    /// The issuer of the tenant's v2.0 tokens, as its discovery document names it.
    pub fn issuer(&self, tenant_id: &str) -> String {
        format!("{}/{tenant_id}/v2.0", self.url)
    }

    /// Creates an (empty) tenant; a no-op when it exists.
    pub fn add_tenant(&self, tenant_id: &str) {
        self.shared.lock().tenants.entry(tenant_id.to_string()).or_default();
    }

    /// Registers (or replaces) a client in a tenant, creating the tenant if needed.
    pub fn register_client(&self, tenant_id: &str, client_id: &str, auth: ClientAuth) {
        let cert = match &auth {
            ClientAuth::Certificate { pem } => token::CertInfo::from_pem(pem),
            _ => None,
        };
        let client = Client { auth, cert, denied: false };
        self.shared
            .lock()
            .tenants
            .entry(tenant_id.to_string())
            .or_default()
            .clients
            .insert(client_id.to_string(), client);
    }

    /// Makes Graph answer 403 `Authorization_RequestDenied` to this client's tokens, as for an
    /// app registration without `Application.Read.All` consent. Unknown clients are ignored.
    pub fn deny_permission(&self, tenant_id: &str, client_id: &str) {
        if let Some(client) = self
            .shared
            .lock()
            .tenants
            .get_mut(tenant_id)
            .and_then(|t| t.clients.get_mut(client_id))
        {
            client.denied = true;
        }
    }

    /// The tenant's applications as they are now (none for an unknown tenant).
    pub fn applications(&self, tenant_id: &str) -> Vec<Application> {
        self.shared
            .lock()
            .tenants
            .get(tenant_id)
            .map(|t| t.applications.clone())
            .unwrap_or_default()
    }

    /// Replaces the tenant's applications (creating the tenant if needed).
    pub fn set_applications(&self, tenant_id: &str, apps: Vec<Application>) {
        self.shared.lock().tenants.entry(tenant_id.to_string()).or_default().applications = apps;
    }

    /// Replaces the tenant's service principals (enterprise applications).
    pub fn set_service_principals(&self, tenant_id: &str, sps: Vec<ServicePrincipal>) {
        self.shared
            .lock()
            .tenants
            .entry(tenant_id.to_string())
            .or_default()
            .service_principals = sps;
    }

    /// Edits the tenant's applications in place, e.g. to rotate a secret between two listings.
    pub fn update_applications(&self, tenant_id: &str, f: impl FnOnce(&mut Vec<Application>)) {
        let mut state = self.shared.lock();
        f(&mut state.tenants.entry(tenant_id.to_string()).or_default().applications);
    }

    /// Changes one credential in every `every` (of every tenant): its end moves a week later, as
    /// when a secret is replaced by one with the same key. For benchmarks of partial changes.
    pub fn rotate_every(&self, every: usize) -> usize {
        rotate_in(&self.shared, every)
    }

    /// The next `count` Graph GETs answer 429 `TooManyRequests`; `Retry-After` is sent verbatim
    /// when `Some` (Graph sends fractional values such as "2.128") and omitted when `None`.
    pub fn throttle(&self, count: usize, retry_after: Option<String>) {
        let mut state = self.shared.lock();
        state.throttle_remaining = count;
        state.throttle_retry_after = retry_after;
    }

    /// The next `count` Graph GETs answer `status` with a Graph error body.
    pub fn fail_requests(&self, count: usize, status: u16) {
        let mut state = self.shared.lock();
        state.fail_remaining = count;
        state.fail_status = status;
    }

    /// Page `page_index` (0-based) of a listing answers `status` for its next `times` requests.
    pub fn fail_page(&self, page_index: usize, status: u16, times: usize) {
        self.shared.lock().page_failures.insert(page_index, (status, times));
    }

    /// Page `page_index` (0-based) answers 200 with `body` verbatim for its next `times`
    /// requests: malformed, truncated or wrongly typed JSON, as a broken proxy might deliver.
    pub fn corrupt_page(&self, page_index: usize, body: impl Into<String>, times: usize) {
        self.shared.lock().page_bodies.insert(page_index, (body.into(), times));
    }

    /// The tenant's report state, created with the tenant if needed.
    fn usage_of<R>(&self, tenant_id: &str, f: impl FnOnce(&mut TenantUsage) -> R) -> R {
        f(&mut self.shared.lock().tenants.entry(tenant_id.to_string()).or_default().usage)
    }

    /// The tenant's `appCredentialSignInActivities` rows.
    pub fn credential_sign_ins(&self, tenant_id: &str) -> Vec<CredentialSignIn> {
        self.usage_of(tenant_id, |u| u.credentials.clone())
    }

    /// Replaces the tenant's `appCredentialSignInActivities` rows.
    pub fn set_credential_sign_ins(&self, tenant_id: &str, rows: Vec<CredentialSignIn>) {
        self.usage_of(tenant_id, |u| u.credentials = rows);
    }

    /// Replaces the tenant's `servicePrincipalSignInActivities` rows.
    pub fn set_app_sign_ins(&self, tenant_id: &str, rows: Vec<AppSignIn>) {
        self.usage_of(tenant_id, |u| u.applications = rows);
    }

    /// Records that the credential `key_id` (of an application or service principal of the
    /// tenant) signed in at `at` (sent verbatim), as both reports would show it: the credential's
    /// row and its application's client sign-in move to `at`. Returns false when no listed
    /// credential has that key id (nothing is recorded then).
    pub fn record_sign_in(&self, tenant_id: &str, key_id: &str, at: &str) -> bool {
        let mut state = self.shared.lock();
        let tenant = state.tenants.entry(tenant_id.to_string()).or_default();
        let found = tenant
            .applications
            .iter()
            .find_map(|a| {
                credential_of(&a.password_credentials, &a.key_credentials, key_id)
                    .map(|c| (a.app_id.clone(), Some(a.id.clone()), None, "application", c))
            })
            .or_else(|| {
                tenant.service_principals.iter().find_map(|s| {
                    credential_of(&s.password_credentials, &s.key_credentials, key_id)
                        .map(|c| (s.app_id.clone(), None, Some(s.id.clone()), "servicePrincipal", c))
                })
            });
        let Some((app_id, app_object_id, sp_object_id, origin, (key_type, end))) = found else {
            return false;
        };
        let row = CredentialSignIn {
            key_id: key_id.to_string(),
            key_type: key_type.to_string(),
            key_usage: Some(if key_type == "certificate" { "verify" } else { "sign" }.to_string()),
            app_id: app_id.clone(),
            app_object_id,
            service_principal_object_id: sp_object_id,
            resource_id: Some("00000003-0000-0000-c000-000000000000".to_string()),
            credential_origin: origin.to_string(),
            created_date_time: None,
            expiration_date_time: end,
            last_sign_in_date_time: Some(at.to_string()),
            doc_example_shape: false,
        };
        match tenant.usage.credentials.iter_mut().find(|r| r.key_id == key_id) {
            Some(existing) => *existing = row,
            None => tenant.usage.credentials.push(row),
        }
        let later = |old: &Option<String>| match old {
            Some(o) if o.as_str() >= at => Some(o.clone()),
            _ => Some(at.to_string()),
        };
        match tenant.usage.applications.iter_mut().find(|r| r.app_id == app_id) {
            Some(existing) => {
                existing.last_sign_in = later(&existing.last_sign_in);
                existing.client_sign_in = later(&existing.client_sign_in);
            }
            None => tenant.usage.applications.push(AppSignIn {
                app_id,
                last_sign_in: Some(at.to_string()),
                client_sign_in: Some(at.to_string()),
                delegated_client_sign_in: None,
            }),
        }
        true
    }

    /// From now on every report request of the tenant answers this 403 (`None` lifts it).
    pub fn deny_usage(&self, tenant_id: &str, denial: Option<UsageDenial>) {
        self.usage_of(tenant_id, |u| u.denied = denial);
    }

    /// The tenant's next `times` report requests answer this 403, as licensed tenants
    /// sometimes see.
    pub fn deny_usage_times(&self, tenant_id: &str, denial: UsageDenial, times: usize) {
        self.usage_of(tenant_id, |u| u.intermittent = Some((denial, times)));
    }

    /// Page `page_index` (0-based) of the credential report (`applications = false`) or of the
    /// application report answers `status` for its next `times` requests.
    pub fn fail_usage_page(&self, tenant_id: &str, applications: bool, page_index: usize, status: u16, times: usize) {
        let report = if applications {
            "servicePrincipalSignInActivities"
        } else {
            "appCredentialSignInActivities"
        };
        self.usage_of(tenant_id, |u| u.page_failures.insert((report, page_index), (status, times)));
    }

    /// Every Graph GET from now on waits `delay` before answering (a slow Graph); `None` ends it.
    pub fn set_delay(&self, delay: Option<std::time::Duration>) {
        self.shared.lock().delay = delay;
    }

    /// Every access token issued so far, for tests that prove none leaks.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.shared.lock().tokens.keys().cloned().collect()
    }

    /// `expires_in` of tokens issued from now on (default 3599); Graph rejects a token once
    /// that many seconds have passed.
    pub fn set_token_lifetime(&self, secs: i64) {
        self.shared.lock().token_lifetime = secs;
    }

    /// Every token issued so far is rejected from now on with 401 `InvalidAuthenticationToken`.
    pub fn expire_tokens(&self) {
        for token in self.shared.lock().tokens.values_mut() {
            token.revoked = true;
        }
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().log.clone()
    }

    /// Waits until the requests answered so far satisfy `done`, checked again after each answer.
    pub async fn wait_for_requests(&self, done: impl Fn(&[RequestRecord]) -> bool) {
        loop {
            // Registered before the check, so an answer logged in between still wakes us.
            let notified = self.shared.logged.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if done(&self.shared.lock().log) {
                return;
            }
            notified.await;
        }
    }

    /// How many tokens have been issued.
    pub fn token_requests(&self) -> usize {
        self.shared.lock().token_issues
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        // The server future's own result carries nothing a caller could act on.
        let _ = self.task.await;
    }
}

/// The report's `keyType` and the `endDateTime` of the credential `key_id`, if listed here.
fn credential_of(passwords: &[PasswordCredential], keys: &[KeyCredential], key_id: &str) -> Option<(&'static str, Option<String>)> {
    passwords
        .iter()
        .find(|c| c.key_id == key_id)
        .map(|c| ("clientSecret", c.end_date_time.clone()))
        .or_else(|| {
            keys.iter()
                .find(|c| c.key_id == key_id)
                .map(|c| ("certificate", c.end_date_time.clone()))
        })
}

/// `POST /_emulator/rotate?every=N`: [`Emulator::rotate_every`] over HTTP, for `credwatch emulate`
/// driven by a benchmark script. Not part of Graph.
async fn rotate(shared: web::Data<Shared>, query: web::Query<HashMap<String, String>>) -> actix_web::HttpResponse {
    let every = query.get("every").and_then(|v| v.parse().ok()).unwrap_or(100);
    let changed = rotate_in(&shared, every);
    actix_web::HttpResponse::Ok().body(format!("{changed}\n"))
}

fn rotate_in(shared: &Shared, every: usize) -> usize {
    let every = every.max(1);
    let mut state = shared.lock();
    let mut n = 0usize;
    let mut changed = 0usize;
    for tenant in state.tenants.values_mut() {
        for app in &mut tenant.applications {
            for end in app
                .password_credentials
                .iter_mut()
                .map(|c| &mut c.end_date_time)
                .chain(app.key_credentials.iter_mut().map(|c| &mut c.end_date_time))
            {
                n += 1;
                if n.is_multiple_of(every)
                    && let Some(t) = end.as_deref().and_then(|e| chrono::DateTime::parse_from_rfc3339(e).ok())
                {
                    // A week later, or earlier where later would leave the four-digit years.
                    let week = if t.year() >= 9990 {
                        chrono::Duration::days(-7)
                    } else {
                        chrono::Duration::days(7)
                    };
                    *end = Some((t + week).to_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string());
                    changed += 1;
                }
            }
        }
    }
    changed
}
