//! Reading credentials back: the one query the dashboard, the API, reminders and the calendar
//! feed share, filtered in SQL so an index on `end_at` does the work.

use super::{Context, Store, StoreError};
use crate::domain::{CredentialKind, Status, Thresholds};
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite};

/// A credential with its application and environment, as every output needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CredentialView {
    pub id: i64,
    pub environment: String,
    pub environment_id: i64,
    /// The environment's Azure portal, for links.
    pub portal_url: String,
    pub application_id: i64,
    pub app_object_id: String,
    pub app_id: String,
    pub app_display_name: Option<String>,
    pub kind: String,
    pub key_id: String,
    pub display_name: Option<String>,
    pub hint: Option<String>,
    pub start_at: Option<i64>,
    pub end_at: i64,
    pub first_seen_at: i64,
    /// For a live credential, its environment's last successful sync; for a removed one, the
    /// last sync that listed it.
    pub last_seen_at: i64,
    pub removed_at: Option<i64>,
    /// `application` or `service_principal` (see [`crate::domain::Source`]).
    pub app_source: String,
    /// The application's tags, as a JSON array.
    pub app_tags: String,
    pub app_notes: Option<String>,
    /// The application's owners as JSON ([`crate::domain::Owner`]), NULL when never fetched.
    pub app_owners: Option<String>,
}

impl CredentialView {
    pub fn source(&self) -> crate::domain::Source {
        crate::domain::Source::parse(&self.app_source)
    }

    pub fn tags(&self) -> Vec<String> {
        serde_json::from_str(&self.app_tags).unwrap_or_default()
    }

    /// `None` when owners were never fetched.
    pub fn owners(&self) -> Option<Vec<crate::domain::Owner>> {
        self.app_owners.as_deref().map(|o| serde_json::from_str(o).unwrap_or_default())
    }

    pub fn kind(&self) -> CredentialKind {
        CredentialKind::parse(&self.kind).unwrap_or(CredentialKind::Secret)
    }

    pub fn end(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.end_at, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    pub fn start(&self) -> Option<DateTime<Utc>> {
        self.start_at.and_then(|s| DateTime::from_timestamp(s, 0))
    }

    pub fn days_left(&self, now: DateTime<Utc>) -> i64 {
        crate::domain::days_left(self.end(), now)
    }

    pub fn status(&self, thresholds: &Thresholds, now: DateTime<Utc>) -> Status {
        thresholds.status(self.end(), now)
    }

    /// The app's "Certificates & secrets" blade in its environment's Azure portal, or for an
    /// enterprise application its single sign-on blade (where SAML certificates are managed).
    pub fn portal_link(&self) -> String {
        let portal =
            url::Url::parse(&self.portal_url).unwrap_or_else(|_| url::Url::parse("https://portal.azure.com").expect("constant URL"));
        match self.source() {
            crate::domain::Source::Application => crate::config::portal_link(&portal, &self.app_id),
            crate::domain::Source::ServicePrincipal => crate::config::enterprise_app_link(&portal, &self.app_object_id, &self.app_id),
        }
    }
}

/// What rotation awareness needs of a live credential.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Sibling {
    pub id: i64,
    pub application_id: i64,
    pub kind: String,
    pub key_id: String,
    pub display_name: Option<String>,
    pub start_at: Option<i64>,
    pub end_at: i64,
    pub first_seen_at: i64,
}

impl From<&CredentialView> for Sibling {
    fn from(c: &CredentialView) -> Sibling {
        Sibling {
            id: c.id,
            application_id: c.application_id,
            kind: c.kind.clone(),
            key_id: c.key_id.clone(),
            display_name: c.display_name.clone(),
            start_at: c.start_at,
            end_at: c.end_at,
            first_seen_at: c.first_seen_at,
        }
    }
}

/// The labels of one expiry series.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Expiry {
    pub id: i64,
    pub environment: String,
    pub app_id: String,
    pub app_name: Option<String>,
    pub kind: String,
    pub key_id: String,
    pub end_at: i64,
}

/// Which credentials to read. The default is every live credential of every active environment,
/// most urgent (earliest end) first.
#[derive(Debug, Clone, Default)]
pub struct CredentialFilter {
    pub environment: Option<String>,
    pub kind: Option<CredentialKind>,
    /// Keep credentials whose end is at or after this instant (Unix seconds).
    pub end_from: Option<i64>,
    /// Keep credentials whose end is before this instant (Unix seconds).
    pub end_before: Option<i64>,
    /// Case-insensitive substring of the app name, app ID, credential name or key ID.
    pub search: Option<String>,
    /// Only the credentials of this application (store id).
    pub application_id: Option<i64>,
    /// Only the credentials of applications this person owns: their mail or user principal
    /// name, compared without regard to ASCII case. Applications whose owners were never
    /// fetched have none.
    pub owner: Option<String>,
    /// Include removed (rotated-away) credentials too.
    pub include_removed: bool,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl CredentialFilter {
    /// Restricts to one status at `now`, as a range over `end`.
    pub fn with_status(mut self, status: Status, thresholds: &Thresholds, now: DateTime<Utc>) -> Self {
        let (lo, hi) = thresholds.end_range(status, now);
        self.end_from = max_opt(self.end_from, lo);
        self.end_before = min_opt(self.end_before, hi);
        self
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pub(super) const SELECT: &str = "SELECT c.id, e.name AS environment, c.environment_id, e.portal_url, c.application_id,
    a.object_id AS app_object_id, a.app_id, a.display_name AS app_display_name, c.kind, c.key_id, c.display_name,
    c.hint, c.start_at, c.end_at, c.first_seen_at,
    CASE WHEN c.removed_at IS NULL THEN COALESCE(e.last_success_at, c.last_seen_at) ELSE c.last_seen_at END AS last_seen_at, c.removed_at,
    a.source AS app_source, a.tags AS app_tags, a.notes AS app_notes, a.owners AS app_owners
  FROM credentials c
  JOIN applications a ON a.id = c.application_id
  JOIN environments e ON e.id = c.environment_id
  WHERE e.retired_at IS NULL";

impl Store {
    /// Credentials matching `filter`, earliest end first.
    pub async fn credentials(&self, filter: &CredentialFilter) -> Result<Vec<CredentialView>, StoreError> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(SELECT);
        push_filter(&mut q, filter);
        q.push(" ORDER BY c.end_at, e.name, a.display_name, c.key_id");
        if let Some(limit) = filter.limit {
            q.push(" LIMIT ").push_bind(limit);
            q.push(" OFFSET ").push_bind(filter.offset.unwrap_or(0));
        }
        q.build_query_as().fetch_all(&self.pool).await.context("reading credentials")
    }

    /// How many credentials match `filter` (ignoring its limit and offset).
    pub async fn count_credentials(&self, filter: &CredentialFilter) -> Result<i64, StoreError> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT count(*) FROM credentials c JOIN applications a ON a.id = c.application_id JOIN environments e ON e.id = c.environment_id WHERE e.retired_at IS NULL",
        );
        push_filter(&mut q, filter);
        let (n,): (i64,) = q.build_query_as().fetch_one(&self.pool).await.context("counting credentials")?;
        Ok(n)
    }

    /// Up to `limit` live credentials' labels and ends, in store-id order after `after_id`:
    /// `/metrics` reads a large tenant in batches, holding neither all rows nor a connection
    /// while its client reads.
    pub async fn live_expiries(&self, after_id: i64, limit: i64) -> Result<Vec<Expiry>, StoreError> {
        sqlx::query_as::<_, Expiry>(
            "SELECT c.id, e.name AS environment, a.app_id, a.display_name AS app_name, c.kind, c.key_id, c.end_at
             FROM credentials c JOIN applications a ON a.id = c.application_id JOIN environments e ON e.id = c.environment_id
             WHERE c.removed_at IS NULL AND e.retired_at IS NULL AND c.id > ? ORDER BY c.id LIMIT ?",
        )
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("reading expiries")
    }

    /// Every live credential of the given applications (store ids), for rotation awareness:
    /// only the columns it needs, from one table, since every page that shows credentials asks.
    pub async fn live_credentials_of(&self, application_ids: &[i64]) -> Result<Vec<Sibling>, StoreError> {
        let mut ids: Vec<i64> = application_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "SELECT id, application_id, kind, key_id, display_name, start_at, end_at, first_seen_at FROM credentials
                 WHERE removed_at IS NULL AND application_id IN (",
            );
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            q.push(")");
            let rows: Vec<Sibling> = q
                .build_query_as()
                .fetch_all(&self.pool)
                .await
                .context("reading an application's credentials")?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// One credential by its store id.
    pub async fn credential(&self, id: i64) -> Result<CredentialView, StoreError> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(SELECT);
        q.push(" AND c.id = ").push_bind(id);
        q.build_query_as().fetch_one(&self.pool).await.context("reading a credential")
    }
}

pub(super) fn push_filter(q: &mut QueryBuilder<Sqlite>, f: &CredentialFilter) {
    if !f.include_removed {
        q.push(" AND c.removed_at IS NULL");
    }
    if let Some(env) = &f.environment {
        q.push(" AND e.name = ").push_bind(env.clone());
    }
    if let Some(kind) = f.kind {
        q.push(" AND c.kind = ").push_bind(kind.as_str());
    }
    if let Some(from) = f.end_from {
        q.push(" AND c.end_at >= ").push_bind(from);
    }
    if let Some(before) = f.end_before {
        q.push(" AND c.end_at < ").push_bind(before);
    }
    if let Some(app) = f.application_id {
        q.push(" AND c.application_id = ").push_bind(app);
    }
    if let Some(owner) = &f.owner {
        // Owners are stored as a JSON array (see `domain::Owner`).
        q.push(" AND EXISTS (SELECT 1 FROM json_each(a.owners) o WHERE json_extract(o.value, '$.mail') = ")
            .push_bind(owner.clone())
            .push(" COLLATE NOCASE OR json_extract(o.value, '$.user_principal_name') = ")
            .push_bind(owner.clone())
            .push(" COLLATE NOCASE)");
    }
    if let Some(s) = f.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        // LIKE with our own escape character, so % and _ typed by a user match literally.
        let pattern = format!("%{}%", s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        q.push(" AND (a.display_name LIKE ").push_bind(pattern.clone()).push(" ESCAPE '\\'");
        q.push(" OR a.app_id LIKE ").push_bind(pattern.clone()).push(" ESCAPE '\\'");
        q.push(" OR c.display_name LIKE ").push_bind(pattern.clone()).push(" ESCAPE '\\'");
        q.push(" OR c.key_id LIKE ").push_bind(pattern).push(" ESCAPE '\\')");
    }
}
