//! Bad input and faults: malformed Graph answers, unreachable or slow services, resets, 5xx
//! storms, a killed process, a locked, read-only or full database. Each ends with nothing lost
//! and the next run recovering.

use crate::support::app::TestApp;
use crate::support::emu::{ClientAuth, Emulator, generate_applications, hostile_applications};
use crate::support::parse::{Metrics, within};
use crate::support::smtp::closed_port;
use crate::support::{SECRET, World, process};
use credwatch::graph::model::ApplicationPage;
use credwatch::store::CredentialFilter;
use credwatch::sync::Syncer;
use rand::{Rng, SeedableRng};
use sqlx::ConnectOptions;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Every live credential as application/key.
async fn live_keys(w: &World) -> BTreeSet<String> {
    w.live()
        .await
        .into_iter()
        .map(|c| format!("{}/{}", c.app_object_id, c.key_id))
        .collect()
}

#[tokio::test]
async fn malformed_graph_pages_fail_the_run_change_nothing_and_the_next_run_recovers() {
    let mut w = World::new().await;
    w.tenant("prod", "tenant-prod", "client-prod");
    w.emu
        .set_applications("tenant-prod", generate_applications(21, 40, chrono::Utc::now()));
    assert!(w.try_sync().await[0].succeeded());
    let before = live_keys(&w).await;
    // The tenant changes; the change must land only through a page credwatch understood.
    w.emu.update_applications("tenant-prod", |apps| apps.truncate(20));

    let enormous = format!("{{\"value\":[],\"padding\":\"{}\"}}", "x".repeat(65 << 20));
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "truncated",
            r#"{"value":[{"id":"o1","appId":"a1","passwordCredentials":[{"keyId":"k","endDateTime":"2027-"#.into(),
            "did not parse",
        ),
        ("not JSON", "<html><body>502 Bad Gateway</body></html>".into(), "did not parse"),
        ("wrong type", r#"{"value":"applications"}"#.into(), "did not parse"),
        ("value missing", r#"{"@odata.context":"x"}"#.into(), "did not parse"),
        (
            "missing appId",
            r#"{"value":[{"id":"o1","displayName":"x"}]}"#.into(),
            "did not parse",
        ),
        (
            "no endDateTime",
            r#"{"value":[{"id":"o1","appId":"a1","passwordCredentials":[{"keyId":"k1"}]}]}"#.into(),
            "no endDateTime",
        ),
        (
            "bad date",
            r#"{"value":[{"id":"o1","appId":"a1","keyCredentials":[{"keyId":"k1","endDateTime":"31/12/2299"}]}]}"#.into(),
            "unreadable endDateTime",
        ),
        ("number id", r#"{"value":[{"id":7,"appId":"a1"}]}"#.into(), "did not parse"),
        (
            "nextLink elsewhere",
            r#"{"value":[],"@odata.nextLink":"https://evil.example.com/v1.0/applications?$skiptoken=x"}"#.into(),
            "not following it",
        ),
        ("enormous", enormous, "larger than 64 MiB"),
    ];
    for (name, body, expected) in cases {
        w.emu.corrupt_page(0, body, 1);
        let r = w.try_sync().await;
        let err = r[0].result.as_ref().expect_err(name).to_string();
        assert!(err.contains(expected), "{name}: {err}");
        assert_eq!(live_keys(&w).await, before, "{name}: a malformed page changed stored credentials");
    }
    let store = w.store(&w.config()).await;
    let env = store.environment_by_name("prod").await.unwrap();
    let runs = store.recent_runs(env.id, 20).await.unwrap();
    assert_eq!(runs.iter().filter(|r| r.outcome == "failed").count(), 10);

    let r = w.try_sync().await;
    assert!(r[0].succeeded(), "{:?}", r[0].result);
    assert!(live_keys(&w).await.len() < before.len());
}

/// A mutation fuzzer over the page parser: random byte flips, truncations, insertions and
/// splices of valid pages never panic; they parse or fail with an error.
#[test]
fn the_page_parser_never_panics_on_mutated_input() {
    let apps = generate_applications(5, 30, chrono::Utc::now());
    let mut seeds: Vec<Vec<u8>> = vec![
        serde_json::to_vec(
            &serde_json::json!({ "value": apps, "@odata.nextLink": "https://graph.microsoft.com/v1.0/applications?$skiptoken=X%27AB%27" }),
        )
        .unwrap(),
    ];
    seeds.push(serde_json::to_vec(&serde_json::json!({ "value": hostile_applications() })).unwrap());
    let tokens: &[&[u8]] = &[
        b"null",
        b"[]",
        b"{}",
        b"\"",
        b"9999-12-31T00:00:00Z",
        b"-1e999",
        b"\\u0000",
        b"\xff\xfe",
        b",",
        b":",
        b"true",
        b"\"keyId\":",
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xC0FFEE);
    let (mut ok, mut rejected) = (0, 0);
    for i in 0..20_000 {
        let mut input = seeds[i % seeds.len()].clone();
        for _ in 0..rng.random_range(1..6) {
            let pos = rng.random_range(0..=input.len());
            match rng.random_range(0..5) {
                0 if !input.is_empty() => {
                    let p = pos.min(input.len() - 1);
                    input[p] = rng.random();
                }
                1 => input.truncate(pos),
                2 => {
                    let t = tokens[rng.random_range(0..tokens.len())];
                    input.splice(pos..pos, t.iter().copied());
                }
                3 if !input.is_empty() => {
                    let end = (pos + rng.random_range(0..64)).min(input.len());
                    input.drain(pos.min(end)..end);
                }
                _ => {
                    let other = &seeds[rng.random_range(0..seeds.len())];
                    let from = rng.random_range(0..other.len());
                    let chunk = other[from..(from + 200).min(other.len())].to_vec();
                    input.splice(pos..pos, chunk);
                }
            }
        }
        match serde_json::from_slice::<ApplicationPage>(&input) {
            Ok(page) => {
                for app in page.value {
                    match app.into_domain() {
                        Ok(_) => ok += 1,
                        Err(e) => {
                            assert!(!e.is_empty());
                            rejected += 1
                        }
                    }
                }
            }
            Err(_) => rejected += 1,
        }
    }
    assert!(
        ok > 0 && rejected > 0,
        "the fuzzer explored both outcomes ({ok} ok, {rejected} rejected)"
    );
}

#[tokio::test]
async fn unreachable_slow_and_resetting_services_fail_within_bounds() {
    let mut w = World::new().await;
    w.tenant("prod", "tenant-prod", "client-prod");
    w.emu
        .set_applications("tenant-prod", generate_applications(22, 5, chrono::Utc::now()));
    w.file.sync().max_attempts = Some(2);
    w.file.sync().request_timeout_secs = Some(1);
    let url = w.emu.url();
    let dead = format!("http://127.0.0.1:{}", closed_port());

    // A listener that accepts and resets every connection.
    let reset = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let reset_url = format!("http://{}", reset.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in reset.incoming().flatten() {
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            drop(stream);
        }
    });

    let cases = [
        (
            "token endpoint unreachable",
            dead.clone(),
            url.clone(),
            "token endpoint unavailable after 2 attempt(s)",
        ),
        (
            "Graph unreachable",
            url.clone(),
            dead.clone(),
            "Microsoft Graph unavailable after 2 attempt(s)",
        ),
        (
            "Graph resets connections",
            url.clone(),
            reset_url.clone(),
            "Microsoft Graph unavailable after 2 attempt(s)",
        ),
    ];
    for (name, authority, graph, expected) in cases {
        let prod = w.file.environment("prod");
        prod.authority_host = Some(authority);
        prod.graph_url = Some(graph);
        let started = Instant::now();
        let r = w.try_sync().await;
        let err = r[0].result.as_ref().unwrap_err().to_string();
        assert!(err.contains(expected), "{name}: {err}");
        assert!(started.elapsed() < Duration::from_secs(5), "{name} took {:?}", started.elapsed());
    }

    // Graph slower than the request timeout.
    w.file.environment("prod").served_by(&url);
    w.emu.set_delay(Some(Duration::from_millis(1_500)));
    let started = Instant::now();
    let err = w.try_sync().await[0].result.as_ref().unwrap_err().to_string();
    assert!(err.contains("timed out") && err.contains("2 attempt"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(6), "{:?}", started.elapsed());
    w.emu.set_delay(None);
    assert!(w.try_sync().await[0].succeeded(), "recovers once Graph is fast again");
}

#[tokio::test]
async fn a_5xx_storm_in_one_environment_leaves_the_others_alone() {
    let mut w = World::new().await;
    w.tenant("prod", "tenant-prod", "client-prod");
    w.emu
        .set_applications("tenant-prod", generate_applications(23, 30, chrono::Utc::now()));
    // "test" lives on a second emulator (its own Graph) that is melting down.
    let stormy = Emulator::start().await.unwrap();
    stormy.register_client(
        "tenant-test",
        "client-test",
        ClientAuth::Secret {
            value: SECRET.into(),
            expired: false,
        },
    );
    stormy.set_applications("tenant-test", generate_applications(24, 30, chrono::Utc::now()));
    stormy.fail_requests(1_000, 500);
    let mut test = w.environment("test", "tenant-test", "client-test");
    test.served_by(&stormy.url());
    w.file.environments.push(test);
    let config = w.config();
    let store = w.store(&config).await;
    let reports = Syncer::new(&config, store.clone())
        .sync_all(None, &CancellationToken::new(), |_| {})
        .await;
    assert!(reports[0].succeeded(), "prod: {:?}", reports[0].result);
    let err = reports[1].result.as_ref().unwrap_err().to_string();
    assert!(err.contains("500") && err.contains("3 attempt"), "{err}");
    let graph_calls = stormy.requests().iter().filter(|r| r.path == "/v1.0/applications").count();
    assert_eq!(graph_calls, 3, "retries are bounded");
    let test_env = store.environment_by_name("test").await.unwrap();
    assert_eq!(store.recent_runs(test_env.id, 1).await.unwrap()[0].outcome, "failed");

    // The dashboard and the metrics say so; prod stays healthy.
    let app = TestApp::start(config).await;
    let metrics = Metrics::parse(&app.get("/metrics").await.text().await.unwrap());
    let failures = "credwatch_sync_failures_total";
    assert_eq!(metrics.value(failures, &[("environment", "test")]), 1.0);
    assert_eq!(metrics.value(failures, &[("environment", "prod")]), 0.0);
    let last_success = "credwatch_sync_last_success_timestamp_seconds";
    assert_eq!(metrics.value(last_success, &[("environment", "test")]), 0.0);
    let overview = app.page("/").await;
    let cards = overview.select("article.card");
    let test_card = cards
        .iter()
        .find(|c| !within(c, "h2 a[href='/environments/test']").is_empty())
        .expect("a card for test");
    let classes: Vec<&str> = test_card.value().classes().collect();
    assert!(
        classes.contains(&"health-never") || classes.contains(&"health-failing"),
        "{classes:?}"
    );
    assert_eq!(within(test_card, ".outcome-failed").len(), 1, "the last sync shows as failed");
    let error = within(test_card, ".error-detail pre");
    assert!(crate::support::parse::text(&error[0]).contains("500"), "the error is shown");
}

#[tokio::test]
async fn sigkill_during_sync_leaves_a_consistent_database() {
    let mut w = World::new().await;
    w.tenant("prod", "tenant-prod", "client-prod");
    w.emu
        .set_applications("tenant-prod", generate_applications(25, 6_000, chrono::Utc::now()));
    // Owners listed at every sync: pages of 100, so the listing has a middle to be killed in.
    w.file.sync().owners_refresh_hours = Some(0);
    let path = w.write_config();
    let cfg = path.to_str().unwrap();
    let (code, out, _) = w.run(&["sync", "--config", cfg]).await;
    assert_eq!(code, 0, "{out}");
    let full = live_keys(&w).await;
    // A bulk load rebuilds the secondary indexes it dropped, in the same transaction.
    let store = w.store(&w.config()).await;
    let (indexes,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN
         ('applications_env_name', 'applications_app_id', 'credentials_live_end', 'credentials_env_live_end')",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(indexes, 4);
    drop(store);
    // A third of the tenant goes away; a killed sync must leave either the old state
    // (transaction not committed) or the new one, never a mix.
    w.emu.update_applications("tenant-prod", |apps| apps.truncate(4_000));
    let consistent = async |w: &World, what: &str| {
        let store = w.store(&w.config()).await;
        let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check").fetch_one(store.pool()).await.unwrap();
        assert_eq!(check, "ok", "{what}");
        let now = live_keys(w).await;
        assert!(
            now == full || now.len() < full.len() && now.is_subset(&full),
            "{what}: a partial write survived the kill"
        );
        // open_store closed the killed run: none is left "running".
        let env = store.environment_by_name("prod").await.unwrap();
        assert!(store.recent_runs(env.id, 20).await.unwrap().iter().all(|r| r.outcome != "running"));
        now
    };

    // Killed mid-listing: page 20 answers 503, and the kill comes while the process waits to
    // retry it, with the pages before it staged. Nothing of them may show.
    w.emu.fail_page(20, 503, 1_000);
    let served = w.emu.requests().len();
    let mut sync = process::Running::start(&w, &["sync"]);
    let retry = sync
        .wait_for_log("the retry of page 20", |l| {
            l["level"] == "WARN" && l["status"] == 503 && l["message"].as_str().is_some_and(|m| m.contains("retrying"))
        })
        .await;
    sync.kill().await;
    let listed = w.emu.requests()[served..]
        .iter()
        .filter(|r| r.path == "/v1.0/applications" && r.status == 200)
        .count();
    assert_eq!(listed, 20, "killed while retrying page 20 ({retry})");
    assert_eq!(consistent(&w, "killed mid-listing").await, full, "the old state, exactly");
    w.emu.fail_page(20, 503, 0);

    // Killed as the last page of the listing is served: the process is staging it or applying
    // the whole listing in one transaction (or has just committed it).
    let served = w.emu.requests().len();
    let sync = process::Running::start(&w, &["sync"]);
    let pages = 4_000 / 100;
    let listed = w
        .emu
        .wait_for_requests(|log| log[served..].iter().filter(|r| r.path == "/v1.0/applications").count() >= pages);
    tokio::time::timeout(Duration::from_secs(60), listed)
        .await
        .unwrap_or_else(|_| panic!("the listing never completed:\n{}", sync.stderr()));
    sync.kill().await;
    let outcome = consistent(&w, "killed at the end of the listing").await;
    eprintln!(
        "killed at the end of the listing: {}",
        if outcome == full { "old state" } else { "new state" }
    );

    let (code, out, _) = w.run(&["sync", "--config", cfg]).await;
    assert_eq!(code, 0, "{out}");
    let after = live_keys(&w).await;
    assert!(
        after.is_subset(&full) && after.len() < full.len(),
        "the next sync applies the change"
    );
}

#[tokio::test]
async fn a_locked_database_fails_the_run_clearly_and_recovers() {
    let mut w = World::new().await;
    w.tenant("prod", "tenant-prod", "client-prod");
    w.emu
        .set_applications("tenant-prod", generate_applications(26, 20, chrono::Utc::now()));
    assert!(w.try_sync().await[0].succeeded());
    let before = live_keys(&w).await;
    w.emu.update_applications("tenant-prod", |apps| apps.truncate(10));

    // Another process holds the write lock longer than the busy timeout.
    let config = w.config();
    let store = w.store(&config).await;
    let syncer = Syncer::new(&config, store.clone());
    let mut locker = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(w.db_path())
        .connect()
        .await
        .unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut locker).await.unwrap();
    let r = syncer.sync_all(None, &CancellationToken::new(), |_| {}).await;
    let err = r[0].result.as_ref().unwrap_err().to_string();
    assert!(err.contains("locked"), "{err}");
    sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
    drop(locker);
    assert_eq!(live_keys(&w).await, before);
    let r = syncer.sync_all(None, &CancellationToken::new(), |_| {}).await;
    assert!(r[0].succeeded(), "{:?}", r[0].result);
    assert!(live_keys(&w).await.len() < before.len());
}

/// A tmpfs mounted for the test (root only); unmounted on drop.
struct TinyFs(std::path::PathBuf);

impl TinyFs {
    fn mount(dir: &std::path::Path, size: &str) -> Option<TinyFs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| TinyFs(dir.to_path_buf()))
    }

    fn remount(&self, opts: &str) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success(), "remount {opts}");
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A world of one tenant of 30 generated applications (`seed`) whose database lives on a 2 MB
/// tmpfs, or `None` where mounting one is not allowed (not root).
async fn on_a_tiny_disk(seed: u64) -> Option<(World, TinyFs)> {
    let mut w = World::new().await;
    let fs = TinyFs::mount(&w.dir.path().join("tiny"), "2m")?;
    w.tenant("prod", "tenant-prod", "client-prod");
    w.emu
        .set_applications("tenant-prod", generate_applications(seed, 30, chrono::Utc::now()));
    w.file.database.as_mut().unwrap().url = Some(format!("sqlite://{}", fs.0.join("credwatch.db").display()));
    Some((w, fs))
}

/// A write that fails on a full disk retires its connection (store/write.rs): once there is room
/// again, writes through every connection of the pool commit, as a second process reading the
/// file sees. (A connection left thinking it is still in a transaction SQLite already rolled back
/// would hold later writes in a savepoint that is never committed, or refuse them.)
#[tokio::test]
async fn writes_failed_on_a_full_disk_leave_no_connection_behind() {
    use credwatch::domain::{EventKind, Via};
    use credwatch::store::{Actor, CredentialAction, Store};
    let Some((w, fs)) = on_a_tiny_disk(31).await else {
        eprintln!("SKIPPED: mounting a tmpfs needs root");
        return;
    };
    let url = format!("sqlite://{}", fs.0.join("credwatch.db").display());
    let config = w.config();
    let store = w.store(&config).await;
    let synced = Syncer::new(&config, store.clone())
        .sync_all(None, &CancellationToken::new(), |_| {})
        .await;
    assert!(synced[0].succeeded(), "{:?}", synced[0].result);
    let ids: Vec<i64> = store
        .credentials(&CredentialFilter::default())
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    let now = credwatch::domain::Timestamp::from(chrono::Utc::now());
    let person = Actor {
        name: Some("ops@example.com".into()),
        via: Via::Dashboard,
        client_address: None,
    };

    // Full: more writes fail than the pool has connections, each saying why.
    let filler = fs.0.join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 4 << 20]);
    let many: Vec<i64> = ids.iter().cycle().take(2_000).copied().collect();
    let long_note = "n".repeat(400);
    for _ in 0..10 {
        let err = store
            .record_events(&many, EventKind::Escalated, Some(&long_note), now)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("disk is full"), "{err}");
    }

    // Room again: every write commits, whichever connection it gets.
    std::fs::remove_file(&filler).unwrap();
    fs.remount("size=64m");
    for (i, id) in ids.iter().take(10).enumerate() {
        store
            .record_events(&[*id], EventKind::Escalated, Some(&format!("after {i}")), now)
            .await
            .unwrap();
        store
            .act(*id, &CredentialAction::Acknowledge, &person, Some(&format!("ack {i}")), None, now)
            .await
            .unwrap();
    }
    let other = Store::connect(&url).await.unwrap();
    let (escalated, acknowledged): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM credential_events WHERE note LIKE 'after %'),
                (SELECT count(*) FROM credentials WHERE acknowledged_by = 'ops@example.com')",
    )
    .fetch_one(other.pool())
    .await
    .unwrap();
    assert_eq!((escalated, acknowledged), (10, 10), "committed, as another process sees");
    let (leftovers,): (i64,) = sqlx::query_as("SELECT count(*) FROM credential_events WHERE note = ?")
        .bind(&long_note)
        .fetch_one(other.pool())
        .await
        .unwrap();
    assert_eq!(leftovers, 0, "nothing of the failed writes");
}

#[tokio::test]
async fn a_full_or_read_only_disk_fails_the_run_clearly_and_recovers() {
    let Some((w, fs)) = on_a_tiny_disk(27).await else {
        eprintln!("SKIPPED: mounting a tmpfs needs root");
        return;
    };
    let db = fs.0.join("credwatch.db");
    let config = w.config();
    let store = w.store(&config).await;
    let syncer = Syncer::new(&config, store.clone());
    let run = async || syncer.sync_all(None, &CancellationToken::new(), |_| {}).await.remove(0);
    assert!(run().await.succeeded());
    let count = || async { store.credentials(&CredentialFilter::default()).await.unwrap().len() };
    let before = count().await;
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&db).unwrap().permissions().mode() & 0o777,
        0o600,
        "the database is readable by its owner only"
    );

    // Full: the tenant grows by thousands of applications while a filler takes the free space.
    w.emu
        .set_applications("tenant-prod", generate_applications(27, 3_000, chrono::Utc::now()));
    let filler = fs.0.join("filler");
    let _ = std::fs::write(&filler, vec![0u8; 4 << 20]);
    let err = run().await.result.unwrap_err().to_string();
    assert!(err.contains("disk is full"), "{err}");
    assert_eq!(count().await, before, "nothing changed");
    std::fs::remove_file(&filler).unwrap();
    fs.remount("size=64m");
    let r = run().await;
    assert!(r.succeeded(), "{:?}", r.result);
    let grown = count().await;
    assert!(grown > before);

    // Read-only: even root cannot write. credwatch refuses to start on it, saying why.
    store.pool().close().await;
    fs.remount("ro");
    let err = format!("{:#}", credwatch::startup::open_store(&config).await.unwrap_err());
    assert!(err.contains("read-only") || err.contains("readonly"), "{err}");
    fs.remount("rw");
    let store = w.store(&config).await;
    assert_eq!(
        store.credentials(&CredentialFilter::default()).await.unwrap().len(),
        grown,
        "nothing lost"
    );
    let r = Syncer::new(&config, store.clone())
        .sync_all(None, &CancellationToken::new(), |_| {})
        .await;
    assert!(r[0].succeeded(), "{:?}", r[0].result);
    let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check").fetch_one(store.pool()).await.unwrap();
    assert_eq!(check, "ok");
}
