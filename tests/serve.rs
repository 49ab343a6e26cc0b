//! `credwatch serve` as a process: syncs at start, serves /healthz, stops cleanly on SIGTERM
//! without leaving a half-written run.

mod common;

use common::{Env, World};
use credwatch_emulator::generate_applications;
use credwatch::startup::open_store;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spawn_serve(w: &World, config: &std::path::Path) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_credwatch"));
    cmd.args(["serve", "--config"])
        .arg(config)
        .env_clear()
        .current_dir(w.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in &w.vars {
        cmd.env(k, v);
    }
    cmd.spawn().expect("serve starts")
}

async fn wait_for(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sigterm(child: &Child) {
    let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
}

async fn wait_exit(mut child: Child, timeout: Duration) -> (std::process::ExitStatus, String) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return (status, err);
        }
        if started.elapsed() > timeout {
            child.kill().unwrap();
            panic!("serve did not stop within {timeout:?} of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn serve_syncs_at_start_serves_healthz_and_stops_on_sigterm() {
    let mut w = World::new().await;
    w.tenant_with_secret("prod", "tenant-prod", "client-prod");
    w.emu
        .set_applications("tenant-prod", generate_applications(9, 300, chrono::Utc::now()));
    // A schedule far away: only the sync at start runs.
    w.schedule_table = "[schedule]\nsync = \"0 0 0 1 1 *\"\nremind = \"\"\n".into();
    let port = free_port();
    let envs = [Env::secret("prod", "tenant-prod", "client-prod")];
    let path = w.write_config(&envs, &format!("[server]\nlisten = \"127.0.0.1:{port}\"\n"));
    let child = spawn_serve(&w, &path);

    credwatch::tls::install();
    let http = reqwest::Client::new();
    let health = format!("http://127.0.0.1:{port}/healthz");
    wait_for("/healthz", Duration::from_secs(30), async || {
        http.get(&health).send().await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    let config = w.config(&envs, "");
    let store = open_store(&config).await.unwrap();
    let env = store.environment_by_name("prod").await.unwrap();
    wait_for("the sync at start", Duration::from_secs(30), async || {
        store
            .recent_runs(env.id, 1)
            .await
            .unwrap()
            .first()
            .is_some_and(|r| r.outcome == "success")
    })
    .await;

    sigterm(&child);
    let (status, stderr) = wait_exit(child, Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(!stderr.contains(common::SECRET));
    let runs = store.recent_runs(env.id, 10).await.unwrap();
    assert!(runs.iter().all(|r| r.outcome != "running"));
}

#[tokio::test]
async fn sigterm_during_a_sync_records_the_run_as_interrupted_and_changes_nothing() {
    let mut w = World::new().await;
    w.tenant_with_secret("prod", "tenant-prod", "client-prod");
    w.emu
        .set_applications("tenant-prod", generate_applications(10, 200, chrono::Utc::now()));
    w.schedule_table = "[schedule]\nsync = \"0 0 0 1 1 *\"\nremind = \"\"\n".into();
    // Graph throttles for a long while: the sync at start is still waiting when SIGTERM comes.
    w.sync_table = "[sync]\nmax_attempts = 5\nmax_backoff_secs = 120\n".into();
    w.emu.throttle(5, Some("60".into()));
    let port = free_port();
    let envs = [Env::secret("prod", "tenant-prod", "client-prod")];
    let path = w.write_config(&envs, &format!("[server]\nlisten = \"127.0.0.1:{port}\"\n"));
    let child = spawn_serve(&w, &path);
    wait_for("the first throttled request", Duration::from_secs(30), async || {
        w.emu.requests().iter().any(|r| r.status == 429)
    })
    .await;

    let started = Instant::now();
    sigterm(&child);
    let (status, stderr) = wait_exit(child, Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(started.elapsed() < Duration::from_secs(12), "shutdown waited out the throttling");
    let store = open_store(&w.config(&envs, "")).await.unwrap();
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
