//! The edge of the web side, over real HTTP against a real SQLite file with data synced from the
//! Graph emulator: query strings refused with a 400 naming the parameter, path segments encoded
//! in one way, a request id on every answer and on the log lines written for it, and a failing
//! database named by its class on the 500 page.

use crate::support::app::TestApp;
use crate::support::config::Email;
use crate::support::emu::{Application, PasswordCredential};
use crate::support::graph::{self, AppBuilder};
use crate::support::{CLIENT, PROD_TENANT, World, logs};
use credwatch::store::StoreError;
use credwatch::web::error::FailureClass;
use serde_json::Value;
use std::io::Write;
use std::path::Path;

/// An object id with every character a path segment must encode. Graph's are GUIDs; this one
/// stands for any name that reaches a URL.
const HOSTILE_ID: &str = "a b+c/d?e#f%g é";

fn secret(key: &str, name: &str, days: i64) -> PasswordCredential {
    PasswordCredential {
        hint: Some("abc".into()),
        ..graph::secret(key, name, graph::now() + graph::days(days))
    }
}

/// Three apps in prod; the hostile one has more owners than a listing expands, so its owners
/// are read from `/applications/{id}/owners` with its id in the path.
fn applications() -> Vec<Application> {
    let owners = (0..21)
        .map(|n| {
            graph::user(
                &format!("0000000{n:02}-0000-4000-8000-0000000000aa"),
                &format!("Owner {n}"),
                Some(&format!("owner{n}@example.com")),
            )
        })
        .collect();
    vec![
        Application {
            id: "0001-payroll".into(),
            ..graph::app(1, "Payroll").secrets(vec![secret("k-soon", "soon", 5), secret("k-later", "later", 200)])
        },
        Application {
            id: "0002-shop".into(),
            ..graph::app(2, "Shop").secrets(vec![secret("k-gone", "gone", -3)])
        },
        Application {
            id: HOSTILE_ID.into(),
            ..graph::app(3, "Reserved / characters ? # % + é")
                .secrets(vec![secret("k-hostile", "hostile", 20)])
                .owners(owners)
        },
    ]
}

/// prod listing [`applications`], synced into the world's database, which is then closed.
async fn seeded() -> World {
    let mut w = World::new().await;
    w.tenant("prod", PROD_TENANT, CLIENT);
    w.emu.set_applications(PROD_TENANT, applications());
    w.file.email = Some(Email {
        transport: Some("none".into()),
        ..Email::default()
    });
    w.file.sync().max_attempts = Some(1);
    w.sync_with(&w.config()).await.pool().close().await;
    w
}

/// Serves the world's database, as `serve` would, capturing the log.
async fn serve(w: &World) -> TestApp {
    logs::capture();
    TestApp::start(w.config()).await
}

/// A synced prod, served.
async fn synced() -> (TestApp, World) {
    let w = seeded().await;
    (serve(&w).await, w)
}

/// GET `path`, which must answer `status`: (content type, body).
async fn text(app: &TestApp, path: &str, status: u16) -> (String, String) {
    let r = app.get(path).await;
    assert_eq!(r.status(), status, "GET {path}");
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    (ct, r.text().await.unwrap())
}

// ---- query strings ---------------------------------------------------------------------------

#[tokio::test]
async fn api_parameters_are_typed_and_a_bad_one_is_a_400_naming_it() {
    let (app, _w) = synced().await;
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
    let (app, _w) = synced().await;
    for (query, parameter, says) in [
        ("status=soon", "status", "use one of expired, critical, warning, ok"),
        ("kind=key", "kind", "use secret or certificate"),
        ("page=two", "page", "is not a page number"),
        ("per_page=-5", "per_page", "is not a number of rows"),
        ("after=yesterday", "after", "is not a position in the list"),
        ("kind=secret&kind=certificate", "kind", "more than once"),
    ] {
        let (ct, html) = text(&app, &format!("/environments/prod?{query}"), 400).await;
        assert_eq!(ct, "text/html; charset=utf-8", "{query}");
        assert!(html.contains("Bad request"), "{query}");
        assert!(html.contains(&format!("“{parameter}”")) && html.contains(says), "{query}: {html}");
    }
    let long = "x".repeat(201);
    let (_, html) = text(&app, &format!("/environments/prod?q={long}"), 400).await;
    assert!(html.contains("“q”") && html.contains("at most 200"), "{html}");
    // The calendar reads only its token; a repeated one is refused in plain text.
    let (ct, text) = text(&app, "/calendar.ics?token=a&token=b", 400).await;
    assert_eq!(ct, "text/plain; charset=utf-8");
    assert!(text.contains("“token”") && text.contains("more than once"), "{text}");
}

#[tokio::test]
async fn a_huge_page_number_is_clamped_and_shown_as_asked_not_wrapped() {
    let (app, _w) = synced().await;
    let (_, html) = text(&app, "/environments/prod?page=9223372036854775807", 200).await;
    assert!(html.contains("Nothing on page 4,294,967,295; 4 match."), "{html}");
    assert!(html.contains("Page 4294967295 of 1"), "{html}");
    assert!(!html.contains("-9,223") && !html.contains("-922"), "no wrapped number");
    // "Previous" leads back to the last page there is, not to page 4,294,967,294.
    assert!(html.contains("rel=\"prev\" href=\"/environments/prod\""), "{html}");
    assert!(!html.contains("rel=\"next\""));
    let (_, html) = text(&app, "/environments/prod?page=0&per_page=100000", 200).await;
    assert!(html.contains("1–4 of 4"), "page 0 is page 1, per_page is capped");
}

// ---- path segments ---------------------------------------------------------------------------

#[tokio::test]
async fn ids_with_reserved_and_non_ascii_characters_are_encoded_once_and_round_trip() {
    let (app, w) = synced().await;
    // The sync read the hostile app's owners from its own path, the id encoded as one segment.
    let owners_calls: Vec<String> = w
        .emu
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/owners"))
        .map(|r| r.path)
        .collect();
    assert_eq!(owners_calls.len(), 1, "{owners_calls:?}");
    let encoded = "a%20b%2Bc%2Fd%3Fe%23f%25g%20%C3%A9";
    let href = format!("/environments/prod/applications/{encoded}");
    let (_, inventory) = text(&app, "/environments/prod", 200).await;
    assert!(inventory.contains(&format!("href=\"{href}\"")), "{inventory}");
    // Following the link finds the application: the id came back whole.
    let (_, page) = text(&app, &href, 200).await;
    assert!(page.contains("a b+c/d?e#f%g é"), "{page}");
    assert!(page.contains("owner20@example.com"), "all 21 owners were read");
    // A `+` in a path is a plus, never a space.
    text(&app, "/environments/prod/applications/a+b+c%2Fd%3Fe%23f%25g+%C3%A9", 404).await;
}

// ---- request ids -----------------------------------------------------------------------------

#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_plain_one_from_a_proxy_is_kept() {
    let (app, _w) = synced().await;
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
        .http
        .get(app.url("/healthz"))
        .header("X-Request-Id", "lb-4711.a")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "lb-4711.a");
    let r = app
        .http
        .get(app.url("/healthz"))
        .header("X-Request-Id", "x\" injected=yes")
        .send()
        .await
        .unwrap();
    assert_ne!(r.headers()["x-request-id"], "x\" injected=yes");
    // The log names the request, never its query string (the calendar token travels there).
    app.get("/calendar.ics?token=not-for-the-log").await;
    assert!(logs::lines_containing("not-for-the-log").is_empty());
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
    let w = seeded().await;
    corrupt_table(&w.db_path(), "credentials").await;
    let app = serve(&w).await;

    let r = app.get("/").await;
    assert_eq!(r.status(), 500);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let html = r.text().await.unwrap();
    assert!(
        html.contains("cannot read its database: the file is unreadable or damaged"),
        "{html}"
    );
    // No internals: not SQLite's words, not the query, not the file's path.
    for internal in ["malformed", "SELECT", "sqlite", w.dir.path().to_str().unwrap()] {
        assert!(!html.contains(internal), "the page leaks {internal:?}");
    }
    // The details are in the log, on a line that names this request.
    let lines = logs::lines_containing(&format!("request_id={id}"));
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
    let (app, w) = synced().await;
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", w.db_path().display()))
        .await
        .unwrap();
    sqlx::query("ALTER TABLE credentials RENAME COLUMN end_at TO ends")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let (_, html) = text(&app, "/environments/prod", 500).await;
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
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("credwatch.db").display());
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
