//! Building and running the service: the caller owns the listener (tests bind port 0), and one
//! shutdown future stops the scheduler and the web server together.

use crate::config::Config;
use crate::store::Store;
use crate::sync::Syncer;
use crate::web::{self, AppState};
use actix_web::{App, HttpServer, middleware};
use anyhow::Context;
use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The running service: web server and scheduled jobs.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    store: Store,
    config: Arc<Config>,
    guard: actix_web::web::Data<web::auth::AuthGuard>,
    cancel: CancellationToken,
    /// Syncs asked for from the web side ("Rotated — check now").
    sync_requests: tokio::sync::mpsc::UnboundedReceiver<String>,
}

/// Opens the store, records the configured environments and closes runs a previous process left
/// open. Every command that touches the database starts here.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(&config.database.url)
        .await
        .with_context(|| format!("opening the database {}", config.database.url))?;
    store.register_environments(&config.environments).await?;
    let interrupted = store
        .close_interrupted_runs(crate::domain::Timestamp::from(chrono::Utc::now()))
        .await?;
    if interrupted > 0 {
        tracing::warn!(
            runs = interrupted,
            "sync runs left open by a stopped process were marked interrupted"
        );
    }
    Ok(store)
}

impl Application {
    /// Builds the service on `listener` (or on `server.listen` when `None`). Nothing runs until
    /// [`Application::run_until_stopped`].
    pub async fn build(config: Config, listener: Option<TcpListener>) -> anyhow::Result<Application> {
        // Before any job builds an HTTP client (see `crate::tls`).
        crate::tls::install();
        let config = Arc::new(config);
        let store = open_store(&config).await?;
        let listener = match listener {
            Some(l) => l,
            None => TcpListener::bind(config.server.listen).with_context(|| format!("listening on {}", config.server.listen))?,
        };
        let port = listener.local_addr()?.port();
        let (sync_tx, sync_requests) = tokio::sync::mpsc::unbounded_channel();
        let state = AppState {
            store: store.clone(),
            config: config.clone(),
            sync_requests: Some(sync_tx),
        };
        let guard = actix_web::web::Data::new(web::auth::AuthGuard::new(config.server.auth.clone()));
        let app_guard = guard.clone();
        let hosts = actix_web::web::Data::new(web::host::AllowedHosts::new(
            listener.local_addr()?,
            &config.server.public_url,
            &config.server.allowed_hosts,
        ));
        // One for all workers: a term's hits and the overview's snapshot are read once,
        // whichever worker a request lands on.
        let searches = actix_web::web::Data::new(web::search::SearchCache::default());
        let snapshots = actix_web::web::Data::new(web::snapshot::SnapshotCache::default());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(actix_web::web::Data::new(state.clone()))
                .app_data(searches.clone())
                .app_data(snapshots.clone())
                .app_data(guard.clone())
                .app_data(hosts.clone())
                .wrap(middleware::from_fn(web::auth::guard))
                .wrap(middleware::from_fn(web::methods::methods))
                // Outside the guard: a rebound page's request costs no password check.
                .wrap(middleware::from_fn(web::host::check))
                .wrap(web::auth::security_headers())
                .wrap(middleware::Compress::default())
                // Outermost: the guards' answers and log lines carry the request id too.
                .wrap(middleware::from_fn(web::trace::trace_requests))
                .configure(web::routes)
        })
        // Feed downloads cut off readers that stall, which needs each connection's socket.
        .on_connect(web::calendar::stall::remember_socket)
        .disable_signals()
        .shutdown_timeout(10)
        .listen(listener)?
        .run();
        Ok(Application {
            port,
            server,
            store,
            config,
            guard: app_guard,
            cancel: CancellationToken::new(),
            sync_requests,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The access guard, to watch its password checks (they are bounded; tests count them).
    pub fn auth_guard(&self) -> Arc<web::auth::AuthGuard> {
        self.guard.clone().into_inner()
    }

    /// Serves and runs the scheduled jobs until `shutdown` completes, then stops both: the web
    /// server finishes requests in flight, a sync in flight records its run as interrupted.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Application {
            server,
            store,
            config,
            cancel,
            sync_requests,
            ..
        } = self;
        let handle = server.handle();
        let server_task = tokio::spawn(server);
        let mut jobs = spawn_jobs(&config, &store, &cancel);
        jobs.push(spawn_requested_syncs(&config, &store, &cancel, sync_requests));
        jobs.push(spawn_answer_refresh(&config, &store, &cancel));
        tokio::select! {
            _ = shutdown => tracing::info!("shutting down"),
            r = cancel.cancelled() => r,
        }
        cancel.cancel();
        handle.stop(true).await;
        for job in jobs {
            let _ = job.await;
        }
        server_task.await.context("the web server task")??;
        Ok(())
    }
}

fn spawn_jobs(config: &Arc<Config>, store: &Store, cancel: &CancellationToken) -> Vec<JoinHandle<()>> {
    let mut jobs = Vec::new();
    if let Some(schedule) = config.schedule.sync.schedule.clone() {
        let syncer = Arc::new(Syncer::new(config, store.clone()));
        let token = cancel.clone();
        jobs.push(crate::scheduler::spawn("sync", schedule, true, cancel.clone(), move || {
            let syncer = syncer.clone();
            let token = token.clone();
            async move {
                syncer.sync_all(None, &token, |_| {}).await;
            }
        }));
    }
    if let Some(schedule) = config.schedule.remind.schedule.clone() {
        let config = config.clone();
        let store = store.clone();
        // Not at start: reminders go out at the configured hour, not at every restart.
        jobs.push(crate::scheduler::spawn("remind", schedule, false, cancel.clone(), move || {
            let config = config.clone();
            let store = store.clone();
            async move {
                match crate::reminders::try_remind(&store, &config, chrono::Utc::now(), false).await {
                    Ok(report) if report.succeeded() => {}
                    Ok(report) => tracing::error!(
                        failed = report.failed(),
                        sent = report.sent(),
                        "some reminder digests were not delivered; they stay due for the next run"
                    ),
                    Err(crate::reminders::RemindError::Busy(held)) => {
                        tracing::warn!(%held, "reminder run skipped: another process is sending them")
                    }
                    Err(e) => tracing::error!(
                        error = format!("{e:#}"),
                        "the reminder run failed; it is tried again at the next scheduled time"
                    ),
                }
            }
        }));
    }
    jobs
}

/// Runs the syncs the web side asks for, one at a time, until `cancel` fires. A sync records its
/// run like a scheduled one, so the application page shows its outcome.
fn spawn_requested_syncs(
    config: &Arc<Config>,
    store: &Store,
    cancel: &CancellationToken,
    mut requests: tokio::sync::mpsc::UnboundedReceiver<String>,
) -> JoinHandle<()> {
    let syncer = Syncer::new(config, store.clone());
    let cancel = cancel.clone();
    tokio::spawn(async move {
        loop {
            let environment = tokio::select! {
                r = requests.recv() => match r {
                    Some(environment) => environment,
                    None => return,
                },
                _ = cancel.cancelled() => return,
            };
            let reports = syncer.sync_all(Some(&environment), &cancel, |_| {}).await;
            for r in reports {
                tracing::info!(environment = %environment, succeeded = r.succeeded(), "a requested sync finished");
            }
        }
    })
}

/// Keeps the stored answers of the credential API (migrations/0017_answer_rows.sql) in step:
/// every two seconds, rebuilds those that writes of any process marked stale. Until it has, the
/// API reads the long way, so an answer is never stale, only slower.
fn spawn_answer_refresh(config: &Arc<Config>, store: &Store, cancel: &CancellationToken) -> JoinHandle<()> {
    let (config, store, cancel) = (config.clone(), store.clone(), cancel.clone());
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(2));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = cancel.cancelled() => return,
            }
            let started = std::time::Instant::now();
            match store.refresh_answers(&config.exclusions).await {
                Ok(0) => {}
                Ok(applications) => {
                    tracing::debug!(applications, ms = started.elapsed().as_millis() as u64, "stored answers rebuilt")
                }
                Err(e) => tracing::warn!(error = %e, "rebuilding the stored answers failed; the API reads the long way meanwhile"),
            }
        }
    })
}

/// Completes on SIGINT or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled: a signal that comes while the service is still starting (its
/// port already open) stops it cleanly instead of killing the process.
pub fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                (interrupt, terminate) => {
                    let e = interrupt.err().or(terminate.err()).map(|e| e.to_string()).unwrap_or_default();
                    tracing::error!(error = %e, "cannot listen for SIGINT and SIGTERM; only Ctrl-C stops the service");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
