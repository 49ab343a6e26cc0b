//! Sync runs: started, failed, interrupted by a stop, and read back for the pages.

use crate::domain::Timestamp;
use crate::store::{Context, Store, StoreError};

/// One sync run as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunRow {
    pub id: i64,
    pub environment_id: i64,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub outcome: String,
    pub pages: i64,
    pub applications: i64,
    pub credentials: i64,
    pub added: i64,
    pub removed: i64,
    pub error: Option<String>,
}

impl Store {
    /// Records that a sync of `environment_id` started; the run stays `running` until finished.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "begin_run"))]
    pub async fn begin_run(&self, environment_id: i64, started_at: Timestamp) -> Result<i64, StoreError> {
        let (id,): (i64,) =
            sqlx::query_as("INSERT INTO sync_runs (environment_id, started_at, outcome) VALUES (?, ?, 'running') RETURNING id")
                .bind(environment_id)
                .bind(started_at)
                .fetch_one(&self.pool)
                .await
                .context("recording a sync run")?;
        self.bump_generation();
        Ok(id)
    }

    /// Records a failed run. Nothing else is touched: a failed listing changes no credential.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "fail_run"))]
    pub async fn fail_run(&self, run_id: i64, finished_at: Timestamp, pages: i64, error: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE sync_runs SET finished_at = ?, outcome = 'failed', pages = ?, error = ? WHERE id = ?")
            .bind(finished_at)
            .bind(pages)
            .bind(error)
            .bind(run_id)
            .execute(&self.pool)
            .await
            .context("recording a failed sync run")?;
        self.bump_generation();
        Ok(())
    }

    /// Runs left `running` by a process that stopped mid-sync: marked interrupted at start-up.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "close_interrupted_runs"))]
    pub async fn close_interrupted_runs(&self, now: Timestamp) -> Result<u64, StoreError> {
        let done = sqlx::query("UPDATE sync_runs SET outcome = 'interrupted', finished_at = ?, error = 'the process stopped during this sync' WHERE outcome = 'running'")
            .bind(now)
            .execute(&self.pool)
            .await
            .context("closing interrupted sync runs")?;
        Ok(done.rows_affected())
    }

    /// When the environment's owners were last listed (`None`: never, or not since fetching them
    /// was turned off).
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "owners_fetched_at"))]
    pub async fn owners_fetched_at(&self, environment_id: i64) -> Result<Option<Timestamp>, StoreError> {
        let (at,): (Option<Timestamp>,) = sqlx::query_as("SELECT owners_fetched_at FROM environments WHERE id = ?")
            .bind(environment_id)
            .fetch_one(&self.pool)
            .await
            .context("reading when owners were last listed")?;
        Ok(at)
    }

    /// The most recent runs of an environment, newest first.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "recent_runs"))]
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
