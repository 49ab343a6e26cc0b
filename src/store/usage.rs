//! Credential usage as the sign-in activity reports gave it: replaced per environment by each
//! complete read, and the state of the last attempt. A failed attempt records only its status,
//! so the last values read stay (with their age) until a read succeeds again.

use super::credentials::{SELECT, typed};
use super::digest::Fields;
use super::write::WriteTx;
use super::{Context, Store, StoreError};
use crate::domain::{Credential, Status, Thresholds, Timestamp, Usage, UsageReport, UsageStatus, UsedSibling};

/// Rows written per statement: SQLite allows 32,766 bound values, a row binds at most 6.
const ROWS_PER_INSERT: usize = 1_000;

/// A stored application's usage.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ApplicationUsage {
    pub last_sign_in_at: Option<Timestamp>,
    pub client_sign_in_at: Option<Timestamp>,
    pub read_at: Timestamp,
}

impl Store {
    /// When usage of the environment was last attempted, if ever: the cadence counts from it.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "usage_checked_at"))]
    pub async fn usage_checked_at(&self, environment_id: i64) -> Result<Option<Timestamp>, StoreError> {
        let (at,): (Option<Timestamp>,) = sqlx::query_as("SELECT usage_checked_at FROM environments WHERE id = ?")
            .bind(environment_id)
            .fetch_one(&self.pool)
            .await
            .context("reading when usage was last read")?;
        Ok(at)
    }

    /// Replaces the environment's usage with a complete read, in one transaction, and marks
    /// usage read (`ok`) at `read_at`. A report the same as the last one written (by its digest,
    /// after a good read) is only confirmed.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "record_usage", credentials = report.credentials.len()))]
    pub async fn record_usage(&self, environment_id: i64, report: &UsageReport, read_at: Timestamp) -> Result<UsageWrite, StoreError> {
        let _write = self.write_lock.lock().await;
        let mut tx = WriteTx::begin(&self.pool, "recording usage").await?;
        const CTX: &str = "recording usage";
        let digest = report_digest(report);
        let (last_digest, status): (Option<String>, Option<String>) =
            sqlx::query_as("SELECT usage_digest, usage_status FROM environments WHERE id = ?")
                .bind(environment_id)
                .fetch_one(&mut *tx)
                .await
                .context(CTX)?;
        let write = if last_digest.as_deref() == Some(digest.as_str()) && status.as_deref() == Some("ok") {
            UsageWrite::Unchanged
        } else {
            write_usage(&mut tx, environment_id, report, read_at).await?;
            UsageWrite::Written
        };
        sqlx::query(
            "UPDATE environments SET usage_status = 'ok', usage_read_at = ?, usage_checked_at = ?, usage_error = NULL, usage_digest = ?
             WHERE id = ?",
        )
        .bind(read_at)
        .bind(read_at)
        .bind(&digest)
        .bind(environment_id)
        .execute(&mut *tx)
        .await
        .context(CTX)?;
        tx.commit(CTX).await?;
        self.bump_generation();
        Ok(write)
    }

    /// Records a failed attempt: its status and what Graph answered. The values last read stay.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "record_usage_failure"))]
    pub async fn record_usage_failure(
        &self,
        environment_id: i64,
        status: UsageStatus,
        error: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE environments SET usage_status = ?, usage_checked_at = ?, usage_error = ? WHERE id = ?")
            .bind(status.as_str())
            .bind(at)
            .bind(error)
            .bind(environment_id)
            .execute(&self.pool)
            .await
            .context("recording a failed usage read")?;
        self.bump_generation();
        Ok(())
    }

    /// An application's usage, if the last complete read had a row for it.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "application_usage"))]
    pub async fn application_usage(&self, environment_id: i64, app_id: &str) -> Result<Option<ApplicationUsage>, StoreError> {
        sqlx::query_as::<_, ApplicationUsage>(
            // Read as of the environment's last complete read: the row's own `read_at` is when its
            // values were first read.
            "SELECT u.last_sign_in_at, u.client_sign_in_at, e.usage_read_at AS read_at
             FROM application_usage u JOIN environments e ON e.id = u.environment_id
             WHERE u.environment_id = ? AND u.app_id = lower(?)",
        )
        .bind(environment_id)
        .bind(app_id)
        .fetch_optional(&self.pool)
        .await
        .context("reading an application's usage")
    }

    /// The live applications of environments whose usage was read that had no sign-in at all in
    /// the last read: (environment id, application store id).
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "applications_never_signed_in"))]
    pub async fn applications_never_signed_in(&self) -> Result<Vec<(i64, i64)>, StoreError> {
        sqlx::query_as(
            "SELECT a.environment_id, a.id FROM applications a JOIN environments e ON e.id = a.environment_id
             WHERE e.retired_at IS NULL AND e.usage_read_at IS NOT NULL AND a.removed_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM application_usage u WHERE u.environment_id = a.environment_id AND u.app_id = lower(a.app_id)
                               AND (u.last_sign_in_at IS NOT NULL OR u.client_sign_in_at IS NOT NULL))",
        )
        .fetch_all(&self.pool)
        .await
        .context("finding applications never signed in")
    }
}

/// What [`Store::record_usage`] did with a complete read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageWrite {
    /// What changed was written.
    Written,
    /// The same reports as the last ones written: only confirmed.
    Unchanged,
}

/// Stages the reports and writes what differs from the stored usage (inserts, changes, and rows
/// the reports no longer have).
async fn write_usage(tx: &mut WriteTx, environment_id: i64, report: &UsageReport, read_at: Timestamp) -> Result<(), StoreError> {
    const CTX: &str = "recording usage";
    // The report is staged, then only what changed is written: at 200,000 credentials,
    // rewriting every row on every read cost seconds of writes for nothing. A row's
    // `read_at` says when its values were first read; the environment's `usage_read_at`
    // when all of them were last confirmed.
    for sql in [
        "CREATE TEMP TABLE IF NOT EXISTS stage_credential_usage
           (key_id TEXT PRIMARY KEY, app_id TEXT NOT NULL, last_sign_in_at INTEGER, resource_id TEXT) WITHOUT ROWID",
        "CREATE TEMP TABLE IF NOT EXISTS stage_application_usage
           (app_id TEXT PRIMARY KEY, last_sign_in_at INTEGER, client_sign_in_at INTEGER) WITHOUT ROWID",
        "DELETE FROM temp.stage_credential_usage",
        "DELETE FROM temp.stage_application_usage",
    ] {
        sqlx::query(sql).execute(&mut **tx).await.context(CTX)?;
    }
    for rows in report.credentials.chunks(ROWS_PER_INSERT) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO temp.stage_credential_usage (key_id, app_id, last_sign_in_at, resource_id) ",
        );
        q.push_values(rows, |mut b, r| {
            b.push_bind(&r.key_id)
                .push_bind(&r.app_id)
                .push_bind(r.last_sign_in)
                .push_bind(&r.resource_id);
        });
        // A key listed twice keeps its latest sign-in.
        q.push(
            " ON CONFLICT (key_id) DO UPDATE SET
                last_sign_in_at = max(COALESCE(last_sign_in_at, excluded.last_sign_in_at), COALESCE(excluded.last_sign_in_at, last_sign_in_at)),
                resource_id = COALESCE(excluded.resource_id, resource_id)",
        );
        q.build().execute(&mut **tx).await.context(CTX)?;
    }
    for rows in report.applications.chunks(ROWS_PER_INSERT) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO temp.stage_application_usage (app_id, last_sign_in_at, client_sign_in_at) ",
        );
        q.push_values(rows, |mut b, r| {
            b.push_bind(&r.app_id).push_bind(r.last_sign_in).push_bind(r.client_sign_in);
        });
        q.push(" ON CONFLICT (app_id) DO NOTHING");
        q.build().execute(&mut **tx).await.context(CTX)?;
    }
    // The stored answers (migrations/0017_answer_rows.sql) of the credentials whose last use
    // changes, or that gain or lose one, are stale (a new mark, even if one was there). Not on
    // the first read: setting usage_read_at marks every application of the environment anyway.
    sqlx::query(
        "INSERT OR REPLACE INTO answer_rows_stale (application_id)
         SELECT DISTINCT c.application_id FROM credentials c
         WHERE c.environment_id = ?1 AND c.removed_at IS NULL
           AND (SELECT usage_read_at FROM environments WHERE id = ?1) IS NOT NULL
           AND lower(c.key_id) IN (
             SELECT u.key_id FROM credential_usage u WHERE u.environment_id = ?1
               AND u.key_id NOT IN (SELECT key_id FROM temp.stage_credential_usage)
             UNION ALL
             SELECT s.key_id FROM temp.stage_credential_usage s
             LEFT JOIN credential_usage u ON u.environment_id = ?1 AND u.key_id = s.key_id
             WHERE u.key_id IS NULL OR u.last_sign_in_at IS NOT s.last_sign_in_at)",
    )
    .bind(environment_id)
    .execute(&mut **tx)
    .await
    .context(CTX)?;
    // ?1 the environment, ?2 when read (inserts and changed rows only).
    for (sql, with_read_at) in [
        (
            "DELETE FROM credential_usage WHERE environment_id = ?1
               AND key_id NOT IN (SELECT key_id FROM temp.stage_credential_usage)",
            false,
        ),
        (
            "INSERT INTO credential_usage (environment_id, key_id, app_id, last_sign_in_at, resource_id, read_at)
             SELECT ?1, key_id, app_id, last_sign_in_at, resource_id, ?2 FROM temp.stage_credential_usage WHERE true
             ON CONFLICT (environment_id, key_id) DO UPDATE SET
               app_id = excluded.app_id, last_sign_in_at = excluded.last_sign_in_at, resource_id = excluded.resource_id, read_at = excluded.read_at
             WHERE app_id IS NOT excluded.app_id OR last_sign_in_at IS NOT excluded.last_sign_in_at OR resource_id IS NOT excluded.resource_id",
            true,
        ),
        (
            "DELETE FROM application_usage WHERE environment_id = ?1
               AND app_id NOT IN (SELECT app_id FROM temp.stage_application_usage)",
            false,
        ),
        (
            "INSERT INTO application_usage (environment_id, app_id, last_sign_in_at, client_sign_in_at, read_at)
             SELECT ?1, app_id, last_sign_in_at, client_sign_in_at, ?2 FROM temp.stage_application_usage WHERE true
             ON CONFLICT (environment_id, app_id) DO UPDATE SET
               last_sign_in_at = excluded.last_sign_in_at, client_sign_in_at = excluded.client_sign_in_at, read_at = excluded.read_at
             WHERE last_sign_in_at IS NOT excluded.last_sign_in_at OR client_sign_in_at IS NOT excluded.client_sign_in_at",
            true,
        ),
    ] {
        let q = sqlx::query(sql).bind(environment_id);
        let q = if with_read_at { q.bind(read_at) } else { q };
        q.execute(&mut **tx).await.context(CTX)?;
    }
    for sql in [
        "DELETE FROM temp.stage_credential_usage",
        "DELETE FROM temp.stage_application_usage",
    ] {
        sqlx::query(sql).execute(&mut **tx).await.context(CTX)?;
    }
    Ok(())
}

/// A digest of both reports' rows in order (see [`Fields`]): equal only for the same rows in the
/// same order.
fn report_digest(report: &UsageReport) -> String {
    let mut f = Fields::new();
    let ticks = |t: Option<Timestamp>| t.map(|t| t.ticks().to_le_bytes().to_vec()).unwrap_or_default();
    for r in &report.credentials {
        f.add(r.key_id.as_bytes());
        f.add(r.app_id.as_bytes());
        f.add(&ticks(r.last_sign_in));
        f.add(&[u8::from(r.resource_id.is_some())]);
        f.add(r.resource_id.as_deref().unwrap_or_default().as_bytes());
    }
    f.add(b"applications");
    for r in &report.applications {
        f.add(r.app_id.as_bytes());
        f.add(&ticks(r.last_sign_in));
        f.add(&ticks(r.client_sign_in));
    }
    format!("{:032x}", f.finish())
}

/// Live credentials of one environment with one status and one usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageCount {
    pub environment_id: i64,
    pub status: Status,
    pub usage: Usage,
    pub count: i64,
}

impl Store {
    /// Live credentials by environment, status and usage at `now`: the classification of
    /// [`Usage::classify`] and [`crate::domain::Thresholds::status`] in one scan.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "usage_counts"))]
    pub async fn usage_counts(&self, thresholds: &Thresholds, active_days: i64, now: Timestamp) -> Result<Vec<UsageCount>, StoreError> {
        let [expired, critical, warning] = thresholds.bounds(now);
        let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT c.environment_id,
                    CASE WHEN c.end_at < ?1 THEN 0 WHEN c.end_at < ?2 THEN 1 WHEN c.end_at < ?3 THEN 2 ELSE 3 END AS status,
                    CASE WHEN e.usage_read_at IS NULL THEN 2
                         WHEN u.key_id IS NULL THEN 1
                         WHEN u.last_sign_in_at IS NULL THEN 2
                         WHEN u.last_sign_in_at >= ?4 THEN 0 ELSE 1 END AS usage,
                    count(*)
             FROM credentials c JOIN environments e ON e.id = c.environment_id
             LEFT JOIN credential_usage u ON u.environment_id = c.environment_id AND u.key_id = lower(c.key_id)
             WHERE c.removed_at IS NULL AND e.retired_at IS NULL
             GROUP BY 1, 2, 3",
        )
        .bind(expired)
        .bind(critical)
        .bind(warning)
        .bind(now.plus_days(-active_days))
        .fetch_all(&self.pool)
        .await
        .context("counting credentials by usage")?;
        const STATUS: [Status; 4] = [Status::Expired, Status::Critical, Status::Warning, Status::Ok];
        const USAGE: [Usage; 3] = [Usage::InUse, Usage::Idle, Usage::Unknown];
        Ok(rows
            .into_iter()
            .map(|(environment_id, status, usage, count)| UsageCount {
                environment_id,
                status: STATUS[status.clamp(0, 3) as usize],
                usage: USAGE[usage.clamp(0, 2) as usize],
                count,
            })
            .collect())
    }

    /// Every live credential of the given applications (store ids) with its last use, for
    /// rotation verdicts.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "used_siblings_of"))]
    pub async fn used_siblings_of(&self, application_ids: &[i64]) -> Result<Vec<UsedSibling>, StoreError> {
        Ok(self
            .live_siblings_of(application_ids)
            .await?
            .iter()
            .map(|(s, last_use)| UsedSibling::new(s, *last_use))
            .collect())
    }
}

impl Store {
    /// The live credentials that ended before `now`, the most recent first: where Needs action
    /// finds its incidents (recent expiries that were in use) and the Cleanup list its rows.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "recently_expired"))]
    pub async fn recently_expired(&self, now: Timestamp, limit: i64) -> Result<Vec<Credential>, StoreError> {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(SELECT.as_str());
        q.push(" AND c.removed_at IS NULL AND c.end_at < ")
            .push_bind(now)
            .push(" ORDER BY c.end_at DESC, c.id LIMIT ")
            .push_bind(limit);
        typed(
            q.build_query_as()
                .fetch_all(&self.pool)
                .await
                .context("reading expired credentials")?,
        )
    }
}
