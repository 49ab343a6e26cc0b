//! Reading credentials back: the one query the dashboard, the API, reminders and the calendar
//! feed share, filtered in SQL so an index on `end_at` does the work.

use super::rows::At;
use super::{Context, Store, StoreError};
use crate::domain::{Acknowledgement, Attention, Credential, CredentialKind, Dispute, LastUse, Sibling, Status, Thresholds, Timestamp};
use sqlx::{QueryBuilder, Sqlite};
use std::sync::LazyLock;

/// A row of [`SELECT`], as stored; read into a [`Credential`] at once. It comes either as a row
/// of SQL (`FromRow`, by column name) or as a JSON array of [`FIELDS`] in order (`Deserialize`;
/// see [`rows_as_json`]).
#[derive(sqlx::FromRow, serde::Deserialize)]
pub(super) struct CredentialRow {
    id: i64,
    environment: String,
    environment_id: i64,
    portal_url: String,
    application_id: i64,
    app_object_id: String,
    app_id: String,
    app_display_name: Option<String>,
    kind: String,
    key_id: String,
    display_name: Option<String>,
    hint: Option<String>,
    #[serde(deserialize_with = "super::time::opt_ticks")]
    start_at: Option<Timestamp>,
    #[serde(deserialize_with = "super::time::ticks")]
    end_at: Timestamp,
    #[serde(deserialize_with = "super::time::ticks")]
    first_seen_at: Timestamp,
    #[serde(deserialize_with = "super::time::ticks")]
    last_seen_at: Timestamp,
    #[serde(deserialize_with = "super::time::opt_ticks")]
    removed_at: Option<Timestamp>,
    app_source: String,
    app_tags: String,
    app_notes: Option<String>,
    app_owners: Option<String>,
    #[serde(deserialize_with = "super::rows::flag")]
    usage_read: bool,
    #[serde(deserialize_with = "super::rows::flag")]
    usage_recorded: bool,
    #[serde(deserialize_with = "super::time::opt_ticks")]
    last_used_at: Option<Timestamp>,
    acknowledged_by: Option<String>,
    #[serde(deserialize_with = "super::time::opt_ticks")]
    acknowledged_at: Option<Timestamp>,
    #[serde(deserialize_with = "super::time::opt_ticks")]
    snoozed_until: Option<Timestamp>,
    owner_disputed_by: Option<String>,
    #[serde(deserialize_with = "super::time::opt_ticks")]
    owner_disputed_at: Option<Timestamp>,
    suggested_owner: Option<String>,
}

impl TryFrom<CredentialRow> for Credential {
    type Error = StoreError;

    fn try_from(r: CredentialRow) -> Result<Credential, StoreError> {
        let credential = At {
            table: "credentials",
            id: r.id,
        };
        let application = At {
            table: "applications",
            id: r.application_id,
        };
        Ok(Credential {
            kind: credential.kind("kind", &r.kind)?,
            app_source: application.source("source", &r.app_source)?,
            app_tags: application.tags("tags", &r.app_tags)?,
            app_owners: application.owners("owners", r.app_owners.as_deref())?,
            id: r.id,
            environment: r.environment,
            environment_id: r.environment_id,
            portal_url: r.portal_url,
            application_id: r.application_id,
            app_object_id: r.app_object_id,
            app_id: r.app_id,
            app_display_name: r.app_display_name,
            key_id: r.key_id,
            display_name: r.display_name,
            hint: r.hint,
            start_at: r.start_at,
            end_at: r.end_at,
            first_seen_at: r.first_seen_at,
            last_seen_at: r.last_seen_at,
            removed_at: r.removed_at,
            app_notes: r.app_notes,
            last_use: LastUse::from_stored(r.usage_read, r.usage_recorded, r.last_used_at),
            attention: Attention {
                acknowledged: r.acknowledged_by.zip(r.acknowledged_at).map(|(by, at)| Acknowledgement { by, at }),
                snoozed_until: r.snoozed_until,
                owner_disputed: r.owner_disputed_by.zip(r.owner_disputed_at).map(|(by, at)| Dispute {
                    by,
                    at,
                    suggested_owner: r.suggested_owner,
                }),
            },
        })
    }
}

/// Store ids as a JSON array, to bind as one parameter (`IN (SELECT value FROM json_each(?))`).
pub(super) fn ids_json(ids: &[i64]) -> String {
    let mut out = String::with_capacity(ids.len() * 8 + 2);
    out.push('[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&id.to_string());
    }
    out.push(']');
    out
}

/// Rows that crossed from SQLite's thread as one JSON array of arrays
/// (`json_group_array(json_array(…))`): handing rows over one by one costs a wake-up each, more
/// than reading them. Each inner array holds the fields of `T` in order.
pub(super) fn rows_as_json<T: serde::de::DeserializeOwned>(json: &str, context: &'static str) -> Result<Vec<T>, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Setup(format!("{context}: a row did not read back: {e}")))
}

/// Reads rows of [`SELECT`] into credentials; the first unreadable one fails the whole answer.
pub(super) fn typed(rows: Vec<CredentialRow>) -> Result<Vec<Credential>, StoreError> {
    rows.into_iter().map(Credential::try_from).collect()
}

/// A row of [`Store::live_siblings_of`], read as a JSON array in field order.
#[derive(serde::Deserialize)]
pub(super) struct SiblingRow {
    id: i64,
    application_id: i64,
    kind: String,
    key_id: String,
    display_name: Option<String>,
    #[serde(deserialize_with = "super::time::opt_ticks")]
    start_at: Option<Timestamp>,
    #[serde(deserialize_with = "super::time::ticks")]
    end_at: Timestamp,
    #[serde(deserialize_with = "super::time::ticks")]
    first_seen_at: Timestamp,
    #[serde(deserialize_with = "super::rows::flag")]
    usage_read: bool,
    #[serde(deserialize_with = "super::rows::flag")]
    usage_recorded: bool,
    #[serde(deserialize_with = "super::time::opt_ticks")]
    last_sign_in_at: Option<Timestamp>,
}

impl SiblingRow {
    /// The sibling and its last use.
    pub(super) fn into_pair(self) -> Result<(Sibling, LastUse), StoreError> {
        let last_use = LastUse::from_stored(self.usage_read, self.usage_recorded, self.last_sign_in_at);
        Ok((Sibling::try_from(self)?, last_use))
    }
}

impl TryFrom<SiblingRow> for Sibling {
    type Error = StoreError;

    fn try_from(r: SiblingRow) -> Result<Sibling, StoreError> {
        Ok(Sibling {
            kind: At {
                table: "credentials",
                id: r.id,
            }
            .kind("kind", &r.kind)?,
            id: r.id,
            application_id: r.application_id,
            key_id: r.key_id,
            display_name: r.display_name,
            start_at: r.start_at,
            end_at: r.end_at,
            first_seen_at: r.first_seen_at,
        })
    }
}

/// The labels and end of one live credential: one expiry series of `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    /// The store's id of the credential.
    pub id: i64,
    pub environment: String,
    pub app_id: String,
    pub app_name: Option<String>,
    pub kind: CredentialKind,
    pub key_id: String,
    pub end_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct ExpiryRow {
    id: i64,
    environment: String,
    app_id: String,
    app_name: Option<String>,
    kind: String,
    key_id: String,
    end_at: Timestamp,
}

impl TryFrom<ExpiryRow> for Expiry {
    type Error = StoreError;

    fn try_from(r: ExpiryRow) -> Result<Expiry, StoreError> {
        Ok(Expiry {
            kind: At {
                table: "credentials",
                id: r.id,
            }
            .kind("kind", &r.kind)?,
            id: r.id,
            environment: r.environment,
            app_id: r.app_id,
            app_name: r.app_name,
            key_id: r.key_id,
            end_at: r.end_at,
        })
    }
}

/// Which credentials to read. The default is every live credential of every active environment,
/// most urgent (earliest end) first.
#[derive(Debug, Clone, Default)]
pub struct CredentialFilter {
    pub environment: Option<String>,
    pub kind: Option<CredentialKind>,
    /// Keep credentials whose end is at or after this instant.
    pub end_from: Option<Timestamp>,
    /// Keep credentials whose end is before this instant.
    pub end_before: Option<Timestamp>,
    /// Case-insensitive substring of the app name, app ID, credential name or key ID.
    pub search: Option<String>,
    /// Only the credentials of this application (store id).
    pub application_id: Option<i64>,
    /// Only the credentials of these applications (store ids).
    pub application_ids: Option<Vec<i64>>,
    /// Only the credentials of applications this person owns: their mail or user principal
    /// name, compared without regard to ASCII case. Applications whose owners were never
    /// fetched have none.
    pub owner: Option<String>,
    /// Only credentials at or before this `(end_at, id)` key: the end of a range of a keyset
    /// read.
    pub through: Option<(Timestamp, i64)>,
    /// Include removed (rotated-away) credentials too.
    pub include_removed: bool,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl CredentialFilter {
    /// Restricts to one status at `now`, as a range over `end`.
    pub fn with_status(mut self, status: Status, thresholds: &Thresholds, now: Timestamp) -> Self {
        let (lo, hi) = thresholds.end_range(status, now);
        self.end_from = self.end_from.max(lo);
        self.end_before = match (self.end_before, hi) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self
    }
}

/// Every column of a [`CredentialRow`], in its field order: the SQL, and the name it is read by.
const FIELDS: [(&str, &str); 30] = [
    ("c.id", "id"),
    ("e.name", "environment"),
    ("c.environment_id", "environment_id"),
    ("e.portal_url", "portal_url"),
    ("c.application_id", "application_id"),
    ("a.object_id", "app_object_id"),
    ("a.app_id", "app_id"),
    ("a.display_name", "app_display_name"),
    ("c.kind", "kind"),
    ("c.key_id", "key_id"),
    ("c.display_name", "display_name"),
    ("c.hint", "hint"),
    ("c.start_at", "start_at"),
    ("c.end_at", "end_at"),
    ("c.first_seen_at", "first_seen_at"),
    (
        "CASE WHEN c.removed_at IS NULL THEN COALESCE(e.last_success_at, c.last_seen_at) ELSE c.last_seen_at END",
        "last_seen_at",
    ),
    ("c.removed_at", "removed_at"),
    ("a.source", "app_source"),
    ("a.tags", "app_tags"),
    ("a.notes", "app_notes"),
    ("a.owners", "app_owners"),
    // Usage (migrations/0009_usage.sql) through the `LEFT JOIN credential_usage u` of every
    // query of these columns ([`FROM`]).
    ("e.usage_read_at IS NOT NULL", "usage_read"),
    ("u.key_id IS NOT NULL", "usage_recorded"),
    ("u.last_sign_in_at", "last_used_at"),
    // Acknowledgements (migrations/0011_acknowledgements.sql), on the rows themselves.
    ("c.acknowledged_by", "acknowledged_by"),
    ("c.acknowledged_at", "acknowledged_at"),
    ("c.snoozed_until", "snoozed_until"),
    ("a.owner_disputed_by", "owner_disputed_by"),
    ("a.owner_disputed_at", "owner_disputed_at"),
    ("a.suggested_owner", "suggested_owner"),
];

/// Where the columns of [`FIELDS`] come from, after the credentials `c`.
const JOINS: &str = " JOIN applications a ON a.id = c.application_id JOIN environments e ON e.id = c.environment_id
     LEFT JOIN credential_usage u ON u.environment_id = c.environment_id AND u.key_id = lower(c.key_id)";

/// `SELECT` and the columns of a [`CredentialRow`]; `FROM` and the rest follow.
pub(super) static COLUMNS: LazyLock<String> = LazyLock::new(|| {
    let columns: Vec<String> = FIELDS.iter().map(|(sql, name)| format!("{sql} AS {name}")).collect();
    format!("SELECT {}", columns.join(", "))
});

/// The names of [`FIELDS`], comma-separated: a [`CredentialRow`] as a JSON array.
pub(super) static FIELD_NAMES: LazyLock<String> = LazyLock::new(|| FIELDS.iter().map(|(_, name)| *name).collect::<Vec<_>>().join(", "));

/// Every credential of the active environments with its application; filters follow as `AND`s.
/// (Searches start from [`push_selection`] instead.)
pub(super) static SELECT: LazyLock<String> = LazyLock::new(|| format!("{} FROM credentials c{JOINS} WHERE e.retired_at IS NULL", *COLUMNS));

/// Search terms of at least this many characters are served by the trigram indexes
/// (migrations/0008_search.sql); shorter ones cannot be.
pub const MIN_INDEXED_SEARCH_CHARS: usize = 3;

/// A shorter search term looks through at most this many credentials: those that end first
/// (in the environment searched, when there is one). A page can say so.
pub const SHORT_SEARCH_SCAN: i64 = 20_000;

/// Whether `term` is served by the trigram indexes, or by the bounded scan.
pub fn search_is_indexed(term: &str) -> bool {
    term.trim().chars().count() >= MIN_INDEXED_SEARCH_CHARS
}

/// Pushes, after the columns of a query, where the credentials `filter` selects come from and
/// the conditions on them. A search served by the index drives the query: the credentials it
/// hits are looked up one by one (few for a rare term; a common term still costs far less than
/// reading every row), instead of walking every credential and asking each whether it was hit.
pub(super) fn push_selection(q: &mut QueryBuilder<Sqlite>, filter: &CredentialFilter) {
    match filter.search.as_deref().map(str::trim).filter(|s| search_is_indexed(s)) {
        Some(term) => {
            // A phrase of the term, quoted as FTS5 quotes a string: the trigram tokenizer then
            // matches it as a substring, case folded, wherever it occurs in a column.
            let phrase = format!("\"{}\"", term.replace('"', "\"\""));
            q.push(
                " FROM (SELECT sc.id FROM credentials sc WHERE sc.application_id IN
                     (SELECT rowid FROM application_search WHERE application_search MATCH ",
            )
            .push_bind(phrase.clone())
            .push(") UNION SELECT rowid FROM credential_search WHERE credential_search MATCH ")
            .push_bind(phrase)
            .push(") hit CROSS JOIN credentials c ON c.id = hit.id");
        }
        None => {
            q.push(" FROM credentials c");
        }
    }
    q.push(JOINS).push(" WHERE e.retired_at IS NULL");
    push_filter(q, filter);
}

impl Store {
    /// Credentials matching `filter`, earliest end first.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "credentials"))]
    pub async fn credentials(&self, filter: &CredentialFilter) -> Result<Vec<Credential>, StoreError> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(COLUMNS.as_str());
        push_selection(&mut q, filter);
        q.push(" ORDER BY c.end_at, e.name, a.display_name, c.key_id");
        if let Some(limit) = filter.limit {
            q.push(" LIMIT ").push_bind(limit);
            q.push(" OFFSET ").push_bind(filter.offset.unwrap_or(0));
        }
        typed(q.build_query_as().fetch_all(&self.pool).await.context("reading credentials")?)
    }

    /// How many credentials match `filter` (ignoring its limit and offset).
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "count_credentials"))]
    pub async fn count_credentials(&self, filter: &CredentialFilter) -> Result<i64, StoreError> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT count(*)");
        push_selection(&mut q, filter);
        let (n,): (i64,) = q.build_query_as().fetch_one(&self.pool).await.context("counting credentials")?;
        Ok(n)
    }

    /// Up to `limit` live credentials' labels and ends, in store-id order after `after_id`:
    /// `/metrics` reads a large tenant in batches, holding neither all rows nor a connection
    /// while its client reads.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "live_expiries"))]
    pub async fn live_expiries(&self, after_id: i64, limit: i64) -> Result<Vec<Expiry>, StoreError> {
        let rows = sqlx::query_as::<_, ExpiryRow>(
            "SELECT c.id, e.name AS environment, a.app_id, a.display_name AS app_name, c.kind, c.key_id, c.end_at
             FROM credentials c JOIN applications a ON a.id = c.application_id JOIN environments e ON e.id = c.environment_id
             WHERE c.removed_at IS NULL AND e.retired_at IS NULL AND c.id > ? ORDER BY c.id LIMIT ?",
        )
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("reading expiries")?;
        rows.into_iter().map(Expiry::try_from).collect()
    }

    /// Every live credential of the given applications (store ids) with its last use: what both
    /// rotation awareness (by time) and rotation verdicts (by evidence) work from, in one read,
    /// since every page and answer that shows credentials asks.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "live_siblings_of"))]
    pub async fn live_siblings_of(&self, application_ids: &[i64]) -> Result<Vec<(Sibling, LastUse)>, StoreError> {
        const CTX: &str = "reading an application's credentials";
        let mut ids: Vec<i64> = application_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        // The ids as one bound JSON array (one statement whatever their number), and the rows
        // back as one JSON value (see [`rows_as_json`]).
        let (json,): (String,) = sqlx::query_as(
            "SELECT json_group_array(json_array(c.id, c.application_id, c.kind, c.key_id, c.display_name, c.start_at, c.end_at,
                    c.first_seen_at, e.usage_read_at IS NOT NULL, u.key_id IS NOT NULL, u.last_sign_in_at))
             FROM credentials c JOIN environments e ON e.id = c.environment_id
             LEFT JOIN credential_usage u ON u.environment_id = c.environment_id AND u.key_id = lower(c.key_id)
             WHERE c.removed_at IS NULL AND c.application_id IN (SELECT value FROM json_each(?))",
        )
        .bind(ids_json(&ids))
        .fetch_one(&self.pool)
        .await
        .context(CTX)?;
        rows_as_json::<SiblingRow>(&json, CTX)?
            .into_iter()
            .map(SiblingRow::into_pair)
            .collect()
    }

    /// Every live credential of the given applications (store ids), for rotation awareness.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "live_credentials_of"))]
    pub async fn live_credentials_of(&self, application_ids: &[i64]) -> Result<Vec<Sibling>, StoreError> {
        Ok(self.live_siblings_of(application_ids).await?.into_iter().map(|(s, _)| s).collect())
    }

    /// One credential by its store id.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "credential"))]
    pub async fn credential(&self, id: i64) -> Result<Credential, StoreError> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(SELECT.as_str());
        q.push(" AND c.id = ").push_bind(id);
        let row: CredentialRow = q.build_query_as().fetch_one(&self.pool).await.context("reading a credential")?;
        row.try_into()
    }
}

/// The conditions of `f` as `AND`s after a `WHERE`, for queries that join `c`, `a` and `e`
/// themselves. A search of [`MIN_INDEXED_SEARCH_CHARS`] or more is not among them: it chooses the
/// rows a query starts from ([`push_selection`]).
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
    if let Some(apps) = &f.application_ids {
        q.push(" AND c.application_id IN (SELECT value FROM json_each(")
            .push_bind(ids_json(apps))
            .push("))");
    }
    if let Some((end, id)) = f.through {
        q.push(" AND (c.end_at, c.id) <= (")
            .push_bind(end)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    if let Some(owner) = &f.owner {
        // Owners are stored as a JSON array (see `domain::Owner`).
        q.push(" AND EXISTS (SELECT 1 FROM json_each(a.owners) o WHERE json_extract(o.value, '$.mail') = ")
            .push_bind(owner.clone())
            .push(" COLLATE NOCASE OR json_extract(o.value, '$.user_principal_name') = ")
            .push_bind(owner.clone())
            .push(" COLLATE NOCASE)");
    }
    if let Some(s) = f
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty() && !search_is_indexed(s))
    {
        // Too short for the trigram index: LIKE (with our own escape character, so % and _ typed
        // by a user match literally) over the credentials that end first, a bounded number.
        let pattern = format!("%{}%", s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        q.push(" AND c.id IN (SELECT b.id FROM credentials b JOIN environments be ON be.id = b.environment_id WHERE b.removed_at IS NULL");
        if let Some(env) = &f.environment {
            q.push(" AND be.name = ").push_bind(env.clone());
        }
        q.push(" ORDER BY b.end_at, b.id LIMIT ").push_bind(SHORT_SEARCH_SCAN).push(")");
        q.push(" AND (a.display_name LIKE ").push_bind(pattern.clone()).push(" ESCAPE '\\'");
        q.push(" OR a.app_id LIKE ").push_bind(pattern.clone()).push(" ESCAPE '\\'");
        q.push(" OR c.display_name LIKE ").push_bind(pattern.clone()).push(" ESCAPE '\\'");
        q.push(" OR c.key_id LIKE ").push_bind(pattern).push(" ESCAPE '\\')");
    }
}

/// One credential a search hit, with what a page needs to filter, count and page the hits
/// without reading them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchHit {
    pub end_at: Timestamp,
    pub id: i64,
    pub kind: CredentialKind,
}

#[derive(sqlx::FromRow)]
struct SearchHitRow {
    end_at: Timestamp,
    id: i64,
    kind: String,
}

impl Store {
    /// Every live credential of `environment_id` that `term` (at least
    /// [`MIN_INDEXED_SEARCH_CHARS`] long) hits, in `(end_at, id)` order. One pass over the hits,
    /// which a page can keep while the data stays as it is, then filter, count and page in
    /// memory, reading only the rows it shows ([`Store::credentials_by_id`]).
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "search_hits"))]
    pub async fn search_hits(&self, environment_id: i64, term: &str) -> Result<Vec<SearchHit>, StoreError> {
        let filter = CredentialFilter {
            search: Some(term.to_string()),
            ..Default::default()
        };
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT c.end_at, c.id, c.kind");
        push_selection(&mut q, &filter);
        q.push(" AND c.environment_id = ").push_bind(environment_id);
        q.push(" ORDER BY c.end_at, c.id");
        let rows: Vec<SearchHitRow> = q.build_query_as().fetch_all(&self.pool).await.context("searching credentials")?;
        rows.into_iter()
            .map(|r| {
                Ok(SearchHit {
                    kind: At {
                        table: "credentials",
                        id: r.id,
                    }
                    .kind("kind", &r.kind)?,
                    end_at: r.end_at,
                    id: r.id,
                })
            })
            .collect()
    }

    /// The credentials with these store ids, in the order given (ids no longer there are left
    /// out).
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "credentials_by_id"))]
    pub async fn credentials_by_id(&self, ids: &[i64]) -> Result<Vec<Credential>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        const CTX: &str = "reading credentials";
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT json_group_array(json_array(");
        q.push(FIELD_NAMES.as_str()).push(")) FROM (").push(SELECT.as_str());
        q.push(" AND c.id IN (SELECT value FROM json_each(")
            .push_bind(ids_json(ids))
            .push(")))");
        let (json,): (String,) = q.build_query_as().fetch_one(&self.pool).await.context(CTX)?;
        let mut rows = typed(rows_as_json(&json, CTX)?)?;
        let at: std::collections::HashMap<i64, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        rows.sort_by_key(|c| at.get(&c.id).copied().unwrap_or(usize::MAX));
        Ok(rows)
    }
}
