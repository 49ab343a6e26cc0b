//! `/act/{token}`: the signed action links of reminders. GET shows what the link will do and
//! changes nothing (mail scanners open links to check them); the page's form POSTs, with a CSRF
//! token bound to the link, and acts. A forged, altered, expired or used link gets a page saying
//! so, changes nothing, and leaves a log line (without the token: it is a credential of sorts).
//!
//! The signature is the authority here, so these paths are open whatever `server.auth` says:
//! recipients of reminders need no dashboard account.

use super::layout::Layout;
use super::state::AppState;
use super::view;
use crate::domain::{Credential, LinkAction, LinkClaims, LinkError, LinkSigner, Timestamp, Via, clean, snooze_bound};
use crate::store::{ActionError, Actor, CredentialAction, StoreError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use askama::Template;
use chrono::{NaiveDate, Utc};
use serde::Deserialize;

/// What the page shows: the confirmation, the outcome, or why the link was refused.
#[derive(Template)]
#[template(path = "act.html")]
struct ActPage {
    layout: Layout,
    /// `confirm`, `done` or `refused`.
    state: &'static str,
    heading: String,
    message: String,
    credential: Option<Described>,
    /// The form's target and its CSRF token (confirm only).
    action_path: String,
    csrf: String,
    /// Which fields the form offers: `acknowledge`, `snooze`, `not-mine`, `rotated`.
    action: &'static str,
    /// Snooze: the default and the latest date allowed (YYYY-MM-DD).
    snooze_default: String,
    snooze_latest: String,
    /// Where to look next.
    application_href: String,
}

/// The credential a link names, in words (names from Graph are untrusted: the template escapes).
struct Described {
    environment: String,
    app: String,
    credential: String,
    ends: String,
}

impl Described {
    fn of(c: &Credential, now: Timestamp) -> Described {
        Described {
            environment: c.environment.clone(),
            app: view::display_or(c.app_display_name.as_deref(), "(no name)").0,
            credential: format!(
                "{} “{}”",
                c.kind,
                c.display_name
                    .as_deref()
                    .map(clean)
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or_else(|| c.key_id.clone())
            ),
            ends: format!(
                "{} ({} days left)",
                c.end_at.naive_utc().format("%Y-%m-%d %H:%M UTC"),
                c.days_left(now)
            ),
        }
    }
}

fn action_name(a: LinkAction) -> &'static str {
    match a {
        LinkAction::Acknowledge => "acknowledge",
        LinkAction::Snooze => "snooze",
        LinkAction::NotMine => "not-mine",
        LinkAction::Rotated => "rotated",
    }
}

fn what_it_does(a: LinkAction, recipient: &str) -> String {
    match a {
        LinkAction::Acknowledge => format!(
            "Record that {recipient} is on it: reminders of this credential pause for everyone until it is critical, then resume saying who acknowledged it."
        ),
        LinkAction::Snooze => {
            "Pause this credential's reminders until the date below. The last warning before its end is never snoozed.".into()
        }
        LinkAction::NotMine => format!(
            "Record that this application is not {recipient}'s: its next reminders go to the environment's on-call list instead of its owners."
        ),
        LinkAction::Rotated => "Record that this credential was rotated and check now: a sync of its environment is queued.".into(),
    }
}

fn page(state: &'static str, heading: impl Into<String>, message: impl Into<String>) -> ActPage {
    ActPage {
        layout: Layout::new("Reminder action", "", Vec::new()),
        state,
        heading: heading.into(),
        message: message.into(),
        credential: None,
        action_path: String::new(),
        csrf: String::new(),
        action: "",
        snooze_default: String::new(),
        snooze_latest: String::new(),
        application_href: String::new(),
    }
}

fn respond(status: StatusCode, page: ActPage) -> HttpResponse {
    match page.render() {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            // The page holds a form token bound to the link.
            .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, "the action page failed to render");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("credwatch failed to answer")
        }
    }
}

/// A refused link: a clear page, a log line naming why and from where, nothing changed.
fn refused(req: &HttpRequest, status: StatusCode, why: &str, message: String) -> HttpResponse {
    let client = req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
    tracing::warn!(reason = why, client = %client, method = %req.method(), "an action link was refused");
    respond(status, page("refused", "This link cannot be used", message))
}

fn link_refused(req: &HttpRequest, e: &LinkError) -> HttpResponse {
    let (status, why) = match e {
        LinkError::Malformed => (StatusCode::BAD_REQUEST, "malformed"),
        LinkError::BadSignature => (StatusCode::FORBIDDEN, "bad signature"),
        LinkError::Expired(_) => (StatusCode::GONE, "expired"),
        LinkError::BadCsrf => (StatusCode::FORBIDDEN, "bad form token"),
    };
    refused(req, status, why, format!("{}. Nothing was changed.", capitalise(&e.to_string())))
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

fn store_failed(e: StoreError) -> HttpResponse {
    actix_web::ResponseError::error_response(&super::error::PageError::from(e))
}

/// What the link names, checked: signed with the link key, not expired, the credential
/// still listed.
async fn open_link(
    req: &HttpRequest,
    state: &AppState,
    token: &str,
    now: Timestamp,
) -> Result<(LinkSigner, LinkClaims, Credential), HttpResponse> {
    let signer = state.link_signer().await.map_err(store_failed)?;
    let claims = signer.verify(token, now).map_err(|e| link_refused(req, &e))?;
    match state.store.credential(claims.credential_id).await {
        Ok(c) if c.is_live() => Ok((signer, claims, c)),
        Ok(_) | Err(StoreError::NotFound) => Err(refused(
            req,
            StatusCode::GONE,
            "credential gone",
            "This credential is no longer listed (it was removed or rotated away): there is nothing left to do. Nothing was changed."
                .into(),
        )),
        Err(e) => Err(store_failed(e)),
    }
}

#[get("/act/{token}")]
pub async fn confirm(req: HttpRequest, token: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    let now = Timestamp::from(Utc::now());
    let (signer, claims, c) = match open_link(&req, &state, &token, now).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if claims.action.single_use() {
        match state.store.link_used(&claims.id).await {
            Ok(false) => {}
            Ok(true) => return used(&req),
            Err(e) => return store_failed(e),
        }
    }
    let latest = snooze_bound(c.end_at, state.config.min_notice_days);
    let default = std::cmp::min(now.plus_days(7), latest);
    let recipient = clean(&claims.recipient);
    let mut p = page("confirm", claims.action.label(), what_it_does(claims.action, &recipient));
    p.application_href = view::application_href(&c.environment, &c.app_object_id);
    p.credential = Some(Described::of(&c, now));
    p.action_path = format!("/act/{}", token.as_str());
    p.csrf = signer.csrf(&token);
    p.action = action_name(claims.action);
    p.snooze_default = default.naive_utc().format("%Y-%m-%d").to_string();
    p.snooze_latest = latest.naive_utc().format("%Y-%m-%d").to_string();
    respond(StatusCode::OK, p)
}

/// A snooze until the form's date (`YYYY-MM-DD`, from midnight UTC); the bound is the store's
/// to check, inside the action's transaction.
fn snooze(until: Option<&str>, state: &AppState) -> Result<CredentialAction, Box<HttpResponse>> {
    let text = until.unwrap_or("").trim();
    let Some(midnight) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
    else {
        return Err(Box::new(respond(
            StatusCode::BAD_REQUEST,
            page(
                "refused",
                "Snooze until when?",
                format!("{text:?} is not a date like 2026-03-01. Nothing was changed; go back and pick one."),
            ),
        )));
    };
    Ok(CredentialAction::Snooze {
        until: Timestamp::from(midnight.and_utc()),
        min_notice_days: state.config.min_notice_days,
    })
}

fn used(req: &HttpRequest) -> HttpResponse {
    refused(
        req,
        StatusCode::CONFLICT,
        "already used",
        "This link was already used; each acknowledge, snooze or not-mine link works once. Nothing was changed.".into(),
    )
}

/// The confirmation form.
#[derive(Debug, Deserialize)]
pub struct ActForm {
    csrf: String,
    note: Option<String>,
    /// Snooze: `YYYY-MM-DD` (UTC midnight).
    until: Option<String>,
    suggested_owner: Option<String>,
}

#[post("/act/{token}")]
pub async fn act(req: HttpRequest, token: web::Path<String>, form: web::Form<ActForm>, state: web::Data<AppState>) -> HttpResponse {
    let now = Timestamp::from(Utc::now());
    let (signer, claims, c) = match open_link(&req, &state, &token, now).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(e) = signer.check_csrf(&token, &form.csrf) {
        return link_refused(&req, &e);
    }
    let action = match claims.action {
        LinkAction::Acknowledge => CredentialAction::Acknowledge,
        LinkAction::NotMine => CredentialAction::Dispute {
            suggested_owner: form.suggested_owner.clone(),
        },
        LinkAction::Rotated => CredentialAction::Rotated,
        LinkAction::Snooze => match snooze(form.until.as_deref(), &state) {
            Ok(a) => a,
            Err(r) => return *r,
        },
    };
    let actor = Actor {
        name: Some(claims.recipient.clone()),
        via: Via::Email,
        client_address: req.peer_addr().map(|a| a.ip().to_string()),
    };
    let single_use = claims.action.single_use().then_some(claims.id.as_str());
    finish(&req, &state, &c, &action, &actor, form.note.as_deref(), single_use, now).await
}

/// Takes the action and answers with its outcome; shared by links and the dashboard.
#[allow(clippy::too_many_arguments)]
async fn finish(
    req: &HttpRequest,
    state: &AppState,
    c: &Credential,
    action: &CredentialAction,
    actor: &Actor,
    note: Option<&str>,
    single_use: Option<&str>,
    now: Timestamp,
) -> HttpResponse {
    match state.store.act(c.id, action, actor, note, single_use, now).await {
        Ok(_) => {
            tracing::info!(credential_id = c.id, kind = %action.kind(), via = %actor.via, "a credential action was taken");
            let mut p = page("done", "Done", done_message(action, c));
            p.application_href = view::application_href(&c.environment, &c.app_object_id);
            p.credential = Some(Described::of(c, now));
            if matches!(action, CredentialAction::Rotated) {
                p.message = match state.request_sync(&c.environment) {
                    true => format!(
                        "Recorded as rotated. A sync of {} is queued; the application page shows its outcome.",
                        c.environment
                    ),
                    false => "Recorded as rotated. The next scheduled sync checks it; the application page shows its outcome.".into(),
                };
            }
            respond(StatusCode::OK, p)
        }
        Err(ActionError::LinkUsed) => used(req),
        Err(ActionError::Gone) => refused(
            req,
            StatusCode::GONE,
            "credential gone",
            "This credential is no longer listed: there is nothing left to do. Nothing was changed.".into(),
        ),
        Err(ActionError::Snooze(e)) => respond(
            StatusCode::BAD_REQUEST,
            page(
                "refused",
                "This snooze is not allowed",
                format!(
                    "{}. Nothing was changed; go back and pick another date.",
                    capitalise(&e.to_string())
                ),
            ),
        ),
        Err(ActionError::Store(e)) => store_failed(e),
    }
}

fn done_message(action: &CredentialAction, c: &Credential) -> String {
    match action {
        CredentialAction::Acknowledge => "Acknowledged. Reminders of this credential pause until it is critical.".into(),
        CredentialAction::Snooze { .. } => format!(
            "Snoozed. Reminders of this credential pause until the date you chose; it ends {}.",
            c.end_at.naive_utc().format("%Y-%m-%d %H:%M UTC")
        ),
        CredentialAction::Dispute { .. } => "Recorded as not yours. The next reminders go to the environment's on-call list.".into(),
        CredentialAction::Rotated => "Recorded as rotated.".into(),
    }
}

// ---- The same actions from the dashboard's application page ----

/// How long a dashboard form stays good: a page left open over lunch still works.
const FORM_HOURS: i64 = 12;

/// The actions panel and event log of an application page.
pub struct Panel {
    /// Who would act; `None`: the panel says why nobody can.
    pub user: Option<String>,
    pub post_path: String,
    pub csrf: String,
    pub credentials: Vec<Choice>,
    pub events: Vec<EventView>,
    /// The environment's last sync, in words: what "Rotated — check now" leads to.
    pub last_sync: String,
}

/// A live credential to act on.
pub struct Choice {
    pub id: i64,
    pub label: String,
    /// Acknowledged or snoozed, in words ("" for neither).
    pub state: String,
    /// The latest snooze date allowed (YYYY-MM-DD).
    pub latest: String,
}

/// One event on the application page.
pub struct EventView {
    pub at: String,
    pub kind: String,
    pub key_id: String,
    pub actor: String,
    pub via: String,
    pub client: String,
    pub note: String,
}

/// The panel of one application's page.
pub async fn panel(
    state: &AppState,
    req: &HttpRequest,
    env: &crate::store::EnvironmentRow,
    application_id: i64,
    object_id: &str,
    creds: &[Credential],
    now: Timestamp,
) -> Result<Panel, StoreError> {
    let user = super::auth::acting_user(&state.config.server.auth, req);
    let csrf = match &user {
        Some(u) => state
            .link_signer()
            .await?
            .form_token(u, now.plus_seconds(FORM_HOURS * 3600).unix_seconds()),
        None => String::new(),
    };
    let credentials = creds
        .iter()
        .filter(|c| c.is_live())
        .map(|c| Choice {
            id: c.id,
            label: Described::of(c, now).credential,
            state: [
                c.attention
                    .acknowledged
                    .as_ref()
                    .map(|a| format!("acknowledged by {} {}", a.by, view::utc(a.at))),
                c.attention
                    .snoozed_until
                    .filter(|u| *u > now)
                    .map(|u| format!("snoozed until {}", view::utc(u))),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; "),
            latest: snooze_bound(c.end_at, state.config.min_notice_days)
                .naive_utc()
                .format("%Y-%m-%d")
                .to_string(),
        })
        .collect();
    let events = state
        .store
        .events(&crate::store::EventFilter {
            application_id: Some(application_id),
            limit: 50,
            ..Default::default()
        })
        .await?
        .into_iter()
        .map(|e| EventView {
            at: view::utc(e.at),
            kind: e.kind,
            key_id: e.key_id,
            actor: e.actor.unwrap_or_else(|| "credwatch".into()),
            via: e.via,
            client: e.client_address.unwrap_or_default(),
            note: e.note.unwrap_or_default(),
        })
        .collect();
    let last_sync = match state.store.recent_runs(env.id, 1).await?.into_iter().next() {
        None => "never synced".into(),
        Some(r) => match r.finished_at {
            None => format!("a sync is running (started {})", view::utc(r.started_at)),
            Some(f) => format!(
                "{} at {}{}",
                r.outcome,
                view::utc(f),
                r.error.map(|e| format!(": {e}")).unwrap_or_default()
            ),
        },
    };
    Ok(Panel {
        user,
        post_path: format!("{}/actions", view::application_href(&env.name, object_id)),
        csrf,
        credentials,
        events,
        last_sync,
    })
}

/// The application page's action form.
#[derive(Debug, Deserialize)]
pub struct DashboardForm {
    csrf: String,
    credential_id: i64,
    /// `acknowledge`, `snooze`, `not-mine` or `rotated`.
    action: String,
    until: Option<String>,
    note: Option<String>,
    suggested_owner: Option<String>,
}

#[post("/environments/{name}/applications/{object_id}/actions")]
pub async fn dashboard_act(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<DashboardForm>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let now = Timestamp::from(Utc::now());
    let (environment, object_id) = path.into_inner();
    let Some(user) = super::auth::acting_user(&state.config.server.auth, &req) else {
        return refused(
            &req,
            StatusCode::FORBIDDEN,
            "no user",
            "Actions need a signed-in user (server.auth mode \"basic\", \"proxy\" or \"oidc\" with the operate role), or server.auth.anonymous_actions = true. Nothing was changed.".into(),
        );
    };
    let signer = match state.link_signer().await {
        Ok(s) => s,
        Err(e) => return store_failed(e),
    };
    if signer.check_form_token(&user, &form.csrf, now).is_err() {
        return refused(
            &req,
            StatusCode::FORBIDDEN,
            "bad form token",
            "The form's token is missing, expired or not yours; reload the application page and try again. Nothing was changed.".into(),
        );
    }
    let c = match state.store.credential(form.credential_id).await {
        Ok(c) if c.environment == environment && c.app_object_id == object_id => c,
        Ok(_) | Err(StoreError::NotFound) => {
            return respond(
                StatusCode::BAD_REQUEST,
                page(
                    "refused",
                    "No such credential",
                    "This application has no such credential. Nothing was changed.",
                ),
            );
        }
        Err(e) => return store_failed(e),
    };
    let action = match form.action.as_str() {
        "acknowledge" => CredentialAction::Acknowledge,
        "not-mine" => CredentialAction::Dispute {
            suggested_owner: form.suggested_owner.clone(),
        },
        "rotated" => CredentialAction::Rotated,
        "snooze" => match snooze(form.until.as_deref(), &state) {
            Ok(a) => a,
            Err(r) => return *r,
        },
        other => {
            return respond(
                StatusCode::BAD_REQUEST,
                page(
                    "refused",
                    "No such action",
                    format!(
                        "{:?} is not an action; use acknowledge, snooze, not-mine or rotated. Nothing was changed.",
                        clean(other)
                    ),
                ),
            );
        }
    };
    let actor = Actor {
        name: Some(user),
        via: Via::Dashboard,
        client_address: req.peer_addr().map(|a| a.ip().to_string()),
    };
    finish(&req, &state, &c, &action, &actor, form.note.as_deref(), None, now).await
}
