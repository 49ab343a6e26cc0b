//! `credwatch serve` as a process: syncs at start, serves /healthz, stops cleanly on SIGTERM
//! without leaving a half-written run.

use crate::support::emu::generate_applications;
use crate::support::process::Serve;
use crate::support::{SECRET, World};
use std::time::Duration;

/// A world with `apps` applications in prod, serve's own listener on port 0, and a sync
/// schedule far away: only the sync at start runs.
async fn world(apps: usize, seed: u64) -> World {
    let mut w = World::new().await;
    w.tenant("prod", "tenant-prod", "client-prod");
    w.emu
        .set_applications("tenant-prod", generate_applications(seed, apps, chrono::Utc::now()));
    w.file.schedule().sync = Some("0 0 0 1 1 *".into());
    w.file.server().listen = Some("127.0.0.1:0".into());
    w
}

#[tokio::test]
async fn serve_syncs_at_start_serves_healthz_and_stops_on_sigterm() {
    let w = world(300, 9).await;
    let mut serve = Serve::start(&w).await;

    let health = crate::support::http()
        .get(serve.url("/healthz"))
        .send()
        .await
        .expect("serve answers once it logs that it serves");
    assert_eq!(health.status(), 200);
    let synced = serve
        .process
        .wait_for_log("the sync at start", |l| l["message"] == "sync succeeded")
        .await;
    assert_eq!(synced["applications"], 300, "{synced}");
    let store = w.store(&w.config()).await;
    let env = store.environment_by_name("prod").await.unwrap();
    assert_eq!(store.recent_runs(env.id, 1).await.unwrap()[0].outcome, "success");

    let (status, stderr) = serve.process.terminate(Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(!stderr.contains(SECRET));
    let runs = store.recent_runs(env.id, 10).await.unwrap();
    assert!(runs.iter().all(|r| r.outcome != "running"));
}

#[tokio::test]
async fn sigterm_during_a_sync_records_the_run_as_interrupted_and_changes_nothing() {
    let mut w = world(200, 10).await;
    // Graph throttles for a long while: the sync at start is still waiting when SIGTERM comes.
    w.file.sync().max_attempts = Some(5);
    w.file.sync().max_backoff_secs = Some(120);
    w.emu.throttle(5, Some("60".into()));
    let mut serve = Serve::start(&w).await;
    serve
        .process
        .wait_for_log("the first throttled request", |l| l["status"] == 429)
        .await;

    // Well under the 60 s Graph asked for: shutdown does not wait out the throttling.
    let (status, stderr) = serve.process.terminate(Duration::from_secs(12)).await;
    assert!(status.success(), "{status:?}: {stderr}");
    let store = w.store(&w.config()).await;
    let env = store.environment_by_name("prod").await.unwrap();
    let runs = store.recent_runs(env.id, 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome, "failed");
    assert!(
        runs[0].error.as_deref().unwrap_or_default().contains("shutting down"),
        "{:?}",
        runs[0].error
    );
    assert!(store.credentials(&Default::default()).await.unwrap().is_empty());
}
