//! Issue 13 against the files and the database: permissions an attacker on the same machine could
//! read through, and two processes doing the same job at once.

use chrono::{Duration, SecondsFormat, Utc};
use credwatch::config::Config;
use credwatch::reminders::{RemindError, try_remind};
use credwatch::startup::open_store;
use credwatch::store::Store;
use credwatch::sync::Syncer;
use credwatch_emulator::{Application, ClientAuth, Emulator, PasswordCredential};
use mailin_embedded::{Handler, Response, Server, SslConfig, response};
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use tokio_util::sync::CancellationToken;

const TENANT: &str = "11111111-1111-4111-8111-111111111111";
const CLIENT: &str = "cccccccc-cccc-4ccc-8ccc-cccccccccccc";
const SECRET: &str = "emulator-secret";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// An emulator whose tenant has one app with a secret ending in five days, and a temp dir.
struct World {
    emu: Emulator,
    dir: tempfile::TempDir,
}

impl World {
    async fn new() -> World {
        let emu = Emulator::start().await.unwrap();
        emu.add_tenant(TENANT);
        emu.register_client(
            TENANT,
            CLIENT,
            ClientAuth::Secret {
                value: SECRET.into(),
                expired: false,
            },
        );
        let end = (Utc::now() + Duration::days(5)).to_rfc3339_opts(SecondsFormat::Secs, true);
        emu.set_applications(
            TENANT,
            vec![Application {
                id: "00000001-0000-4000-8000-000000000000".into(),
                app_id: "aaaa0001-0000-4000-8000-000000000000".into(),
                display_name: Some("payments".into()),
                password_credentials: vec![PasswordCredential {
                    key_id: "5ec7e700-0000-4000-8000-000000000001".into(),
                    display_name: Some("prod secret".into()),
                    hint: Some("abc".into()),
                    start_date_time: Some("2025-01-01T00:00:00Z".into()),
                    end_date_time: Some(end),
                    custom_key_identifier: None,
                }],
                ..Default::default()
            }],
        );
        World {
            emu,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn config(&self, email: &str) -> Config {
        let text = format!(
            r#"
[database]
url = "sqlite://{db}"
[schedule]
sync = ""
remind = ""
{email}
[[environments]]
name = "prod"
tenant_id = "{TENANT}"
client_id = "{CLIENT}"
client_secret_env = "SECRET"
authority_host = "{emu}"
graph_url = "{emu}"
notify = ["oncall@example.com"]
"#,
            db = self.dir.path().join("credwatch.db").display(),
            emu = self.emu.url(),
        );
        Config::from_toml(&text, None, &|k| (k == "SECRET").then(|| SECRET.to_string())).unwrap()
    }

    async fn synced_store(&self, config: &Config) -> Store {
        let store = open_store(config).await.unwrap();
        let reports = Syncer::new(config, store.clone())
            .sync_all(None, &CancellationToken::new(), |_| {})
            .await;
        assert!(reports.iter().all(|r| r.succeeded()), "{reports:?}");
        store
    }
}

// ---- two reminder runs at once -----------------------------------------------------------------

/// An SMTP server that holds every message at the end of DATA until the test opens its gate, and
/// tells the test each time a message arrives there: a slow server without sleeping.
#[derive(Clone)]
struct Gated {
    open: Arc<(Mutex<bool>, Condvar)>,
    arrived: tokio::sync::mpsc::UnboundedSender<()>,
    received: Arc<Mutex<Vec<Vec<String>>>>,
    to: Vec<String>,
}

impl Handler for Gated {
    fn mail(&mut self, _ip: IpAddr, _domain: &str, _from: &str) -> Response {
        self.to.clear();
        response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        self.to.push(to.trim_matches(['<', '>']).to_ascii_lowercase());
        response::OK
    }

    fn data_end(&mut self) -> Response {
        let _ = self.arrived.send(());
        let (lock, opened) = &*self.open;
        let mut open = lock.lock().unwrap();
        while !*open {
            open = opened.wait(open).unwrap();
        }
        self.received.lock().unwrap().push(self.to.clone());
        response::OK
    }
}

impl Gated {
    fn start() -> (Gated, tokio::sync::mpsc::UnboundedReceiver<()>, u16) {
        let (arrived, arrivals) = tokio::sync::mpsc::unbounded_channel();
        let gated = Gated {
            open: Arc::new((Mutex::new(false), Condvar::new())),
            arrived,
            received: Arc::default(),
            to: Vec::new(),
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut server = Server::new(gated.clone());
        server
            .with_name("slow.test")
            .with_ssl(SslConfig::None)
            .unwrap()
            .with_tcp_listener(listener)
            .with_num_threads(4);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        (gated, arrivals, port)
    }

    fn open_gate(&self) {
        let (lock, opened) = &*self.open;
        *lock.lock().unwrap() = true;
        opened.notify_all();
    }

    fn digests_to(&self, address: &str) -> usize {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|to| to.iter().any(|t| t == address))
            .count()
    }
}

#[tokio::test]
async fn two_reminder_runs_at_once_send_each_digest_once() {
    let world = World::new().await;
    let (server, mut arrivals, port) = Gated::start();
    let config = Arc::new(world.config(&format!(
        "[email]\nurl = \"smtp://127.0.0.1:{port}\"\nfrom = \"credwatch@example.com\"\nto = [\"ops@example.com\"]\n"
    )));
    world.synced_store(&config).await;
    // Two handles on one database file, as two processes have.
    let (first_store, second_store) = (open_store(&config).await.unwrap(), open_store(&config).await.unwrap());
    let now = Utc::now();
    let first = {
        let config = config.clone();
        tokio::spawn(async move { try_remind(&first_store, &config, now, false).await })
    };
    arrivals.recv().await.expect("the first run reached the server");
    // The first run is in the middle of sending; the second starts now.
    let mut second = {
        let config = config.clone();
        tokio::spawn(async move { try_remind(&second_store, &config, now, false).await })
    };
    let second_result = tokio::select! {
        r = &mut second => Some(r.unwrap()),
        // Without a lease the second run sends the same digest and is held at the gate too.
        _ = arrivals.recv() => None,
    };
    server.open_gate();
    let first = first.await.unwrap().expect("the first run works");
    assert!(first.succeeded(), "{first}");
    assert_eq!(first.sent(), 2, "{first}");
    let second = match second_result {
        Some(r) => r,
        None => second.await.unwrap(),
    };
    match second {
        Err(RemindError::Busy(held)) => {
            let text = RemindError::Busy(held).to_string();
            assert!(text.contains("another credwatch") && text.contains("sent nothing"), "{text}");
        }
        other => panic!("the second run should have stood back: {other:?}"),
    }
    assert_eq!(server.digests_to("ops@example.com"), 1);
    assert_eq!(server.digests_to("oncall@example.com"), 1);
    // The lease was given back: a later run goes ahead (and finds nothing left to send).
    let later = try_remind(&open_store(&config).await.unwrap(), &config, now, false).await.unwrap();
    assert_eq!(later.digests.len(), 0, "{later}");
}

#[tokio::test]
async fn the_remind_command_says_another_process_is_sending() {
    let world = World::new().await;
    let outbox = world.dir.path().join("outbox");
    let email = format!(
        "[email]\ntransport = \"file\"\ndir = \"{}\"\nfrom = \"credwatch@example.com\"\nto = [\"ops@example.com\"]\n",
        outbox.display()
    );
    let config = world.config(&email);
    let store = world.synced_store(&config).await;
    let config_path = write_config(&world, &world.dir.path().join("credwatch.db"), &email);
    let now = Utc::now().timestamp();
    assert_eq!(
        store
            .try_lease("remind", "pid 1 on elsewhere", now, std::time::Duration::from_secs(300))
            .await
            .unwrap(),
        Ok(())
    );
    let out = run(&["remind", "--config", &config_path]).await;
    assert_eq!(out.0, 1, "{out:?}");
    assert!(out.2.contains("pid 1 on elsewhere") && out.2.contains("sent nothing"), "{out:?}");
    assert!(
        !outbox.exists() || std::fs::read_dir(&outbox).unwrap().next().is_none(),
        "nothing was written"
    );
    // An expired lease is taken over.
    store.release_lease("remind", "pid 1 on elsewhere").await.unwrap();
    assert_eq!(
        store
            .try_lease("remind", "pid 1 on elsewhere", now - 600, std::time::Duration::from_secs(300))
            .await
            .unwrap(),
        Ok(())
    );
    let out = run(&["remind", "--config", &config_path]).await;
    assert_eq!(out.0, 0, "{out:?}");
    assert_eq!(std::fs::read_dir(&outbox).unwrap().count(), 1, "one digest");
}

async fn run(args: &[&str]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_credwatch"));
    cmd.args(args).env_clear().env("SECRET", SECRET);
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_sync_stands_back_while_another_process_syncs_the_environment() {
    let world = World::new().await;
    let config = world.config("");
    let store = open_store(&config).await.unwrap();
    let now = Utc::now().timestamp();
    let hour = std::time::Duration::from_secs(3600);
    assert_eq!(store.try_lease("sync:prod", "pid 7 on elsewhere", now, hour).await.unwrap(), Ok(()));
    let syncer = Syncer::new(&config, store.clone());
    let reports = syncer.sync_all(None, &CancellationToken::new(), |_| {}).await;
    let error = reports[0].result.as_ref().expect_err("not synced while held");
    assert!(matches!(error, credwatch::sync::SyncError::Busy(_)), "{error:?}");
    let error = error.to_string();
    assert!(error.contains("pid 7 on elsewhere") && error.contains("sync:prod"), "{error}");
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_runs")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(runs, 0, "standing back records no run");
    // Held by someone else, renewing and releasing are refused; the holder itself may renew.
    assert!(!store.renew_lease("sync:prod", "me", now, hour).await.unwrap());
    assert!(store.renew_lease("sync:prod", "pid 7 on elsewhere", now, hour).await.unwrap());
    store.release_lease("sync:prod", "me").await.unwrap();
    assert!(store.try_lease("sync:prod", "me", now, hour).await.unwrap().is_err());
    // Once it has expired, the next sync takes it over, and gives it back afterwards.
    let reports = {
        sqlx::query("UPDATE leases SET expires_at = ?")
            .bind(now - 1)
            .execute(store.pool())
            .await
            .unwrap();
        syncer.sync_all(None, &CancellationToken::new(), |_| {}).await
    };
    assert!(reports[0].succeeded(), "{}", reports[0]);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM leases")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(left, 0, "released after the run");
}

// ---- file permissions -------------------------------------------------------------------------

#[tokio::test]
async fn outbox_messages_are_private() {
    let world = World::new().await;
    let outbox = world.dir.path().join("mail").join("outbox");
    let config = world.config(&format!(
        "[email]\ntransport = \"file\"\ndir = \"{}\"\nfrom = \"credwatch@example.com\"\nto = [\"ops@example.com\"]\n",
        outbox.display()
    ));
    let store = world.synced_store(&config).await;
    let report = try_remind(&store, &config, Utc::now(), false).await.unwrap();
    assert_eq!(report.sent(), 2, "{report}");
    assert_eq!(mode(&outbox), 0o700);
    let files: Vec<_> = std::fs::read_dir(&outbox).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 2);
    for f in files {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
        assert!(std::fs::read_to_string(&f).unwrap().contains("payments"));
    }
}

#[tokio::test]
async fn a_readable_database_is_made_private_with_its_wal_and_shm() {
    let world = World::new().await;
    let config = world.config("");
    let db = world.dir.path().join("credwatch.db");
    open_store(&config).await.unwrap().pool().close().await;
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run_with_umask("022", &["remind", "--dry-run", "--config", &write_config(&world, &db, "")]).await;
    assert_eq!(out.0, 0, "{out:?}");
    assert_eq!(mode(&db), 0o600);
    assert!(
        out.2.contains(&db.display().to_string()) && out.2.contains("0600"),
        "a log line names the file: {out:?}"
    );
    // SQLite removes the WAL and SHM at the last close: look at them while the database is open,
    // once left behind readable and once created afresh.
    for leftover in [true, false] {
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        for suffix in ["-wal", "-shm"] {
            let path = format!("{}{suffix}", db.display());
            if leftover {
                std::fs::write(&path, b"").unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            }
        }
        let store = open_store(&config).await.unwrap();
        store.ping().await.unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let path = format!("{}{suffix}", db.display());
            assert_eq!(mode(Path::new(&path)), 0o600, "{path} (left behind: {leftover})");
        }
        store.pool().close().await;
    }
}

#[tokio::test]
async fn the_database_directory_is_created_private_even_under_umask_000() {
    let world = World::new().await;
    let db = world.dir.path().join("state").join("deeper").join("credwatch.db");
    let out = run_with_umask("000", &["remind", "--dry-run", "--config", &write_config(&world, &db, "")]).await;
    assert_eq!(out.0, 0, "{out:?}");
    assert_eq!(mode(&world.dir.path().join("state")), 0o700);
    assert_eq!(mode(db.parent().unwrap()), 0o700);
    assert_eq!(mode(&db), 0o600);
}

/// Writes a config file for the binary: the world's environment, the database at `db`, `extra`.
fn write_config(world: &World, db: &Path, extra: &str) -> String {
    let path = world.dir.path().join("credwatch.toml");
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = \"sqlite://{}\"\n[schedule]\nsync = \"\"\nremind = \"\"\n{extra}\n[[environments]]\nname = \"prod\"\ntenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT}\"\nclient_secret_env = \"SECRET\"\nauthority_host = \"{url}\"\ngraph_url = \"{url}\"\n",
            db.display(),
            url = world.emu.url()
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// Runs the binary through `sh` with the given umask (umask is per process; setting it in this
/// test process would leak into the tests running beside it).
async fn run_with_umask(umask: &str, args: &[&str]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_credwatch"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SECRET", SECRET)
        .env("RUST_LOG", "info");
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
