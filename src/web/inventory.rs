//! The inventory of one environment (every live credential, searchable, filterable, paginated)
//! and the page of one application with its history.

use super::error::PageError;
use super::layout::Layout;
use super::query::{InventoryQuery, PER_PAGE, RowKey};
use super::search::SearchCache;
use super::snapshot::SnapshotCache;
use super::state::AppState;
use super::view::{self, CredentialRow, EnvironmentCard, StatusView, thousands};
use crate::domain::{Sibling, Status, Timestamp};
use crate::store::{
    CredentialFilter, Cursor, EnvironmentState, MIN_INDEXED_SEARCH_CHARS, RunRow, SHORT_SEARCH_SCAN, SearchHit, StatusCounts, StoreError,
    search_is_indexed,
};
use actix_web::{get, web};
use askama::Template;
use askama_web::WebTemplate;
use chrono::Utc;

/// Counting stops here: "10,000+" is as useful as an exact figure and stays fast for any search.
const COUNT_CAP: i64 = 10_000;

#[derive(Template, WebTemplate)]
#[template(path = "environment.html")]
pub struct EnvironmentPage {
    layout: Layout,
    card: EnvironmentCard,
    rows: Vec<CredentialRow>,
    q: String,
    status: String,
    kind: String,
    statuses: Vec<StatusView>,
    filtered: bool,
    /// "1–50 of 1,234" and the links around it.
    range: String,
    page: u32,
    pages: Option<i64>,
    prev: Option<String>,
    next: Option<String>,
    runs: Vec<RunView>,
    csv: String,
    /// Said when the search is too short for the index and only part of the inventory was read.
    search_hint: Option<String>,
}

impl EnvironmentPage {
    fn n(&self, n: &i64) -> String {
        thousands(*n)
    }
}

struct RunView {
    started: String,
    duration: String,
    outcome: String,
    applications: i64,
    credentials: i64,
    added: i64,
    removed: i64,
    error: Option<String>,
}

impl RunView {
    fn new(r: &RunRow) -> Self {
        RunView {
            started: view::utc(r.started_at),
            duration: r
                .finished_at
                .map(|f| format!("{} s", (f.ticks_since(r.started_at) / Timestamp::TICKS_PER_SECOND).max(0)))
                .unwrap_or_else(|| "running".into()),
            outcome: r.outcome.clone(),
            applications: r.applications,
            credentials: r.credentials,
            added: r.added,
            removed: r.removed,
            error: r.error.clone(),
        }
    }
}

/// The environment named in the path, or a 404 naming it.
async fn active_environment(state: &AppState, name: &str) -> Result<crate::store::EnvironmentRow, PageError> {
    match state.store.environment_by_name(name).await {
        Ok(env) if env.retired_at.is_none() => Ok(env),
        Ok(_) | Err(StoreError::NotFound) => Err(PageError::NotFound(format!("There is no environment named “{name}”."))),
        Err(e) => Err(e.into()),
    }
}

/// Rows before the page `query` asks for.
fn skipped(query: &InventoryQuery) -> i64 {
    i64::from(query.page() - 1) * i64::from(query.per_page())
}

/// The address of `page` with `query`'s filters, continuing from `cursor` (`after` or `before`
/// a row's key) when there is one.
fn page_link(query: &InventoryQuery, base: &str, page: u32, cursor: Option<(&str, RowKey)>) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    if let Some(q) = &query.q {
        s.append_pair("q", q);
    }
    if let Some(st) = query.status {
        s.append_pair("status", st.as_str());
    }
    if let Some(k) = query.kind {
        s.append_pair("kind", k.as_str());
    }
    if query.per_page() != PER_PAGE {
        s.append_pair("per_page", &query.per_page().to_string());
    }
    if page > 1 {
        s.append_pair("page", &page.to_string());
        if let Some((name, key)) = cursor {
            s.append_pair(name, &key.to_string());
        }
    }
    let query = s.finish();
    if query.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{query}")
    }
}

/// One page of an environment's credentials, as read from the store.
struct InventorySlice {
    rows: Vec<CredentialRow>,
    /// How many match in all (at most [`COUNT_CAP`]), and whether there are more than that.
    total: i64,
    capped: bool,
    /// Whether there are rows beyond this page in the direction of travel.
    more: bool,
    /// The keys of the first and last rows, for the pager's cursors.
    first_key: Option<RowKey>,
    last_key: Option<RowKey>,
}

/// The ids of up to `limit` hits of a sorted list, as [`crate::store::Store::credentials_page`]
/// pages rows: after or before a cursor (the `limit` just before it), or from `offset`.
fn page_of(hits: &[&SearchHit], cursor: Option<Cursor>, offset: i64, limit: i64) -> Vec<i64> {
    let limit = limit.max(0) as usize;
    let range = match cursor {
        Some(Cursor::After(end, id)) => {
            let from = hits.partition_point(|h| (h.end_at, h.id) <= (end, id));
            from..(from + limit).min(hits.len())
        }
        Some(Cursor::Before(end, id)) => {
            let to = hits.partition_point(|h| (h.end_at, h.id) < (end, id));
            to.saturating_sub(limit)..to
        }
        None => {
            let from = usize::try_from(offset.max(0)).unwrap_or(usize::MAX).min(hits.len());
            from..(from + limit).min(hits.len())
        }
    };
    hits[range].iter().map(|h| h.id).collect()
}

/// Reads the page `query` asks for: counts from the snapshot where it knows them, the rows (one
/// more than shown, which tells whether there is more) and what the policy says of each.
async fn load_slice(
    state: &AppState,
    searches: &SearchCache,
    env: &EnvironmentState,
    counts: StatusCounts,
    query: &InventoryQuery,
    now: Timestamp,
) -> Result<InventorySlice, PageError> {
    let env_name = env.name.as_str();
    let per_page = i64::from(query.per_page());
    let mut filter = CredentialFilter {
        environment: Some(env_name.to_string()),
        kind: query.kind,
        search: query.q.clone(),
        limit: Some(per_page),
        offset: Some(skipped(query)),
        ..Default::default()
    };
    if let Some(s) = query.status {
        filter = filter.with_status(s, &state.config.status, now);
    }
    let (total, capped, mut found) = match query.q.as_deref().filter(|q| search_is_indexed(q)) {
        Some(term) => {
            let hits = searches.hits(state, env, term).await?;
            let (from, before) = (filter.end_from, filter.end_before);
            let matching: Vec<&SearchHit> = hits
                .iter()
                .filter(|h| query.kind.is_none_or(|k| h.kind == k))
                .filter(|h| from.is_none_or(|f| h.end_at >= f) && before.is_none_or(|b| h.end_at < b))
                .collect();
            let ids = page_of(&matching, query.cursor(), skipped(query), per_page + 1);
            (matching.len() as i64, false, state.store.credentials_by_id(&ids).await?)
        }
        None => {
            // The snapshot already knows the totals without search or kind; count only what it cannot.
            let (total, capped) = match (&filter.search, query.kind, query.status) {
                (None, None, None) => (counts.total(), false),
                (None, None, Some(s)) => (counts.get(s), false),
                _ => {
                    let n = state.store.count_credentials_capped(&filter, COUNT_CAP + 1).await?;
                    (n.min(COUNT_CAP), n > COUNT_CAP)
                }
            };
            let found = state
                .store
                .credentials_page(&filter, query.cursor(), skipped(query), per_page + 1)
                .await?;
            (total, capped, found)
        }
    };
    let more = found.len() as i64 > per_page;
    if more {
        match query.cursor() {
            Some(Cursor::Before(..)) => drop(found.remove(0)),
            _ => found.truncate(per_page as usize),
        }
    }
    let (successors, verdicts) = crate::domain::rotation_policy(
        state
            .store
            .live_siblings_of(&found.iter().map(|c| c.application_id).collect::<Vec<_>>())
            .await?,
        now,
    );
    let active_days = state.config.usage.active_days;
    Ok(InventorySlice {
        first_key: found.first().map(|c| RowKey { end: c.end_at, id: c.id }),
        last_key: found.last().map(|c| RowKey { end: c.end_at, id: c.id }),
        rows: found
            .iter()
            .map(|c| {
                CredentialRow::new(c, &state.config.status, now)
                    .with_policy(c, &state.config.exclusions, &successors, now)
                    .with_usage(c, active_days, now)
                    .with_rotation(verdicts.get(&c.id))
            })
            .collect(),
        total,
        capped,
        more,
    })
}

/// The pager of a slice: "1–50 of 1,234", the page count when known, and the links around it.
struct Pager {
    range: String,
    pages: Option<i64>,
    prev: Option<String>,
    next: Option<String>,
}

impl Pager {
    fn new(query: &InventoryQuery, slice: &InventorySlice, base: &str) -> Pager {
        let page = query.page();
        let per_page = i64::from(query.per_page());
        let first = skipped(query);
        let shown_to = first + slice.rows.len() as i64;
        // Travelling backwards, "more" means more before; a page reached so always has a next one.
        let (has_prev, has_next) = match query.cursor() {
            Some(Cursor::Before(..)) => (slice.more || page > 1, !slice.rows.is_empty()),
            _ => (page > 1, slice.more),
        };
        let range = if slice.rows.is_empty() {
            if slice.total == 0 {
                "No credentials match.".to_string()
            } else {
                format!("Nothing on page {}; {} match.", thousands(page.into()), thousands(slice.total))
            }
        } else {
            format!(
                "{}–{} of {}{}",
                thousands(first + 1),
                thousands(shown_to),
                thousands(slice.total),
                if slice.capped { "+" } else { "" }
            )
        };
        let pages = (!slice.capped).then(|| (slice.total.max(1) + per_page - 1) / per_page);
        // Past the end (a page number typed in, say), "previous" leads back to the last page.
        let prev = match pages {
            Some(last) if slice.rows.is_empty() && i64::from(page) > last => Some(page_link(query, base, last as u32, None)),
            _ => (has_prev && page > 1).then(|| page_link(query, base, page - 1, slice.first_key.map(|k| ("before", k)))),
        };
        Pager {
            range,
            pages,
            prev,
            // A page past u32::MAX cannot be asked for, so the last possible page has no next.
            next: (has_next && page < u32::MAX).then(|| page_link(query, base, page + 1, slice.last_key.map(|k| ("after", k)))),
        }
    }
}

#[get("/environments/{name}")]
pub async fn environment(
    req: actix_web::HttpRequest,
    query: web::Query<InventoryQuery>,
    state: web::Data<AppState>,
    cache: web::Data<SnapshotCache>,
    searches: web::Data<SearchCache>,
    name: web::Path<String>,
) -> Result<EnvironmentPage, PageError> {
    let now = Timestamp::from(Utc::now());
    let query = query.into_inner();
    // The environments come with the (cached) snapshot: no query of their own.
    let (envs, snap) = cache.get(&state).await?;
    let env = envs
        .iter()
        .find(|e| e.name == *name)
        .ok_or_else(|| PageError::NotFound(format!("There is no environment named “{name}”.")))?;
    let counts = snap.counts.get(&env.id).copied().unwrap_or_default();
    let slice = load_slice(&state, &searches, env, counts, &query, now).await?;
    let card = EnvironmentCard::new(env, counts, now, view::stale_after_secs(&state.config));
    let pager = Pager::new(&query, &slice, &card.href);
    let mut csv = url::form_urlencoded::Serializer::new(String::new());
    csv.append_pair("environment", &env.name);
    if let Some(s) = query.status {
        csv.append_pair("status", s.as_str());
    }
    let runs = cache.recent_runs(&state, env.id).await?.iter().map(RunView::new).collect();
    let page_view = EnvironmentPage {
        layout: Layout::new(
            format!("{} inventory", env.name),
            env.name.clone(),
            envs.iter().map(|e| e.name.clone()).collect(),
        )
        .for_request(&req),
        card,
        rows: slice.rows,
        filtered: query.q.is_some() || query.status.is_some() || query.kind.is_some(),
        status: query.status.map(|s| s.as_str().to_string()).unwrap_or_default(),
        kind: query.kind.map(|k| k.as_str().to_string()).unwrap_or_default(),
        q: query.q.clone().unwrap_or_default(),
        statuses: Status::ALL.iter().map(|&s| s.into()).collect(),
        range: pager.range,
        page: query.page(),
        pages: pager.pages,
        prev: pager.prev,
        next: pager.next,
        runs,
        csv: format!("/api/v1/credentials.csv?{}", csv.finish()),
        search_hint: query.q.as_deref().filter(|q| !search_is_indexed(q)).map(|_| {
            format!(
                "Searches shorter than {MIN_INDEXED_SEARCH_CHARS} characters look only through the {} credentials that end first; type {MIN_INDEXED_SEARCH_CHARS} or more to search all of them.",
                thousands(SHORT_SEARCH_SCAN)
            )
        }),
    };
    Ok(page_view)
}

#[derive(Template, WebTemplate)]
#[template(path = "application.html")]
pub struct ApplicationPage {
    layout: Layout,
    environment: String,
    environment_href: String,
    name: String,
    unnamed: bool,
    object_id: String,
    app_id: String,
    is_monitor: bool,
    first_seen: String,
    last_seen: String,
    removed: Option<String>,
    portal: String,
    live: Vec<CredentialRow>,
    history: Vec<CredentialRow>,
    /// The application's own last sign-in, in words.
    usage: String,
    /// An enterprise application (service principal) rather than an app registration.
    enterprise: bool,
    /// `None` when owners were never fetched.
    owners: Option<Vec<OwnerView>>,
    /// Addresses the app's notes name after `credwatch-notify:`.
    note_contacts: Vec<String>,
    tags: Vec<String>,
    notify_owners: bool,
    /// Acknowledge, snooze, not mine, rotated; and the event log (issue 15).
    actions: super::act::Panel,
}

/// One owner on the application page.
struct OwnerView {
    name: String,
    kind: String,
    contact: String,
}

#[get("/environments/{name}/applications/{object_id}")]
pub async fn application(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<ApplicationPage, PageError> {
    let (name, object_id) = path.into_inner();
    let now = Timestamp::from(Utc::now());
    let env = active_environment(&state, &name).await?;
    let app = match state.store.application(env.id, &object_id).await {
        Err(StoreError::NotFound) => {
            return Err(PageError::NotFound(format!(
                "{name} has no application with object id “{object_id}”."
            )));
        }
        other => other?,
    };
    let creds = state
        .store
        .credentials(&CredentialFilter {
            application_id: Some(app.id),
            include_removed: true,
            ..Default::default()
        })
        .await?;
    let live: Vec<Sibling> = creds.iter().filter(|c| c.is_live()).map(Into::into).collect();
    let successors = crate::domain::supersession(&live, now);
    let verdicts = crate::domain::rotations(&state.store.used_siblings_of(&[app.id]).await?);
    let active_days = state.config.usage.active_days;
    let (live, history): (Vec<_>, Vec<_>) = creds
        .iter()
        .map(|c| {
            CredentialRow::new(c, &state.config.status, now)
                .with_policy(c, &state.config.exclusions, &successors, now)
                .with_usage(c, active_days, now)
                .with_rotation(verdicts.get(&c.id).filter(|_| c.is_live()))
        })
        .partition(|r| r.removed.is_none());
    let usage = application_usage(&state, &env, &app, now).await?;
    let actions = super::act::panel(&state, &req, &env, app.id, &app.object_id, &creds, now).await?;
    let owners: Option<Vec<OwnerView>> = app.owners.clone().map(|o| {
        o.into_iter()
            .map(|o| OwnerView {
                name: o.display_name.unwrap_or_else(|| o.id.clone()),
                kind: if o.kind == "user" {
                    "user".into()
                } else if o.kind == "servicePrincipal" {
                    "service principal".into()
                } else {
                    o.kind
                },
                contact: o.mail.or(o.user_principal_name).or(o.app_id).unwrap_or_default(),
            })
            .collect()
    });
    let note_contacts: Vec<String> = app
        .notes
        .as_deref()
        .map(crate::domain::notes_contacts)
        .unwrap_or_default()
        .iter()
        .map(ToString::to_string)
        .collect();
    let enterprise = app.source == crate::domain::Source::ServicePrincipal;
    let tags = app.tags.clone();
    let (app_name, unnamed) = view::display_or(app.display_name.as_deref(), "(no name)");
    let envs = state.store.environments().await?;
    let page = ApplicationPage {
        layout: Layout::new(
            format!("{app_name} · {}", env.name),
            env.name.clone(),
            envs.into_iter().map(|e| e.name).collect(),
        )
        .for_request(&req),
        environment_href: view::environment_href(&env.name),
        environment: env.name.clone(),
        name: app_name,
        unnamed,
        is_monitor: app.app_id == env.client_id,
        portal: app.portal_link(&env.portal_url),
        enterprise,
        owners,
        note_contacts,
        tags,
        notify_owners: state.config.environment(&env.name).is_some_and(|e| e.notify_owners),
        object_id: app.object_id,
        app_id: app.app_id,
        first_seen: view::utc(app.first_seen_at),
        last_seen: view::utc(app.last_seen_at),
        removed: app.removed_at.map(view::utc),
        live,
        history,
        usage,
        actions,
    };
    Ok(page)
}

/// The application's own sign-ins, in words, for its page: when it last signed in (with a
/// secret or certificate, and at all), or why that is unknown.
async fn application_usage(
    state: &AppState,
    env: &crate::store::EnvironmentRow,
    app: &crate::domain::Application,
    now: Timestamp,
) -> Result<String, StoreError> {
    if !state.config.environment(&env.name).is_some_and(|e| e.usage) {
        return Ok("not read: usage is off for this environment".into());
    }
    let Some(states) = state.store.environment_states().await?.into_iter().find(|e| e.id == env.id) else {
        return Ok("unknown".into());
    };
    if states.usage_read_at.is_none() {
        return Ok("unknown: the sign-in activity reports have not been read (see the overview)".into());
    }
    Ok(match state.store.application_usage(env.id, &app.app_id).await? {
        Some(u) => match (u.client_sign_in_at, u.last_sign_in_at) {
            (Some(c), _) => format!("{} ({}) with a secret or certificate", view::relative(c, now), view::utc(c)),
            (None, Some(l)) => format!("{} ({}), never with a secret or certificate", view::relative(l, now), view::utc(l)),
            (None, None) => "never signed in".into(),
        },
        None => "never signed in".into(),
    })
}
