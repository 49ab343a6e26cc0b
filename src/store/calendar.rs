//! What the calendar feed asks of the store besides credentials: a version of the stored data
//! that every process's sync changes, and how many credentials end on each day.

use super::credentials::push_filter;
use super::{Context, CredentialFilter, Store, StoreError};
use crate::domain::Timestamp;
use sqlx::{QueryBuilder, Sqlite};

/// How many credentials of one environment end on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DayCount {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    pub environment: String,
    pub count: i64,
    /// The earliest and latest end of that day.
    pub first_end: Timestamp,
    pub last_end: Timestamp,
}

impl Store {
    /// Changes whenever what the feed shows may have changed, in this process or another: each
    /// environment's digest of its last applied listing and owners (a sync that changes nothing
    /// writes nothing), whether it is retired, and its portal. A handful of rows, read in
    /// microseconds, so a conditional request costs no rendering.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "feed_version"))]
    pub async fn feed_version(&self) -> Result<String, StoreError> {
        let (v,): (Option<String>,) = sqlx::query_as(
            "SELECT group_concat(v, ',') FROM (SELECT id || ':' || name || ':' || COALESCE(listing_digest, '-') || ':'
                || COALESCE(owners_digest, '-') || ':' || COALESCE(retired_at, '-') || ':' || portal_url AS v
             FROM environments ORDER BY id)",
        )
        .fetch_one(&self.pool)
        .await
        .context("reading the data version")?;
        Ok(v.unwrap_or_default())
    }

    /// Per UTC day and environment, the credentials matching `filter` (its limit and offset
    /// ignored) that end after 1970, by day then environment.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "feed_days"))]
    pub async fn feed_days(&self, filter: &CredentialFilter) -> Result<Vec<DayCount>, StoreError> {
        let mut inner = filter.clone();
        inner.limit = None;
        inner.offset = None;
        // CROSS JOIN keeps environments the outer loop, so the count is read from the
        // (environment_id, end_at) index alone: at 200,000 credentials a tenth of the time of
        // visiting each credential's row. Applications are joined only when a filter asks.
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT c.end_at / ");
        q.push(Timestamp::TICKS_PER_DAY).push(
            " AS day, e.name AS environment, count(*) AS count, min(c.end_at) AS first_end, max(c.end_at) AS last_end
             FROM environments e CROSS JOIN credentials c ON c.environment_id = e.id",
        );
        if inner.owner.is_some() || inner.search.is_some() {
            q.push(" JOIN applications a ON a.id = c.application_id");
        }
        q.push(" WHERE e.retired_at IS NULL AND c.end_at >= 0");
        push_filter(&mut q, &inner);
        q.push(" GROUP BY e.id, day ORDER BY day, e.name");
        q.build_query_as()
            .fetch_all(&self.pool)
            .await
            .context("counting credentials per day")
    }
}
