//! One sync: for each environment, list every application from Graph and apply the complete
//! listing to the store in one transaction. Environments run concurrently (bounded); one failing
//! never stops the others, and a failed or partial listing changes no credential.

use crate::config::{Config, EnvironmentConfig};
use crate::domain::{ListedApplication, Timestamp, UsageStatus};
use crate::graph::{GraphClient, GraphError, PageSink, SinkStopped};
use crate::store::{ListingCounts, Owners, Store, StoreError};
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Why one environment's sync failed. Turned into words only where it is shown: the run's
/// record (and so the dashboard's last error), the log and the terminal. No variant carries a
/// secret, an assertion or a token.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The environment's Graph client could not be built (an unusable URL, say); every run of
    /// the environment fails with it until the configuration changes.
    #[error(transparent)]
    Client(Arc<GraphError>),
    /// Signing in or listing failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The store could not record the run or stage or apply the listing.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// credwatch was asked to stop while listing.
    #[error("interrupted: credwatch is shutting down")]
    Interrupted,
    /// Another process is syncing this environment; this one stood back and recorded no run.
    #[error("not synced: {0}")]
    Busy(crate::store::lease::LeaseHeld),
}

/// The outcome of syncing one environment.
#[derive(Debug)]
pub struct EnvironmentReport {
    pub environment: String,
    pub duration: Duration,
    pub pages: usize,
    /// The counts, or why the sync failed.
    pub result: Result<ListingCounts, SyncError>,
    /// What became of reading usage after the listing; never a reason for the sync to fail.
    pub usage: UsageOutcome,
}

/// What one sync did about credential usage (the sign-in activity reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageOutcome {
    /// `usage = false`, a national cloud, or the listing failed (usage waits for a good sync).
    Skipped,
    /// Read less than `usage.refresh_hours` ago.
    NotDue,
    /// Both reports read completely: rows of each.
    Read { credentials: usize, applications: usize },
    /// Not read: why, in the environment's usage status, and what Graph answered. The values
    /// read before stay.
    Failed { status: UsageStatus, detail: String },
}

impl EnvironmentReport {
    pub fn succeeded(&self) -> bool {
        self.result.is_ok()
    }
}

impl std::fmt::Display for EnvironmentReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.duration.as_secs_f64();
        match &self.result {
            Ok(c) => {
                write!(
                    f,
                    "{}: ok, {} applications, {} credentials, {} added, {} removed, {} pages in {secs:.1}s",
                    self.environment, c.applications, c.credentials, c.added, c.removed, self.pages
                )?;
                match &self.usage {
                    UsageOutcome::Read { credentials, applications } => write!(
                        f,
                        "; usage read: {credentials} credentials and {applications} applications signed in"
                    ),
                    UsageOutcome::Failed { status, detail } => write!(f, "; usage not read ({status}): {detail}"),
                    UsageOutcome::Skipped | UsageOutcome::NotDue => Ok(()),
                }
            }
            Err(e) => write!(f, "{}: FAILED after {secs:.1}s: {e}", self.environment),
        }
    }
}

/// Syncs environments; keeps one Graph client (and so one cached token) per environment.
pub struct Syncer {
    store: Store,
    concurrency: usize,
    /// `sync.fetch_owners` and `sync.owners_refresh_hours`.
    fetch_owners: bool,
    owners_refresh: std::time::Duration,
    /// `usage.refresh_hours`.
    usage_refresh: std::time::Duration,
    targets: Vec<Target>,
    progress: Option<Progress>,
}

/// Called after every page: environment, pages so far, applications so far.
pub type Progress = Arc<dyn Fn(&str, usize, usize) + Send + Sync>;

struct Target {
    env: EnvironmentConfig,
    /// `Err` when the client could not even be built (e.g. an unusable URL): reported per run.
    client: Result<Arc<GraphClient>, Arc<GraphError>>,
}

impl Syncer {
    pub fn new(config: &Config, store: Store) -> Syncer {
        let targets = config
            .environments
            .iter()
            .map(|env| Target {
                env: env.clone(),
                client: GraphClient::new(env, &config.sync).map(Arc::new).map_err(Arc::new),
            })
            .collect();
        Syncer {
            store,
            concurrency: config.sync.concurrency,
            fetch_owners: config.sync.fetch_owners,
            owners_refresh: config.sync.owners_refresh,
            usage_refresh: config.usage.refresh,
            targets,
            progress: None,
        }
    }

    /// Reports listing progress page by page (for a terminal).
    pub fn with_progress(mut self, progress: Progress) -> Syncer {
        self.progress = Some(progress);
        self
    }

    /// Syncs every environment (or only `only`), at most `concurrency` at once, calling
    /// `on_report` as each finishes. Cancelling stops listings in flight; their runs are recorded
    /// as failed and nothing else changes.
    pub async fn sync_all(
        &self,
        only: Option<&str>,
        cancel: &CancellationToken,
        mut on_report: impl FnMut(&EnvironmentReport),
    ) -> Vec<EnvironmentReport> {
        let selected = self.targets.iter().filter(|t| only.is_none_or(|o| t.env.name == o));
        // Boxed: without it the compiler cannot prove the stream's futures Send for every lifetime.
        let futures: Vec<futures_util::future::BoxFuture<'_, EnvironmentReport>> =
            selected.map(|t| Box::pin(self.sync_one(t, cancel)) as _).collect();
        let mut stream = futures_util::stream::iter(futures).buffer_unordered(self.concurrency);
        let mut reports = Vec::new();
        while let Some(report) = stream.next().await {
            on_report(&report);
            reports.push(report);
        }
        reports.sort_by(|a, b| a.environment.cmp(&b.environment));
        reports
    }

    #[tracing::instrument(name = "sync", skip_all, fields(environment = %target.env.name))]
    async fn sync_one(&self, target: &Target, cancel: &CancellationToken) -> EnvironmentReport {
        let started = Instant::now();
        let pages = AtomicUsize::new(0);
        let (result, usage) = self.try_sync(target, cancel, &pages).await;
        let pages = pages.into_inner();
        let report = EnvironmentReport {
            environment: target.env.name.clone(),
            duration: started.elapsed(),
            pages,
            result,
            usage,
        };
        match &report.result {
            Ok(c) => tracing::info!(
                applications = c.applications,
                credentials = c.credentials,
                added = c.added,
                removed = c.removed,
                pages,
                "sync succeeded"
            ),
            Err(e) => tracing::error!(error = %e, "sync failed"),
        }
        report
    }

    /// One environment's sync under its lease, so two processes never list and apply the same
    /// environment at once; the second is told who is syncing it and records no run.
    async fn try_sync(
        &self,
        target: &Target,
        cancel: &CancellationToken,
        pages: &AtomicUsize,
    ) -> (Result<ListingCounts, SyncError>, UsageOutcome) {
        let lease = match self.store.take_lease(&format!("sync:{}", target.env.name)).await {
            Ok(Ok(lease)) => lease,
            Ok(Err(held)) => return (Err(SyncError::Busy(held)), UsageOutcome::Skipped),
            Err(e) => return (Err(e.into()), UsageOutcome::Skipped),
        };
        let result = self.sync_leased(target, cancel, pages).await;
        // Usage is read after the listing was applied, so nothing about it can change the
        // listing's outcome; a listing that failed leaves usage for the next good sync.
        let usage = match &result {
            Ok(_) if !cancel.is_cancelled() => self.read_usage_if_due(target).await,
            _ => UsageOutcome::Skipped,
        };
        lease.release().await;
        (result, usage)
    }

    /// Reads the environment's usage when it is on and due, and records what came of it.
    async fn read_usage_if_due(&self, target: &Target) -> UsageOutcome {
        let (true, Ok(client)) = (target.env.usage, &target.client) else {
            return UsageOutcome::Skipped;
        };
        let now = Timestamp::from(chrono::Utc::now());
        let env = match self.store.environment_by_name(&target.env.name).await {
            Ok(env) => env,
            Err(e) => return usage_store_failure(e),
        };
        match self.store.usage_checked_at(env.id).await {
            Ok(Some(at)) if now < at.plus_seconds(self.usage_refresh.as_secs() as i64) => return UsageOutcome::NotDue,
            Ok(_) => {}
            Err(e) => return usage_store_failure(e),
        }
        read_usage(&self.store, client, env.id, now).await
    }

    /// Reads usage of the environment `name` now, due or not (`credwatch sync --usage`, tests).
    pub async fn try_read_usage(&self, name: &str) -> UsageOutcome {
        let Some(target) = self.targets.iter().find(|t| t.env.name == name) else {
            return UsageOutcome::Skipped;
        };
        let (true, Ok(client)) = (target.env.usage, &target.client) else {
            return UsageOutcome::Skipped;
        };
        match self.store.environment_by_name(name).await {
            Ok(env) => read_usage(&self.store, client, env.id, Timestamp::from(chrono::Utc::now())).await,
            Err(e) => usage_store_failure(e),
        }
    }

    async fn sync_leased(&self, target: &Target, cancel: &CancellationToken, pages: &AtomicUsize) -> Result<ListingCounts, SyncError> {
        let env = self.store.environment_by_name(&target.env.name).await?;
        let started_at = Timestamp::from(chrono::Utc::now());
        let run_id = self.store.begin_run(env.id, started_at).await?;
        // The run's record is where the error becomes words: the dashboard shows them.
        let fail = |error: SyncError| async move {
            let pages = pages.load(Ordering::Relaxed) as i64;
            if let Err(e) = self
                .store
                .fail_run(run_id, Timestamp::from(chrono::Utc::now()), pages, &error.to_string())
                .await
            {
                tracing::error!(error = %e, "could not record the failed run");
            }
            Err(error)
        };
        let client = match &target.client {
            Ok(c) => c,
            Err(e) => return fail(SyncError::Client(e.clone())).await,
        };
        // Owners are listed when a refresh is due; in between, the stored ones are kept.
        let owners = match self.store.owners_fetched_at(env.id).await {
            _ if !self.fetch_owners => Owners::Unknown,
            Ok(Some(at)) if started_at < at.plus_seconds(self.owners_refresh.as_secs() as i64) => Owners::Kept,
            Ok(_) => Owners::Listed,
            Err(e) => return fail(e.into()).await,
        };
        let listing_started = Instant::now();
        // Pages are staged in the store as they arrive; only the complete listing is applied.
        let mut staging = match self.store.begin_staging().await {
            Ok(s) => s,
            Err(e) => return fail(e.into()).await,
        };
        staging.set_owners(owners);
        // Listing and staging overlap: the next page is fetched while the last one is written.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<ListedApplication>>(2);
        let sink = ChannelSink {
            tx,
            pages,
            applications: 0,
            environment: &target.env.name,
            progress: self.progress.as_ref(),
        };
        let stage = async {
            while let Some(page) = rx.recv().await {
                staging.add(&page).await?;
            }
            Ok::<(), StoreError>(())
        };
        let outcome = tokio::select! {
            (listed, staged) = async { tokio::join!(client.list_applications(owners == Owners::Listed, sink), stage) } => match (listed, staged) {
                // A failed staging stops the sink, so its error is the cause of both.
                (_, Err(e)) => Err(SyncError::Store(e)),
                (Err(e), Ok(())) => Err(SyncError::Graph(e)),
                (Ok(_), Ok(())) => Ok(()),
            },
            _ = cancel.cancelled() => Err(SyncError::Interrupted),
        };
        if let Err(e) = outcome {
            drop(staging);
            return fail(e).await;
        }
        let listed_in = listing_started.elapsed();
        // The write is not cancelled: it is one transaction, all or nothing.
        let now = Timestamp::from(chrono::Utc::now());
        let write_started = Instant::now();
        match staging
            .apply(&self.store, env.id, run_id, now, pages.load(Ordering::Relaxed) as i64)
            .await
        {
            Ok(counts) => {
                tracing::debug!(
                    listing_ms = listed_in.as_millis() as u64,
                    write_ms = write_started.elapsed().as_millis() as u64,
                    "listing applied"
                );
                Ok(counts)
            }
            Err(e) => fail(e.into()).await,
        }
    }
}

/// Reads both reports and stores them, or records why not. A 403 says which permission or
/// licence is missing; anything else is "unavailable". Failures are logged as warnings, never
/// errors: usage is advice, and its absence raises no alarm.
async fn read_usage(store: &Store, client: &GraphClient, environment_id: i64, now: Timestamp) -> UsageOutcome {
    let outcome = match client.read_usage().await {
        Ok(report) => match store.record_usage(environment_id, &report, now).await {
            Ok(_) => UsageOutcome::Read {
                credentials: report.credentials.len(),
                applications: report.applications.len(),
            },
            Err(e) => return usage_store_failure(e),
        },
        Err(GraphError::Forbidden { code, .. }) => UsageOutcome::Failed {
            status: UsageStatus::of_forbidden(&code),
            detail: format!("Graph answered HTTP 403 {code}"),
        },
        Err(e) => UsageOutcome::Failed {
            status: UsageStatus::Unavailable,
            detail: e.to_string(),
        },
    };
    match &outcome {
        UsageOutcome::Failed { status, detail } => {
            tracing::warn!(usage_status = %status, error = %detail, "usage not read; the last values read are kept");
            if let Err(e) = store.record_usage_failure(environment_id, *status, detail, now).await {
                tracing::error!(error = %e, "could not record the failed usage read");
            }
        }
        UsageOutcome::Read { credentials, applications } => tracing::info!(credentials, applications, "usage read"),
        UsageOutcome::Skipped | UsageOutcome::NotDue => {}
    }
    outcome
}

fn usage_store_failure(e: StoreError) -> UsageOutcome {
    tracing::error!(error = %e, "usage could not be stored");
    UsageOutcome::Failed {
        status: UsageStatus::Unavailable,
        detail: e.to_string(),
    }
}

/// Hands each page of a listing to the staging task as it arrives, and reports progress.
struct ChannelSink<'a> {
    tx: tokio::sync::mpsc::Sender<Vec<ListedApplication>>,
    pages: &'a AtomicUsize,
    applications: usize,
    environment: &'a str,
    progress: Option<&'a Progress>,
}

impl PageSink for ChannelSink<'_> {
    async fn page(&mut self, apps: Vec<ListedApplication>) -> Result<(), SinkStopped> {
        let count = apps.len();
        // The receiver is gone only when staging failed; its error is the one reported.
        self.tx.send(apps).await.map_err(|_| SinkStopped)?;
        let n = self.pages.fetch_add(1, Ordering::Relaxed) + 1;
        self.applications += count;
        if let Some(progress) = self.progress {
            progress(self.environment, n, self.applications);
        }
        Ok(())
    }
}
