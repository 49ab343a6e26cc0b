//! The edge of the web side, over real HTTP against a real SQLite file with data synced from the
//! Graph emulator: query strings refused with a 400 naming the parameter, path segments encoded
//! in one way, a request id on every answer and on the log lines written for it, and a failing
//! database named by its class on the 500 page.

use credwatch::config::Config;
use credwatch::startup::Application as Service;
use credwatch::store::{Store, StoreError};
use credwatch::sync::Syncer;
use credwatch::web::error::FailureClass;
use credwatch_emulator::{Application, ClientAuth, DirectoryObject, Emulator, PasswordCredential};
use serde_json::{Value, json};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use tokio_util::sync::CancellationToken;

const SECRET: &str = "edge-test-secret";
const TENANT: &str = "tenant-prod";
const CLIENT: &str = "c0ffee00-0000-4000-8000-00000000edge";
/// An object id with every character a path segment must encode. Graph's are GUIDs; this one
/// stands for any name that reaches a URL.
const HOSTILE_ID: &str = "a b+c/d?e#f%g é";

// ---- log capture -----------------------------------------------------------------------------

/// Every log line of this test binary, as the text formatter writes it.
fn logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    static INIT: OnceLock<()> = OnceLock::new();
    let logs = LOGS.get_or_init(|| Mutex::new(Vec::new()));
    INIT.get_or_init(|| {
        tracing_subscriber::fmt()
            .with_env_filter("credwatch=debug")
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .init();
    });
    logs
}

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        logs().lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_lines_containing(needle: &str) -> Vec<String> {
    String::from_utf8_lossy(&logs().lock().unwrap())
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

// ---- the service under test ------------------------------------------------------------------

fn secret(key: &str, name: &str, days: i64) -> PasswordCredential {
    PasswordCredential {
        key_id: key.into(),
        display_name: Some(name.into()),
        hint: Some("abc".into()),
        start_date_time: Some("2025-01-01T00:00:00Z".into()),
        end_date_time: Some(
            (chrono::Utc::now() + chrono::Duration::days(days))
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string(),
        ),
        custom_key_identifier: None,
    }
}

fn owner(n: usize) -> DirectoryObject {
    DirectoryObject {
        odata_type: "#microsoft.graph.user".into(),
        id: format!("0000000{n:02}-0000-4000-8000-0000000000aa"),
        display_name: Some(format!("Owner {n}")),
        mail: Some(format!("owner{n}@example.com")),
        ..Default::default()
    }
}

/// Three apps in prod; the hostile one has more owners than a listing expands, so its owners
/// are read from `/applications/{id}/owners` with its id in the path.
fn applications() -> Vec<Application> {
    let app = |id: &str, n: u32, name: &str, creds: Vec<PasswordCredential>| Application {
        id: id.into(),
        app_id: format!("aaaa{n:04}-0000-4000-8000-000000000000"),
        display_name: Some(name.into()),
        password_credentials: creds,
        ..Default::default()
    };
    let mut hostile = app(
        HOSTILE_ID,
        3,
        "Reserved / characters ? # % + é",
        vec![secret("k-hostile", "hostile", 20)],
    );
    hostile.owners = (0..21).map(owner).collect();
    vec![
        app(
            "0001-payroll",
            1,
            "Payroll",
            vec![secret("k-soon", "soon", 5), secret("k-later", "later", 200)],
        ),
        app("0002-shop", 2, "Shop", vec![secret("k-gone", "gone", -3)]),
        hostile,
    ]
}

fn config(emulator: &str, database: &Path) -> Config {
    let text = toml::to_string(&json!({
        "database": { "url": format!("sqlite://{}", database.display()) },
        "schedule": { "sync": "", "remind": "" },
        "email": { "transport": "none" },
        "sync": { "max_attempts": 1, "request_timeout_secs": 10 },
        "environments": [{
            "name": "prod", "tenant_id": TENANT, "client_id": CLIENT, "client_secret_env": "SECRET",
            "authority_host": emulator, "graph_url": emulator,
        }],
    }))
    .expect("the config serialises");
    Config::from_toml(&text, None, &|k| (k == "SECRET").then(|| SECRET.to_string())).expect("the test config is valid")
}

async fn emulator() -> Emulator {
    let emu = Emulator::start().await.expect("the emulator starts");
    emu.add_tenant(TENANT);
    emu.register_client(
        TENANT,
        CLIENT,
        ClientAuth::Secret {
            value: SECRET.into(),
            expired: false,
        },
    );
    emu.set_applications(TENANT, applications());
    emu
}

/// Syncs prod into the database at `path` and closes it.
async fn seed(config: &Config) {
    let store = Store::connect(&config.database.url).await.expect("the store opens");
    store.register_environments(&config.environments).await.unwrap();
    let reports = Syncer::new(config, store.clone())
        .sync_all(None, &CancellationToken::new(), |_| {})
        .await;
    assert!(reports[0].succeeded(), "{}", reports[0]);
    store.pool().close().await;
}

struct TestApp {
    base: String,
    client: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TestApp {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.base)).send().await.expect("request")
    }

    async fn text(&self, path: &str, status: u16) -> (String, String) {
        let r = self.get(path).await;
        assert_eq!(r.status(), status, "GET {path}");
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        (ct, r.text().await.unwrap())
    }
}

/// Serves the database `config` names, as `serve` would.
async fn serve(config: Config) -> TestApp {
    logs();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let app = Service::build(config, Some(listener)).await.expect("the app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        base,
        client: reqwest::Client::new(),
        _stop: stop,
    }
}

/// A synced prod, served. The emulator and the directory live as long as the returned guard.
async fn synced() -> (TestApp, Emulator, tempfile::TempDir) {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(&emu.url(), &dir.path().join("credwatch.db"));
    seed(&config).await;
    (serve(config).await, emu, dir)
}

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("credwatch.db")
}

// ---- query strings ---------------------------------------------------------------------------

#[tokio::test]
async fn api_parameters_are_typed_and_a_bad_one_is_a_400_naming_it() {
    let (app, _emu, _dir) = synced().await;
    // Blank values are what a form sends for "any": absent, not wrong.
    let all = app.get("/api/v1/credentials?status=&kind=&within_days=&environment=").await;
    assert_eq!(all.status(), 200);
    let all: Value = all.json().await.unwrap();
    assert_eq!(all["credentials"].as_array().unwrap().len(), 4);
    let soon: Value = app.get("/api/v1/credentials?within_days=30").await.json().await.unwrap();
    let keys: Vec<&str> = soon["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key_id"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["k-gone", "k-soon", "k-hostile"]);

    for (query, parameter, says) in [
        ("status=soon", "status", "use one of expired, critical, warning, ok"),
        ("kind=password", "kind", "use secret or certificate"),
        ("within_days=-1", "within_days", "from 0 to 3000000"),
        ("within_days=3000001", "within_days", "from 0 to 3000000"),
        ("within_days=9223372036854775808", "within_days", "from 0 to 3000000"),
        ("environment=staging", "environment", "no environment is named \"staging\""),
        ("status=ok&status=expired", "status", "more than once"),
        ("within_days=7&within_days=", "within_days", "more than once"),
    ] {
        for path in ["/api/v1/credentials", "/api/v1/credentials.csv"] {
            let r = app.get(&format!("{path}?{query}")).await;
            assert_eq!(r.status(), 400, "{path}?{query}");
            assert_eq!(r.headers()["content-type"], "application/json", "{path}?{query}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["parameter"], parameter, "{path}?{query}: {body}");
            let error = body["error"].as_str().unwrap();
            assert!(error.contains(parameter) && error.contains(says), "{path}?{query}: {error}");
            assert!(!error.contains("Query deserialize error"), "{error}");
        }
    }
}

#[tokio::test]
async fn page_parameters_are_typed_and_a_bad_one_is_the_error_page_naming_it() {
    let (app, _emu, _dir) = synced().await;
    for (query, parameter, says) in [
        ("status=soon", "status", "use one of expired, critical, warning, ok"),
        ("kind=key", "kind", "use secret or certificate"),
        ("page=two", "page", "is not a page number"),
        ("per_page=-5", "per_page", "is not a number of rows"),
        ("after=yesterday", "after", "is not a position in the list"),
        ("kind=secret&kind=certificate", "kind", "more than once"),
    ] {
        let (ct, html) = app.text(&format!("/environments/prod?{query}"), 400).await;
        assert_eq!(ct, "text/html; charset=utf-8", "{query}");
        assert!(html.contains("Bad request"), "{query}");
        assert!(html.contains(&format!("“{parameter}”")) && html.contains(says), "{query}: {html}");
    }
    let long = "x".repeat(201);
    let (_, html) = app.text(&format!("/environments/prod?q={long}"), 400).await;
    assert!(html.contains("“q”") && html.contains("at most 200"), "{html}");
    // The calendar reads only its token; a repeated one is refused in plain text.
    let (ct, text) = app.text("/calendar.ics?token=a&token=b", 400).await;
    assert_eq!(ct, "text/plain; charset=utf-8");
    assert!(text.contains("“token”") && text.contains("more than once"), "{text}");
}

#[tokio::test]
async fn a_huge_page_number_is_clamped_and_shown_as_asked_not_wrapped() {
    let (app, _emu, _dir) = synced().await;
    let (_, html) = app.text("/environments/prod?page=9223372036854775807", 200).await;
    assert!(html.contains("Nothing on page 4,294,967,295; 4 match."), "{html}");
    assert!(html.contains("Page 4294967295 of 1"), "{html}");
    assert!(!html.contains("-9,223") && !html.contains("-922"), "no wrapped number");
    // "Previous" leads back to the last page there is, not to page 4,294,967,294.
    assert!(html.contains("rel=\"prev\" href=\"/environments/prod\""), "{html}");
    assert!(!html.contains("rel=\"next\""));
    let (_, html) = app.text("/environments/prod?page=0&per_page=100000", 200).await;
    assert!(html.contains("1–4 of 4"), "page 0 is page 1, per_page is capped");
}

// ---- path segments ---------------------------------------------------------------------------

#[tokio::test]
async fn ids_with_reserved_and_non_ascii_characters_are_encoded_once_and_round_trip() {
    let (app, emu, _dir) = synced().await;
    // The sync read the hostile app's owners from its own path, the id encoded as one segment.
    let owners_calls: Vec<String> = emu
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/owners"))
        .map(|r| r.path)
        .collect();
    assert_eq!(owners_calls.len(), 1, "{owners_calls:?}");
    let encoded = "a%20b%2Bc%2Fd%3Fe%23f%25g%20%C3%A9";
    let href = format!("/environments/prod/applications/{encoded}");
    let (_, inventory) = app.text("/environments/prod", 200).await;
    assert!(inventory.contains(&format!("href=\"{href}\"")), "{inventory}");
    // Following the link finds the application: the id came back whole.
    let (_, page) = app.text(&href, 200).await;
    assert!(page.contains("a b+c/d?e#f%g é"), "{page}");
    assert!(page.contains("owner20@example.com"), "all 21 owners were read");
    // A `+` in a path is a plus, never a space.
    app.text("/environments/prod/applications/a+b+c%2Fd%3Fe%23f%25g+%C3%A9", 404).await;
}

// ---- request ids -----------------------------------------------------------------------------

#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_plain_one_from_a_proxy_is_kept() {
    let (app, _emu, _dir) = synced().await;
    let mut seen = std::collections::HashSet::new();
    for path in [
        "/",
        "/healthz",
        "/api/v1/credentials",
        "/metrics",
        "/no-such-page",
        "/environments/prod?status=x",
    ] {
        let r = app.get(path).await;
        let id = r.headers().get("x-request-id").unwrap_or_else(|| panic!("{path}: no X-Request-Id"));
        let id = id.to_str().unwrap().to_string();
        assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{path}: {id}");
        assert!(seen.insert(id), "ids are unique");
        let _ = r.bytes().await;
    }
    let r = app
        .client
        .get(format!("{}/healthz", app.base))
        .header("X-Request-Id", "lb-4711.a")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "lb-4711.a");
    let r = app
        .client
        .get(format!("{}/healthz", app.base))
        .header("X-Request-Id", "x\" injected=yes")
        .send()
        .await
        .unwrap();
    assert_ne!(r.headers()["x-request-id"], "x\" injected=yes");
    // The log names the request, never its query string (the calendar token travels there).
    app.get("/calendar.ics?token=not-for-the-log").await;
    assert!(log_lines_containing("not-for-the-log").is_empty());
}

// ---- a failing database ----------------------------------------------------------------------

/// Overwrites every page of `table` and its indexes in the closed database at `path` with noise.
async fn corrupt_table(path: &Path, table: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await.unwrap();
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(&mut conn).await.unwrap();
    let roots: Vec<i64> = sqlx::query_scalar("SELECT rootpage FROM sqlite_master WHERE tbl_name = ? AND rootpage > 0")
        .bind(table)
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    assert!(!roots.is_empty());
    let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    for root in roots {
        use std::io::{Seek, SeekFrom};
        file.seek(SeekFrom::Start(((root - 1) * page_size) as u64)).unwrap();
        file.write_all(&vec![0xA5; page_size as usize]).unwrap();
    }
    file.sync_all().unwrap();
}

#[tokio::test]
async fn a_damaged_database_is_named_unreadable_on_the_500_page_and_logged_with_the_request_id() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(&emu.url(), &db_path(&dir));
    seed(&config).await;
    corrupt_table(&db_path(&dir), "credentials").await;
    let app = serve(config).await;

    let r = app.get("/").await;
    assert_eq!(r.status(), 500);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let html = r.text().await.unwrap();
    assert!(
        html.contains("cannot read its database: the file is unreadable or damaged"),
        "{html}"
    );
    // No internals: not SQLite's words, not the query, not the file's path.
    for internal in ["malformed", "SELECT", "sqlite", dir.path().to_str().unwrap()] {
        assert!(!html.contains(internal), "the page leaks {internal:?}");
    }
    // The details are in the log, on a line that names this request.
    let lines = log_lines_containing(&format!("request_id={id}"));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("a page failed") && l.contains("database_unreadable") && l.contains("malformed")),
        "{lines:#?}"
    );

    let r = app.get("/api/v1/credentials").await;
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["class"], "database_unreadable", "{body}");
}

#[tokio::test]
async fn a_database_from_another_schema_is_named_on_the_500_page() {
    let (app, _emu, dir) = synced().await;
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db_path(&dir).display()))
        .await
        .unwrap();
    sqlx::query("ALTER TABLE credentials RENAME COLUMN end_at TO ends")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let (_, html) = app.text("/environments/prod", 500).await;
    assert!(html.contains("does not match this version of credwatch"), "{html}");
    assert!(!html.contains("end_at") && !html.contains("no such column"), "no internals");
    let r = app.get("/api/v1/credentials?status=ok").await;
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["class"], "database_schema", "{body}");
}

#[tokio::test]
async fn a_locked_database_is_told_apart_from_a_damaged_one() {
    use sqlx::Connection;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
    use std::str::FromStr;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", db_path(&dir).display());
    let options = SqliteConnectOptions::from_str(&url)
        .unwrap()
        .busy_timeout(std::time::Duration::ZERO)
        // A rollback journal: in WAL mode a writer's lock does not stop readers.
        .journal_mode(SqliteJournalMode::Delete);
    let mut holder = sqlx::SqliteConnection::connect_with(&options).await.unwrap();
    sqlx::query("CREATE TABLE t (x)").execute(&mut holder).await.unwrap();
    let mut other = sqlx::SqliteConnection::connect_with(&options).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut holder).await.unwrap();
    let error = sqlx::query("SELECT * FROM t").fetch_all(&mut other).await.unwrap_err();
    let error = StoreError::Db { context: "reading", error };
    assert_eq!(FailureClass::of(&error), FailureClass::Locked, "{error}");
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
}
