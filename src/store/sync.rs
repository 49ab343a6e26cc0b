//! Writing a sync's result: runs, and a complete listing applied in one transaction.

use super::{Context, Store, StoreError};
use crate::domain::ListedApplication;
use sqlx::{QueryBuilder, Sqlite};

/// What applying a complete listing changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListingCounts {
    pub applications: i64,
    pub credentials: i64,
    pub added: i64,
    pub removed: i64,
}

/// One sync run as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunRow {
    pub id: i64,
    pub environment_id: i64,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub outcome: String,
    pub pages: i64,
    pub applications: i64,
    pub credentials: i64,
    pub added: i64,
    pub removed: i64,
    pub error: Option<String>,
}

/// Rows per multi-row INSERT: well under SQLite's bound-parameter limit.
const APP_CHUNK: usize = 400;
const CRED_CHUNK: usize = 400;

impl Store {
    /// Records that a sync of `environment_id` started; the run stays `running` until finished.
    pub async fn begin_run(&self, environment_id: i64, started_at: i64) -> Result<i64, StoreError> {
        let (id,): (i64,) = sqlx::query_as("INSERT INTO sync_runs (environment_id, started_at, outcome) VALUES (?, ?, 'running') RETURNING id")
            .bind(environment_id)
            .bind(started_at)
            .fetch_one(&self.pool)
            .await
            .context("recording a sync run")?;
        Ok(id)
    }

    /// Records a failed run. Nothing else is touched: a failed listing changes no credential.
    pub async fn fail_run(&self, run_id: i64, finished_at: i64, pages: i64, error: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE sync_runs SET finished_at = ?, outcome = 'failed', pages = ?, error = ? WHERE id = ?")
            .bind(finished_at)
            .bind(pages)
            .bind(error)
            .bind(run_id)
            .execute(&self.pool)
            .await
            .context("recording a failed sync run")?;
        Ok(())
    }

    /// Runs left `running` by a process that stopped mid-sync: marked interrupted at start-up.
    pub async fn close_interrupted_runs(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("UPDATE sync_runs SET outcome = 'interrupted', finished_at = ?, error = 'the process stopped during this sync' WHERE outcome = 'running'")
            .bind(now)
            .execute(&self.pool)
            .await
            .context("closing interrupted sync runs")?;
        Ok(done.rows_affected())
    }

    /// Applies a complete listing for one environment in a single transaction: applications and
    /// credentials seen are inserted or touched, those not seen are marked removed, and the run is
    /// recorded as a success. Either all of it happens or none.
    pub async fn apply_listing(&self, environment_id: i64, run_id: i64, now: i64, pages: i64, apps: &[ListedApplication]) -> Result<ListingCounts, StoreError> {
        const CTX: &str = "writing a sync's result";
        let mut tx = self.pool.begin().await.context(CTX)?;
        let mut app_ids: std::collections::HashMap<String, i64> = std::collections::HashMap::with_capacity(apps.len());
        for chunk in apps.chunks(APP_CHUNK) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO applications (environment_id, object_id, app_id, display_name, first_seen_at, last_seen_at, last_seen_run) ",
            );
            q.push_values(chunk, |mut b, a| {
                b.push_bind(environment_id).push_bind(&a.object_id).push_bind(&a.app_id).push_bind(&a.display_name).push_bind(now).push_bind(now).push_bind(run_id);
            });
            q.push(
                " ON CONFLICT (environment_id, object_id) DO UPDATE SET app_id = excluded.app_id, display_name = excluded.display_name,
                  last_seen_at = excluded.last_seen_at, last_seen_run = excluded.last_seen_run, removed_at = NULL
                  RETURNING id, object_id",
            );
            let rows: Vec<(i64, String)> = q.build_query_as().fetch_all(&mut *tx).await.context(CTX)?;
            app_ids.extend(rows.into_iter().map(|(id, object_id)| (object_id, id)));
        }
        let creds: Vec<_> = apps
            .iter()
            .flat_map(|a| {
                let id = app_ids.get(a.object_id.as_str()).copied();
                a.credentials.iter().filter_map(move |c| id.map(|id| (id, c)))
            })
            .collect();
        for chunk in creds.chunks(CRED_CHUNK) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO credentials (application_id, environment_id, kind, key_id, display_name, hint, start_at, end_at,
                   first_seen_at, first_seen_run, last_seen_at, last_seen_run) ",
            );
            q.push_values(chunk, |mut b, (app, c)| {
                b.push_bind(*app)
                    .push_bind(environment_id)
                    .push_bind(c.kind.as_str())
                    .push_bind(&c.key_id)
                    .push_bind(&c.display_name)
                    .push_bind(&c.hint)
                    .push_bind(c.start.map(|s| s.timestamp()))
                    .push_bind(c.end.timestamp())
                    .push_bind(now)
                    .push_bind(run_id)
                    .push_bind(now)
                    .push_bind(run_id);
            });
            q.push(
                " ON CONFLICT (application_id, kind, key_id) DO UPDATE SET display_name = excluded.display_name, hint = excluded.hint,
                  start_at = excluded.start_at, end_at = excluded.end_at, last_seen_at = excluded.last_seen_at,
                  last_seen_run = excluded.last_seen_run, removed_at = NULL",
            );
            q.build().execute(&mut *tx).await.context(CTX)?;
        }
        let removed = sqlx::query("UPDATE credentials SET removed_at = ? WHERE environment_id = ? AND removed_at IS NULL AND last_seen_run <> ?")
            .bind(now)
            .bind(environment_id)
            .bind(run_id)
            .execute(&mut *tx)
            .await
            .context(CTX)?
            .rows_affected() as i64;
        sqlx::query("UPDATE applications SET removed_at = ? WHERE environment_id = ? AND removed_at IS NULL AND last_seen_run <> ?")
            .bind(now)
            .bind(environment_id)
            .bind(run_id)
            .execute(&mut *tx)
            .await
            .context(CTX)?;
        let (applications, credentials, added): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM applications WHERE environment_id = ?1 AND last_seen_run = ?2),
                    (SELECT count(*) FROM credentials WHERE environment_id = ?1 AND last_seen_run = ?2),
                    (SELECT count(*) FROM credentials WHERE environment_id = ?1 AND first_seen_run = ?2)",
        )
        .bind(environment_id)
        .bind(run_id)
        .fetch_one(&mut *tx)
        .await
        .context(CTX)?;
        let counts = ListingCounts { applications, credentials, added, removed };
        sqlx::query(
            "UPDATE sync_runs SET finished_at = ?, outcome = 'success', pages = ?, applications = ?, credentials = ?, added = ?, removed = ?, error = NULL WHERE id = ?",
        )
        .bind(now)
        .bind(pages)
        .bind(counts.applications)
        .bind(counts.credentials)
        .bind(counts.added)
        .bind(counts.removed)
        .bind(run_id)
        .execute(&mut *tx)
        .await
        .context(CTX)?;
        tx.commit().await.context(CTX)?;
        Ok(counts)
    }

    /// The most recent runs of an environment, newest first.
    pub async fn recent_runs(&self, environment_id: i64, limit: i64) -> Result<Vec<RunRow>, StoreError> {
        sqlx::query_as::<_, RunRow>(
            "SELECT id, environment_id, started_at, finished_at, outcome, pages, applications, credentials, added, removed, error
             FROM sync_runs WHERE environment_id = ? ORDER BY id DESC LIMIT ?",
        )
        .bind(environment_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("listing sync runs")
    }
}
