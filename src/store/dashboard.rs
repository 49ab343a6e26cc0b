//! Read queries of the web side beyond the shared credential query: the state of each
//! environment's syncs, counts by status, expiries per month, the monitor's own credentials and
//! single applications. Everything here is answered from indexes or small tables, except the
//! counts and the chart, which scan the live credentials once (the web side caches them).

use super::credentials::{CredentialRow, SELECT, SiblingRow, typed};
use super::rows::At;
use super::{Context, CredentialFilter, Store, StoreError};
use crate::domain::{Application, Credential, LastUse, Sibling, Status, Thresholds, Timestamp};
use sqlx::{QueryBuilder, Sqlite};

/// An environment with what its syncs say about it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EnvironmentState {
    pub id: i64,
    pub name: String,
    pub tenant_id: String,
    pub client_id: String,
    pub portal_url: String,
    /// The latest run that finished (success, failed or interrupted).
    pub last_run_id: Option<i64>,
    pub last_run_started_at: Option<Timestamp>,
    pub last_run_finished_at: Option<Timestamp>,
    pub last_run_outcome: Option<String>,
    pub last_run_error: Option<String>,
    /// The latest successful run: when it finished and what the complete listing held.
    pub last_success_at: Option<Timestamp>,
    pub applications: i64,
    pub credentials: i64,
    /// A run is in progress right now.
    pub running: bool,
    /// Failed runs ever recorded (the metric `credwatch_sync_failures_total`).
    pub failures: i64,
    /// The last attempt to read usage: `ok`, `no_permission`, `no_license`, `unavailable`, or
    /// `None` before the first.
    pub usage_status: Option<String>,
    /// The last complete read of usage: how old the values shown are.
    pub usage_read_at: Option<Timestamp>,
    /// What the last failed attempt to read usage answered.
    pub usage_error: Option<String>,
}

/// Live credentials of one environment by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub expired: i64,
    pub critical: i64,
    pub warning: i64,
    pub ok: i64,
}

impl StatusCounts {
    pub fn get(&self, status: Status) -> i64 {
        match status {
            Status::Expired => self.expired,
            Status::Critical => self.critical,
            Status::Warning => self.warning,
            Status::Ok => self.ok,
        }
    }

    pub fn total(&self) -> i64 {
        self.expired + self.critical + self.warning + self.ok
    }

    /// Expired, critical and warning together.
    pub fn needing_action(&self) -> i64 {
        self.expired + self.critical + self.warning
    }
}

/// Live credentials of one environment ending in one calendar month (UTC).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MonthCount {
    pub environment: String,
    /// Months since year 0: `year * 12 + month - 1`.
    pub month: i64,
    pub count: i64,
}

/// A row of [`Store::application`], as stored; read into an [`Application`] at once.
#[derive(sqlx::FromRow)]
struct ApplicationRow {
    id: i64,
    environment_id: i64,
    object_id: String,
    app_id: String,
    display_name: Option<String>,
    first_seen_at: Timestamp,
    last_seen_at: Timestamp,
    removed_at: Option<Timestamp>,
    source: String,
    tags: String,
    notes: Option<String>,
    owners: Option<String>,
}

impl TryFrom<ApplicationRow> for Application {
    type Error = StoreError;

    fn try_from(r: ApplicationRow) -> Result<Application, StoreError> {
        let at = At {
            table: "applications",
            id: r.id,
        };
        Ok(Application {
            source: at.source("source", &r.source)?,
            tags: at.tags("tags", &r.tags)?,
            owners: at.owners("owners", r.owners.as_deref())?,
            id: r.id,
            environment_id: r.environment_id,
            object_id: r.object_id,
            app_id: r.app_id,
            display_name: r.display_name,
            first_seen_at: r.first_seen_at,
            last_seen_at: r.last_seen_at,
            removed_at: r.removed_at,
            notes: r.notes,
        })
    }
}

impl Store {
    /// Every active environment with its latest runs, by name. Cheap: the run subqueries walk
    /// the `(environment_id, id)` index backwards.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "environment_states"))]
    pub async fn environment_states(&self) -> Result<Vec<EnvironmentState>, StoreError> {
        sqlx::query_as::<_, EnvironmentState>(
            "SELECT e.id, e.name, e.tenant_id, e.client_id, e.portal_url,
                    r.id AS last_run_id, r.started_at AS last_run_started_at, r.finished_at AS last_run_finished_at,
                    r.outcome AS last_run_outcome, r.error AS last_run_error,
                    s.finished_at AS last_success_at, COALESCE(s.applications, 0) AS applications,
                    COALESCE(s.credentials, 0) AS credentials,
                    EXISTS (SELECT 1 FROM sync_runs x WHERE x.environment_id = e.id AND x.outcome = 'running') AS running,
                    (SELECT count(*) FROM sync_runs f WHERE f.environment_id = e.id AND f.outcome = 'failed') AS failures,
                    e.usage_status, e.usage_read_at, e.usage_error
             FROM environments e
             LEFT JOIN sync_runs r ON r.id = (SELECT id FROM sync_runs WHERE environment_id = e.id AND outcome <> 'running' ORDER BY id DESC LIMIT 1)
             LEFT JOIN sync_runs s ON s.id = (SELECT id FROM sync_runs WHERE environment_id = e.id AND outcome = 'success' ORDER BY id DESC LIMIT 1)
             WHERE e.retired_at IS NULL
             ORDER BY e.name",
        )
        .fetch_all(&self.pool)
        .await
        .context("reading the state of environments")
    }

    /// Live credentials by environment id and status at `now`. Each figure is a range count over
    /// the `(environment_id, end_at)` partial index, never a table scan.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "status_counts"))]
    pub async fn status_counts(&self, thresholds: &Thresholds, now: Timestamp) -> Result<Vec<(i64, StatusCounts)>, StoreError> {
        let [b1, b2, b3] = thresholds.bounds(now);
        let rows: Vec<(i64, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT e.id,
               (SELECT count(*) FROM credentials c WHERE c.environment_id = e.id AND c.removed_at IS NULL AND c.end_at < ?1),
               (SELECT count(*) FROM credentials c WHERE c.environment_id = e.id AND c.removed_at IS NULL AND c.end_at >= ?1 AND c.end_at < ?2),
               (SELECT count(*) FROM credentials c WHERE c.environment_id = e.id AND c.removed_at IS NULL AND c.end_at >= ?2 AND c.end_at < ?3),
               (SELECT count(*) FROM credentials c WHERE c.environment_id = e.id AND c.removed_at IS NULL AND c.end_at >= ?3)
             FROM environments e WHERE e.retired_at IS NULL",
        )
        .bind(b1)
        .bind(b2)
        .bind(b3)
        .fetch_all(&self.pool)
        .await
        .context("counting credentials by status")?;
        Ok(rows
            .into_iter()
            .map(|(env, expired, critical, warning, ok)| {
                (
                    env,
                    StatusCounts {
                        expired,
                        critical,
                        warning,
                        ok,
                    },
                )
            })
            .collect())
    }

    /// Live credentials per environment ending in each of `months`: `(month, from, before)`.
    /// Range counts over the index, so 24 months of a large tenant stay cheap (grouping by
    /// `strftime` would compute a date for every credential).
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "expiries_by_month"))]
    pub async fn expiries_by_month(&self, months: &[(i64, Timestamp, Timestamp)]) -> Result<Vec<MonthCount>, StoreError> {
        if months.is_empty() {
            return Ok(Vec::new());
        }
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("WITH m(month, lo, hi) AS (");
        for (i, (month, lo, hi)) in months.iter().enumerate() {
            q.push(if i == 0 { "SELECT " } else { " UNION ALL SELECT " });
            q.push_bind(*month).push(", ").push_bind(*lo).push(", ").push_bind(*hi);
        }
        q.push(
            ") SELECT e.name AS environment, m.month AS month,
                 (SELECT count(*) FROM credentials c WHERE c.environment_id = e.id AND c.removed_at IS NULL AND c.end_at >= m.lo AND c.end_at < m.hi) AS count
               FROM environments e CROSS JOIN m WHERE e.retired_at IS NULL ORDER BY m.month, e.name",
        );
        let rows: Vec<MonthCount> = q
            .build_query_as()
            .fetch_all(&self.pool)
            .await
            .context("counting expiries per month")?;
        Ok(rows.into_iter().filter(|r| r.count > 0).collect())
    }

    /// The live credentials of credwatch's own app registration in each environment (the
    /// applications whose appId is the environment's client_id), earliest end first.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "own_credentials"))]
    pub async fn own_credentials(&self) -> Result<Vec<Credential>, StoreError> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(SELECT.as_str());
        // From the environments to their own application by the appId index, then its credentials;
        // left to itself the planner walks every credential in end order instead.
        q.push(
            " AND c.removed_at IS NULL AND c.application_id IN
               (SELECT oa.id FROM environments oe CROSS JOIN applications oa WHERE oa.app_id = oe.client_id AND oa.environment_id = oe.id)
             ORDER BY c.end_at, e.name",
        );
        typed(
            q.build_query_as()
                .fetch_all(&self.pool)
                .await
                .context("reading credwatch's own credentials")?,
        )
    }

    /// Environments (by id) where credwatch's own application is among the listed ones.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "environments_listing_themselves"))]
    pub async fn environments_listing_themselves(&self) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT e.id FROM environments e WHERE EXISTS
               (SELECT 1 FROM applications a WHERE a.app_id = e.client_id AND a.environment_id = e.id AND a.removed_at IS NULL)",
        )
        .fetch_all(&self.pool)
        .await
        .context("finding credwatch's own applications")?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// One application of an environment by object id, removed or not.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "application"))]
    pub async fn application(&self, environment_id: i64, object_id: &str) -> Result<Application, StoreError> {
        sqlx::query_as::<_, ApplicationRow>(
            // A live application was last seen at its environment's last success (the sync does not
            // rewrite unchanged rows); a removed one by the last listing that had it.
            "SELECT a.id, a.environment_id, a.object_id, a.app_id, a.display_name, a.first_seen_at,
                    CASE WHEN a.removed_at IS NULL THEN COALESCE(e.last_success_at, a.last_seen_at) ELSE a.last_seen_at END AS last_seen_at,
                    a.removed_at, a.source, a.tags, a.notes, a.owners
             FROM applications a JOIN environments e ON e.id = a.environment_id WHERE a.environment_id = ? AND a.object_id = ?",
        )
        .bind(environment_id)
        .bind(object_id)
        .fetch_one(&self.pool)
        .await
        .context("reading an application")?
        .try_into()
    }

    /// Reminders the mail server accepted, ever (the metric `credwatch_reminders_sent_total`).
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "reminders_sent"))]
    pub async fn reminders_sent(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM reminders WHERE outcome = 'sent'")
            .fetch_one(&self.pool)
            .await
            .context("counting reminders sent")?;
        Ok(n)
    }

    /// Like [`Store::count_credentials`], but stops counting at `cap`: a page can say "10,000+"
    /// without scanning a whole tenant for a free-text search.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "count_credentials_capped"))]
    pub async fn count_credentials_capped(&self, filter: &CredentialFilter, cap: i64) -> Result<i64, StoreError> {
        let mut inner = filter.clone();
        inner.limit = Some(cap);
        inner.offset = None;
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT count(*) FROM (");
        q.push("SELECT 1");
        super::credentials::push_selection(&mut q, &inner);
        q.push(" LIMIT ").push_bind(cap).push(")");
        let (n,): (i64,) = q.build_query_as().fetch_one(&self.pool).await.context("counting credentials")?;
        Ok(n)
    }
}

/// Where a page of credentials starts or ends: the `(end_at, id)` of a row. Pages ordered by
/// `(end_at, id)` follow the `(environment_id, end_at)` index (whose entries end in the rowid), so
/// page 4,000 costs what page 1 does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    After(Timestamp, i64),
    Before(Timestamp, i64),
}

impl Store {
    /// Up to `limit` credentials matching `filter` (its own limit and offset ignored) in
    /// `(end_at, id)` order, after or before `cursor`, or from `offset` without one.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "credentials_page"))]
    pub async fn credentials_page(
        &self,
        filter: &CredentialFilter,
        cursor: Option<Cursor>,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<Credential>, StoreError> {
        const CTX: &str = "reading a page of credentials";
        let mut q = page_query(filter, cursor, offset, limit, false);
        let (json,): (String,) = q.build_query_as().fetch_one(&self.pool).await.context(CTX)?;
        let rows: Vec<CredentialRow> = super::credentials::rows_as_json(&json, CTX)?;
        let mut rows = typed(rows)?;
        let key = |c: &Credential| (c.end_at, c.id);
        if !rows.is_sorted_by_key(key) {
            rows.sort_unstable_by_key(key);
        }
        Ok(rows)
    }

    /// Up to `limit` credentials matching `filter` in `(end_at, id)` order after the key `after`
    /// (when given), each with its *newer* siblings: the live
    /// credentials of the same application and kind that appeared after it, with their last
    /// use. That is all rotation awareness asks of a credential's siblings (see
    /// [`crate::domain::rotation_of`]), read in the same statement: the big answers need no
    /// second read of every application's credentials per batch.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "credentials_page_with_newer"))]
    pub async fn credentials_page_with_newer(
        &self,
        filter: &CredentialFilter,
        after: Option<(Timestamp, i64)>,
        limit: i64,
    ) -> Result<Vec<WithNewer>, StoreError> {
        read_with_newer(&self.pool, filter, after, limit).await
    }
}

/// [`Store::credentials_page_with_newer`], on any connection (the answers' rebuild reads inside
/// its write transaction).
pub(super) async fn read_with_newer<'e>(
    on: impl sqlx::SqliteExecutor<'e>,
    filter: &CredentialFilter,
    after: Option<(Timestamp, i64)>,
    limit: i64,
) -> Result<Vec<WithNewer>, StoreError> {
    const CTX: &str = "reading a page of credentials";
    let mut q = page_query(filter, after.map(|(end, id)| Cursor::After(end, id)), 0, limit, true);
    let (json,): (String,) = q.build_query_as().fetch_one(on).await.context(CTX)?;
    let rows: Vec<(CredentialRow, Vec<SiblingRow>)> = super::credentials::rows_as_json(&json, CTX)?;
    let mut rows = rows
        .into_iter()
        .map(|(c, newer)| {
            Ok(WithNewer {
                credential: Credential::try_from(c)?,
                newer: newer.into_iter().map(SiblingRow::into_pair).collect::<Result<_, _>>()?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let key = |r: &WithNewer| (r.credential.end_at, r.credential.id);
    if !rows.is_sorted_by_key(key) {
        rows.sort_unstable_by_key(key);
    }
    Ok(rows)
}

impl Store {
    /// The `(end_at, id)` of the `n`th credential matching `filter` after `after` (`n` from 1),
    /// if there are that many: where a batch's second half starts, so that both halves can be
    /// read at once.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "nth_key_after"))]
    pub async fn nth_key_after(
        &self,
        filter: &CredentialFilter,
        after: (Timestamp, i64),
        n: i64,
    ) -> Result<Option<(Timestamp, i64)>, StoreError> {
        let mut inner = filter.clone();
        inner.limit = None;
        inner.offset = None;
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT c.end_at, c.id");
        super::credentials::push_selection(&mut q, &inner);
        q.push(" AND (c.end_at, c.id) > (")
            .push_bind(after.0)
            .push(", ")
            .push_bind(after.1)
            .push(")");
        q.push(" ORDER BY c.end_at, c.id LIMIT 1 OFFSET ").push_bind(n - 1);
        q.build_query_as()
            .fetch_optional(&self.pool)
            .await
            .context("reading a page of credentials")
    }
}

/// A credential with its newer siblings and their last use (see
/// [`Store::credentials_page_with_newer`]).
#[derive(Debug, Clone)]
pub struct WithNewer {
    pub credential: Credential,
    pub newer: Vec<(Sibling, LastUse)>,
}

/// The statement of a page: its rows as one JSON array (see [`super::credentials::rows_as_json`]),
/// each row the [`super::credentials::FIELDS`] in order, or, `with_newer`, a pair of those and
/// the row's newer siblings as [`SiblingRow`]s.
fn page_query(filter: &CredentialFilter, cursor: Option<Cursor>, offset: i64, limit: i64, with_newer: bool) -> QueryBuilder<Sqlite> {
    let mut inner = filter.clone();
    inner.limit = None;
    inner.offset = None;
    // The batch crosses from SQLite's thread as one JSON array of rows, not row by row:
    // handing rows over one at a time costs more than reading them (a wake-up each).
    let order = match cursor {
        Some(Cursor::Before(..)) => "c.end_at DESC, c.id DESC",
        Some(Cursor::After(..)) | None => "c.end_at, c.id",
    };
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT json_group_array(");
    // In the subquery's order, as SQLite aggregates it (checked by the callers: an ORDER BY
    // inside the aggregate would sort again what the index already ordered).
    if with_newer {
        // json(): the subquery's column loses its JSON subtype, and would nest as a string.
        q.push("json_array(json_array(")
            .push(super::credentials::FIELD_NAMES.as_str())
            .push("), json(newer))) FROM (")
            .push(super::credentials::COLUMNS.as_str())
            .push(", ")
            .push(NEWER_SIBLINGS);
    } else {
        q.push("json_array(")
            .push(super::credentials::FIELD_NAMES.as_str())
            .push(")) FROM (")
            .push(super::credentials::COLUMNS.as_str());
    }
    super::credentials::push_selection(&mut q, &inner);
    match cursor {
        Some(Cursor::After(end, id)) => {
            q.push(" AND (c.end_at, c.id) > (")
                .push_bind(end)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        Some(Cursor::Before(end, id)) => {
            q.push(" AND (c.end_at, c.id) < (")
                .push_bind(end)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        None => {}
    }
    q.push(" ORDER BY ").push(order);
    q.push(" LIMIT ").push_bind(limit);
    if cursor.is_none() {
        q.push(" OFFSET ").push_bind(offset.max(0));
    }
    q.push(")");
    q
}

/// The newer siblings of the row `c` (of environment `e`) as a JSON array of [`SiblingRow`]s:
/// live, same application and kind, appeared (started, or first seen) after it. Found through
/// the `(application_id, kind, key_id)` key: a handful of rows per credential.
const NEWER_SIBLINGS: &str = "(SELECT json_group_array(json_array(n.id, n.application_id, n.kind, n.key_id, n.display_name, n.start_at,
        n.end_at, n.first_seen_at, e.usage_read_at IS NOT NULL, nu.key_id IS NOT NULL, nu.last_sign_in_at))
     FROM credentials n
     LEFT JOIN credential_usage nu ON nu.environment_id = n.environment_id AND nu.key_id = lower(n.key_id)
     WHERE n.application_id = c.application_id AND n.kind = c.kind AND n.removed_at IS NULL
       AND COALESCE(n.start_at, n.first_seen_at) > COALESCE(c.start_at, c.first_seen_at)) AS newer";
