//! The web side over real HTTP: the server as `serve` builds it, a SQLite file of its own per
//! test, data synced from the Graph emulator through the real `Syncer`.

#[path = "common/web.rs"]
mod fixture;

use credwatch_emulator::Emulator;
use credwatch::startup::Application;
use credwatch::store::Store;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::net::TcpListener;

struct TestApp {
    base: String,
    client: reqwest::Client,
    store: Store,
    config: credwatch::config::Config,
    emulator: Emulator,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl TestApp {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(format!("{}{path}", self.base)).send().await.expect("request")
    }

    async fn page(&self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8", "GET {path}");
        normalise_entities(&r.text().await.unwrap())
    }

    async fn json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    async fn credentials(&self, query: &str) -> Vec<Value> {
        self.json(&format!("/api/v1/credentials{query}")).await["credentials"]
            .as_array()
            .unwrap()
            .clone()
    }

    async fn resync(&self, only: &str) {
        let syncer = credwatch::sync::Syncer::new(&self.config, self.store.clone());
        let reports = syncer
            .sync_all(Some(only), &tokio_util::sync::CancellationToken::new(), |_| {})
            .await;
        assert!(reports[0].succeeded(), "{}", reports[0]);
    }
}

/// Starts the app; `synced` runs the fixture's syncs (dev and prod fine, test failing on its second).
async fn spawn(apps: usize, synced: bool) -> TestApp {
    let emulator = fixture::emulator(apps).await.expect("emulator");
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("credwatch.db").display());
    let config = fixture::config(&emulator.url(), &db, "127.0.0.1:0");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let app = Application::build(config.clone(), Some(listener)).await.expect("the app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let store = app.store().clone();
    if synced {
        fixture::sync(&config, &store, &emulator).await;
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        base,
        client: reqwest::Client::new(),
        store,
        config,
        emulator,
        _stop: stop,
        _dir: dir,
    }
}

/// Askama writes numeric character references; the assertions read the named ones. Turning one
/// into the other cannot create markup, so checks for raw `<` stay meaningful.
fn normalise_entities(html: &str) -> String {
    html.replace("&#60;", "&lt;")
        .replace("&#62;", "&gt;")
        .replace("&#38;", "&amp;")
        .replace("&#34;", "&quot;")
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

// ---- pages ---------------------------------------------------------------------------------

#[tokio::test]
async fn overview_shows_each_environment_what_needs_action_and_the_monitors_own_credential() {
    let app = spawn(30, true).await;
    let html = app.page("/").await;
    for env in ["dev", "prod", "test"] {
        assert!(
            html.contains(&format!("href=\"/environments/{env}\">{env}</a></h2>")),
            "card of {env}"
        );
    }
    assert!(html.contains("tenant-prod"));
    // test's second sync failed: its card says so, with the error, and never looks all clear.
    assert!(html.contains("Sync failing"));
    assert!(html.contains("The last sync failed"));
    assert!(html.contains("HTTP 503"));
    // credwatch's own secret in prod ends in 5 days: shown in its own section as critical.
    let own = &html[html
        .find("credwatch&#39;s own credentials")
        .or_else(|| html.find("credwatch's own credentials"))
        .expect("own section")..];
    let own = &own[..own.find("Needs action").unwrap()];
    assert!(
        own.contains("credwatch-2025") && own.contains("Critical") && own.contains("prod"),
        "{own}"
    );
    assert!(
        own.contains("c0ffee00-0000-4000-8000-000000000001"),
        "dev does not list credwatch's app: said so"
    );
    // Needs action: only expired, critical, warning; most urgent (earliest end) first.
    let needs = &html[html.find("id=\"needs-action\"").unwrap()..];
    let needs = &needs[..needs.find("</table>").unwrap()];
    assert!(count(needs, "<tr class=\"row-") > 0);
    assert_eq!(count(needs, "<tr class=\"row-ok"), 0);
    let ends: Vec<f64> = needs
        .split("<td data-value=\"")
        .skip(1)
        .step_by(3)
        .map(|s| s[..s.find('"').unwrap()].parse().unwrap())
        .collect();
    assert!(ends.windows(2).all(|w| w[0] <= w[1]), "most urgent first");
    let api_needing = app.credentials("?within_days=30").await.len();
    assert!(
        html.contains(&format!("Needs action <span class=\"muted\">({api_needing})")),
        "total matches the API"
    );
    // The chart and the calendar addresses.
    assert!(html.contains("<svg viewBox=\"0 0 760 240\""));
    assert!(html.contains("<rect class=\"series-"));
    assert!(html.contains("webcal://credwatch.example.com/calendar.ics?token=cal+token%2Fwith%2Bchars"));
    assert!(html.contains("https://credwatch.example.com/calendar/prod.ics?token=cal+token%2Fwith%2Bchars"));
    // The addresses shown are the ones the feed answers (the token survives its encoding).
    for path in [
        "/calendar.ics?token=cal+token%2Fwith%2Bchars",
        "/calendar/prod.ics?token=cal+token%2Fwith%2Bchars",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/calendar"), "{path}");
    }
}

#[tokio::test]
async fn environments_that_never_synced_or_synced_nothing_or_long_ago_never_look_all_clear() {
    let app = spawn(5, false).await;
    let html = app.page("/").await;
    assert_eq!(count(&html, "Never synced"), 3);
    assert!(!html.contains("All clear"));
    assert!(html.contains("Nothing synced yet."));

    // dev lists nothing at all; prod's last success is a day old.
    app.emulator.set_applications("tenant-dev", Vec::new());
    app.resync("dev").await;
    let prod = app.store.environment_by_name("prod").await.unwrap();
    let day_ago = credwatch::domain::Timestamp::from(chrono::Utc::now()).plus_days(-1);
    let run = app.store.begin_run(prod.id, day_ago).await.unwrap();
    app.store.apply_listing(prod.id, run, day_ago, 1, &[]).await.unwrap();
    let html = app.page("/").await;
    assert!(html.contains("No credentials listed"), "dev: empty");
    assert!(html.contains("Application.Read.All"));
    assert!(html.contains("health-stale"), "prod: stale");
    assert!(html.contains("1 days ago") || html.contains("24 h ago"));
    assert!(!html.contains("All clear"));
}

#[tokio::test]
async fn names_from_graph_are_escaped_everywhere_in_html() {
    let app = spawn(5, true).await;
    let hostile = "00000000-0000-4000-8000-000000000001";
    for path in [
        "/".to_string(),
        "/environments/prod?per_page=500".to_string(),
        "/environments/prod?q=script".to_string(),
        format!("/environments/prod/applications/{hostile}"),
    ] {
        let html = app.page(&path).await;
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path} shows the name, escaped"
        );
        assert!(!html.contains("<script>alert"), "{path} has a raw script tag");
        assert!(!html.contains("<b>"), "{path} has a raw hint");
        assert!(!html.contains("\"quoted\""), "{path} has raw quotes");
        // No inline script anywhere: a CSP without 'unsafe-inline' must not break the pages.
        assert_eq!(count(&html, "<script"), count(&html, "<script src=\"/static/app.js?v="), "{path}");
        assert!(!html.contains(" style="), "{path} has an inline style");
    }
}

#[tokio::test]
async fn inventory_paginates_searches_and_filters() {
    let app = spawn(60, true).await;
    let dev = app.credentials("?environment=dev").await;
    let total = dev.len();
    assert!(total > 60);
    let html = app.page("/environments/dev?per_page=10").await;
    assert_eq!(count(&html, "<tr class=\"row-"), 10);
    assert!(html.contains(&format!("1–10 of {total}")), "range");
    // Pages link to each other by cursor: next, next again, then back.
    let page2 = link(&html, "next").expect("next link");
    assert!(page2.starts_with("/environments/dev?per_page=10&page=2&after="), "{page2}");
    let html = app.page(&page2).await;
    assert!(html.contains(&format!("11–20 of {total}")));
    let page3 = link(&html, "next").unwrap();
    let html3 = app.page(&page3).await;
    assert!(html3.contains(&format!("21–30 of {total}")));
    let back = app.page(&link(&html3, "prev").unwrap()).await;
    assert_eq!(rows_of(&back), rows_of(&html), "prev returns the same rows");
    let first = app.page(&link(&html, "prev").unwrap()).await;
    assert_eq!(rows_of(&first), rows_of(&app.page("/environments/dev?per_page=10").await));
    // Paging by cursor and by offset agree, and every credential appears exactly once.
    let mut seen = Vec::new();
    let mut next = Some("/environments/dev?per_page=10".to_string());
    while let Some(path) = next {
        let html = app.page(&path).await;
        seen.extend(rows_of(&html));
        next = link(&html, "next");
    }
    let mut expected: Vec<String> = dev.iter().map(|c| c["key_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(seen.len(), expected.len());
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected);
    // The last page and past it.
    let last = total.div_ceil(10);
    let html = app.page(&format!("/environments/dev?per_page=10&page={last}")).await;
    assert_eq!(count(&html, "<tr class=\"row-"), total - (last - 1) * 10);
    assert!(!html.contains("rel=\"next\""));
    let html = app.page("/environments/dev?page=999").await;
    assert!(html.contains("Nothing on page 999"));

    // Status and kind filters agree with the API.
    for status in ["expired", "critical", "warning", "ok"] {
        let expected = dev.iter().filter(|c| c["status"] == status).count();
        let html = app.page(&format!("/environments/dev?status={status}&per_page=500")).await;
        assert_eq!(count(&html, "<tr class=\"row-"), expected, "{status}");
        assert_eq!(count(&html, &format!("<tr class=\"row-{status}\"")), expected, "{status}");
    }
    let certs = dev.iter().filter(|c| c["kind"] == "certificate").count();
    let html = app.page("/environments/dev?kind=certificate&per_page=500").await;
    assert_eq!(count(&html, "<tr class=\"row-"), certs);
    assert!(html.contains(&format!("of {certs}")));

    // Search by app name, case-insensitively; the query survives in the form and the links.
    let name = dev[0]["app_display_name"].as_str().unwrap().to_string();
    let matching = dev
        .iter()
        .filter(|c| {
            c["app_display_name"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains(&name.to_lowercase())
        })
        .count();
    let q = name.to_uppercase();
    let html = app.page(&format!("/environments/dev?q={}&per_page=500", url_encode(&q))).await;
    assert!(count(&html, "<tr class=\"row-") >= matching);
    assert!(html.contains(&format!("value=\"{}\"", q.replace('(', "&#40;").replace(')', "&#41;"))) || html.contains("name=\"q\" value=\""));
    let html = app.page("/environments/dev?q=no-such-thing-anywhere").await;
    assert!(html.contains("No credentials match."));

    // Errors render through the template.
    let r = app.get("/environments/nope").await;
    assert_eq!(r.status(), 404);
    let body = r.text().await.unwrap();
    assert!(body.contains("There is no environment named") && body.contains("</html>"));
    let r = app.get("/environments/dev?status=bogus").await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("is not a status"));
    let r = app.get("/environments/dev/applications/not-an-app").await;
    assert_eq!(r.status(), 404);
    let r = app.get("/no/such/page").await;
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("Not found"));
}

/// The href of the pager link `rel`, unescaped.
fn link(html: &str, rel: &str) -> Option<String> {
    let at = html.find(&format!("rel=\"{rel}\" href=\""))? + rel.len() + 13;
    Some(html[at..at + html[at..].find('"')?].replace("&amp;", "&"))
}

/// The key ids of an inventory page's rows, in order.
fn rows_of(html: &str) -> Vec<String> {
    html.split("<td class=\"mono small opt\">")
        .skip(1)
        .filter_map(|s| s.split('<').next())
        .filter(|s| s.len() == 36 && s.starts_with(|c: char| c.is_ascii_hexdigit()))
        .map(str::to_string)
        .collect::<Vec<_>>()
        .chunks(2)
        .map(|p| p[p.len() - 1].clone())
        .collect()
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn application_page_lists_credentials_with_history_and_the_portal_link() {
    let app = spawn(5, true).await;
    let object_id = "00000000-0000-4000-8000-000000000001";
    let path = format!("/environments/prod/applications/{object_id}");
    let html = app.page(&path).await;
    assert!(html.contains("https://portal.azure.com/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Credentials/appId/11111111-0000-4000-8000-000000000001"));
    assert!(html.contains("22222222-0000-4000-8000-000000000001") && html.contains("33333333-0000-4000-8000-000000000001"));
    assert!(html.contains("History: removed credentials <span class=\"muted\">(0)"));

    // The secret is rotated away: the next complete listing moves it to the history.
    app.emulator.update_applications("tenant-prod", |apps| {
        let a = apps.iter_mut().find(|a| a.id == object_id).unwrap();
        a.password_credentials.clear();
    });
    app.resync("prod").await;
    let html = app.page(&path).await;
    assert!(html.contains("History: removed credentials <span class=\"muted\">(1)"));
    let history = &html[html.find("History: removed").unwrap()..];
    assert!(history.contains("22222222-0000-4000-8000-000000000001"));
    let live = app.credentials("?environment=prod").await;
    assert!(!live.iter().any(|c| c["key_id"] == "22222222-0000-4000-8000-000000000001"));

    // credwatch's own app says what it is.
    let html = app
        .page("/environments/prod/applications/0b0b0b0b-0000-4000-8000-00000000c0de")
        .await;
    assert!(html.contains("This is credwatch"));
}

// ---- API -----------------------------------------------------------------------------------

#[tokio::test]
async fn credentials_api_has_the_spec_shape_and_filters() {
    let app = spawn(30, true).await;
    let all = app.credentials("").await;
    assert!(all.len() > 90);
    let keys: BTreeSet<&str> = [
        "environment",
        "app_object_id",
        "app_id",
        "app_display_name",
        "kind",
        "key_id",
        "display_name",
        "hint",
        "start",
        "end",
        "days_left",
        "status",
        // Issue 8, after SPEC.md's fields: app registration or enterprise app, exclusion, successor.
        "source",
        "excluded",
        "superseded_by",
    ]
    .into();
    let now = credwatch::domain::Timestamp::from(chrono::Utc::now());
    for c in &all {
        let obj = c.as_object().unwrap();
        assert_eq!(obj.keys().map(String::as_str).collect::<BTreeSet<_>>(), keys);
        assert!(["dev", "prod", "test"].contains(&c["environment"].as_str().unwrap()));
        assert!(["secret", "certificate"].contains(&c["kind"].as_str().unwrap()));
        assert!(c["display_name"].is_null() || c["display_name"].is_string());
        assert!(c["hint"].is_null() || c["hint"].is_string());
        let end = c["end"].as_str().unwrap();
        assert!(end.ends_with('Z'), "{end}");
        let end = credwatch::domain::Timestamp::parse(end).unwrap();
        let days = c["days_left"].as_i64().unwrap();
        assert_eq!(days, credwatch::domain::days_left(end, now), "{c}");
        let status = credwatch::domain::Thresholds::default().status(end, now);
        assert_eq!(c["status"], status.as_str());
        if let Some(start) = c["start"].as_str() {
            chrono::DateTime::parse_from_rfc3339(start).unwrap();
        }
    }
    let hostile = all
        .iter()
        .find(|c| c["app_display_name"] == "<script>alert(1)</script>")
        .expect("names as data");
    assert_eq!(hostile["hint"], "<b>");

    let prod = app.credentials("?environment=prod").await;
    assert!(!prod.is_empty() && prod.iter().all(|c| c["environment"] == "prod"));
    for status in ["expired", "critical", "warning", "ok"] {
        let got = app.credentials(&format!("?status={status}")).await;
        assert_eq!(got.len(), all.iter().filter(|c| c["status"] == status).count(), "{status}");
    }
    let soon = app.credentials("?within_days=14").await;
    assert_eq!(soon.len(), all.iter().filter(|c| c["days_left"].as_i64().unwrap() < 14).count());
    assert!(soon.iter().any(|c| c["status"] == "expired"), "expired ones included");
    let both = app.credentials("?environment=dev&status=critical&within_days=3").await;
    assert!(
        both.iter()
            .all(|c| c["environment"] == "dev" && c["status"] == "critical" && c["days_left"].as_i64().unwrap() < 3)
    );

    for (query, parameter) in [
        ("?status=bad", "status"),
        ("?within_days=abc", "within_days"),
        ("?within_days=-1", "within_days"),
        ("?environment=nope", "environment"),
        ("?kind=password", "kind"),
    ] {
        let r = app.get(&format!("/api/v1/credentials{query}")).await;
        assert_eq!(r.status(), 400, "{query}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["parameter"], parameter, "{query}");
        assert!(body["error"].as_str().unwrap().contains(parameter));
    }
}

#[tokio::test]
async fn environments_api_has_the_spec_shape() {
    let app = spawn(10, true).await;
    let body = app.json("/api/v1/environments").await;
    let envs = body["environments"].as_array().unwrap();
    assert_eq!(
        envs.iter().map(|e| e["name"].as_str().unwrap()).collect::<Vec<_>>(),
        ["dev", "prod", "test"]
    );
    let keys: BTreeSet<&str> = [
        "name",
        "tenant_id",
        "last_sync_at",
        "last_success_at",
        "last_error",
        "applications",
        "credentials",
    ]
    .into();
    for e in envs {
        assert_eq!(e.as_object().unwrap().keys().map(String::as_str).collect::<BTreeSet<_>>(), keys);
        chrono::DateTime::parse_from_rfc3339(e["last_sync_at"].as_str().unwrap()).unwrap();
        chrono::DateTime::parse_from_rfc3339(e["last_success_at"].as_str().unwrap()).unwrap();
        let name = e["name"].as_str().unwrap();
        let live = app.credentials(&format!("?environment={name}")).await.len() as i64;
        assert_eq!(e["credentials"].as_i64().unwrap(), live, "{name}");
    }
    assert_eq!(envs[0]["tenant_id"], "tenant-dev");
    assert_eq!(envs[0]["applications"], 10);
    assert_eq!(envs[1]["applications"], 10 + 10 + 1, "generated, hostile and credwatch's own");
    assert!(envs[0]["last_error"].is_null());
    assert!(envs[2]["last_error"].as_str().unwrap().contains("503"));

    let never = spawn(1, false).await;
    let body = never.json("/api/v1/environments").await;
    let e = &body["environments"][0];
    assert!(e["last_sync_at"].is_null() && e["last_success_at"].is_null() && e["last_error"].is_null());
    assert_eq!(e["credentials"], 0);
}

/// RFC 4180 fields, quotes and CRLF inside quotes included.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && row.is_empty(), "the CSV ends with a line break");
    rows
}

#[tokio::test]
async fn csv_export_has_the_same_rows_and_is_safe_in_a_spreadsheet() {
    let app = spawn(10, true).await;
    let r = app.get("/api/v1/credentials.csv?environment=prod").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let rows = parse_csv(&r.text().await.unwrap());
    let json = app.credentials("?environment=prod").await;
    assert_eq!(
        rows[0],
        [
            "environment",
            "app_object_id",
            "app_id",
            "app_display_name",
            "kind",
            "key_id",
            "display_name",
            "hint",
            "start",
            "end",
            "days_left",
            "status"
        ]
    );
    assert_eq!(rows.len() - 1, json.len());
    for (row, c) in rows[1..].iter().zip(&json) {
        assert_eq!(row.len(), 12);
        assert_eq!(row[5], c["key_id"].as_str().unwrap());
        assert_eq!(row[10], c["days_left"].to_string());
        assert_eq!(row[9], c["end"].as_str().unwrap());
        // Text cells never start like a formula; the original text is still there after the '.
        for (i, cell) in row.iter().enumerate().filter(|(i, _)| ![10].contains(i)) {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "cell {i}: {cell:?}");
        }
        let name = c["app_display_name"].as_str().unwrap_or("");
        assert!(row[3] == name || row[3] == format!("'{name}"), "{:?} vs {name:?}", row[3]);
    }
    let evil = rows.iter().find(|r| r[3].contains("HYPERLINK")).unwrap();
    assert_eq!(evil[3], "'=HYPERLINK(\"http://evil\",\"x\")");
    let crlf = rows.iter().find(|r| r[3].contains("Bcc")).unwrap();
    assert_eq!(crlf[3], "a\r\nBcc: victim@example.com", "line breaks stay inside one quoted cell");

    let r = app.get("/api/v1/credentials.csv?status=nope").await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn large_answers_stream_every_row_exactly_once() {
    // About 5,000 credentials: the API, its CSV and /metrics each go out in several batches.
    let app = spawn(800, true).await;
    let (live,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM credentials c JOIN environments e ON e.id = c.environment_id
         WHERE c.removed_at IS NULL AND e.retired_at IS NULL",
    )
    .fetch_one(app.store.pool())
    .await
    .unwrap();
    assert!(live > 2 * credwatch::web::stream::BATCH, "{live} credentials");

    // Seen for days, so that rotation awareness has something to say.
    sqlx::query("UPDATE credentials SET first_seen_at = first_seen_at - ?")
        .bind(3 * credwatch::domain::Timestamp::TICKS_PER_DAY)
        .execute(app.store.pool())
        .await
        .unwrap();
    let apps: Vec<(i64,)> = sqlx::query_as("SELECT id FROM applications")
        .fetch_all(app.store.pool())
        .await
        .unwrap();
    let siblings = app
        .store
        .live_credentials_of(&apps.into_iter().map(|(id,)| id).collect::<Vec<_>>())
        .await
        .unwrap();
    let superseded = credwatch::domain::supersession(&siblings, chrono::Utc::now().into()).len();
    assert!(superseded > 0, "the generated tenants rotate some credentials");

    let r = app.get("/api/v1/credentials").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-length").is_none(), "streamed, not buffered");
    let body: Value = r.json().await.unwrap();
    let all = body["credentials"].as_array().unwrap();
    assert_eq!(all.len() as i64, live);
    let keys: BTreeSet<(&str, &str, &str)> = all
        .iter()
        .map(|c| {
            (
                c["environment"].as_str().unwrap(),
                c["app_object_id"].as_str().unwrap(),
                c["key_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(keys.len(), all.len(), "no row twice");
    let ends: Vec<credwatch::domain::Timestamp> = all.iter().map(|c| c["end"].as_str().unwrap().parse().unwrap()).collect();
    assert!(ends.windows(2).all(|w| w[0] <= w[1]), "earliest end first across batches");
    // Rotation awareness holds across batch boundaries: the same as over all credentials at once.
    assert_eq!(all.iter().filter(|c| !c["superseded_by"].is_null()).count(), superseded);

    let csv = parse_csv(&app.get("/api/v1/credentials.csv").await.text().await.unwrap());
    assert_eq!(csv.len() as i64 - 1, live);
    let csv_keys: BTreeSet<(String, String, String)> = csv[1..].iter().map(|r| (r[0].clone(), r[1].clone(), r[5].clone())).collect();
    assert_eq!(csv_keys.len() as i64, live);

    let (samples, _) = parse_metrics(&app.get("/metrics").await.text().await.unwrap());
    let series: BTreeSet<(&str, &str)> = samples
        .iter()
        .filter(|s| s.0 == "credwatch_credential_expiry_timestamp_seconds")
        .map(|s| (s.1[0].1.as_str(), s.1[4].1.as_str()))
        .collect();
    assert_eq!(series.len() as i64, live);
    assert_eq!(
        samples
            .iter()
            .filter(|s| s.0 == "credwatch_credential_expiry_timestamp_seconds")
            .count() as i64,
        live
    );
}

// ---- metrics and assets --------------------------------------------------------------------

/// A Prometheus text-format sample: name, labels (unescaped) and value.
type Sample = (String, Vec<(String, String)>, f64);

/// Parses the text format strictly: every line is a HELP/TYPE comment or a valid sample.
fn parse_metrics(text: &str) -> (Vec<Sample>, HashMap<String, String>) {
    let mut samples = Vec::new();
    let mut types = HashMap::new();
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !n.starts_with(|c: char| c.is_ascii_digit())
    };
    assert!(text.ends_with('\n'));
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kind, name, value) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap_or(""));
            assert!(valid_name(name), "{line}");
            match kind {
                "HELP" => assert!(!value.is_empty()),
                "TYPE" => {
                    assert!(["gauge", "counter"].contains(&value), "{line}");
                    types.insert(name.to_string(), value.to_string());
                }
                _ => panic!("unexpected comment {line}"),
            }
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("no value: {line}"));
        let name = &line[..name_end];
        assert!(valid_name(name), "{line}");
        assert!(types.contains_key(name), "{name} has a TYPE line before its samples");
        let mut labels = Vec::new();
        let mut rest = &line[name_end..];
        if let Some(mut r) = rest.strip_prefix('{') {
            loop {
                let eq = r.find('=').unwrap_or_else(|| panic!("label without value: {line}"));
                let label = &r[..eq];
                assert!(valid_name(label), "{line}");
                r = r[eq + 1..]
                    .strip_prefix('"')
                    .unwrap_or_else(|| panic!("unquoted label value: {line}"));
                let mut value = String::new();
                let mut it = r.char_indices();
                let end = loop {
                    match it.next().unwrap_or_else(|| panic!("no closing quote: {line}")) {
                        (i, '"') => break i,
                        (_, '\\') => match it.next().unwrap().1 {
                            '\\' => value.push('\\'),
                            '"' => value.push('"'),
                            'n' => value.push('\n'),
                            c => panic!("bad escape \\{c} in {line}"),
                        },
                        (_, c) => value.push(c),
                    }
                };
                labels.push((label.to_string(), value));
                r = &r[end + 1..];
                if let Some(more) = r.strip_prefix(',') {
                    r = more;
                } else if let Some(done) = r.strip_prefix('}') {
                    rest = done;
                    break;
                } else {
                    panic!("unexpected text after a label in {line}");
                }
            }
        }
        let value = rest
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("no space before the value: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line}"));
        samples.push((name.to_string(), labels, value));
    }
    (samples, types)
}

#[tokio::test]
async fn metrics_parse_and_carry_the_spec_names() {
    let app = spawn(10, true).await;
    // One reminder recorded as sent, one skipped: only the sent one counts.
    let cred: (i64,) = sqlx::query_as("SELECT id FROM credentials LIMIT 1")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    sqlx::query("INSERT INTO reminders (credential_id, rung, recipient, outcome, decided_at) VALUES (?, 7, 'ops@example.com', 'sent', 1), (?, 14, '', 'skipped', 1)")
        .bind(cred.0)
        .bind(cred.0)
        .execute(app.store.pool())
        .await
        .unwrap();
    let r = app.get("/metrics").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let (samples, types) = parse_metrics(&r.text().await.unwrap());
    assert_eq!(types["credwatch_credential_expiry_timestamp_seconds"], "gauge");
    assert_eq!(types["credwatch_sync_last_success_timestamp_seconds"], "gauge");
    assert_eq!(types["credwatch_sync_failures_total"], "counter");
    assert_eq!(types["credwatch_reminders_sent_total"], "counter");

    let all = app.credentials("").await;
    let expiry: Vec<_> = samples
        .iter()
        .filter(|s| s.0 == "credwatch_credential_expiry_timestamp_seconds")
        .collect();
    assert_eq!(expiry.len(), all.len());
    for (_, labels, value) in &expiry {
        let names: Vec<&str> = labels.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["environment", "app_id", "app_name", "kind", "key_id"]);
        let key_id = &labels[4].1;
        let c = all
            .iter()
            .find(|c| c["key_id"] == key_id.as_str())
            .expect("every sample is a live credential");
        // Label values round-trip, hostile names included.
        assert_eq!(labels[2].1, c["app_display_name"].as_str().unwrap_or(""));
        assert_eq!(labels[0].1, c["environment"].as_str().unwrap());
        let end = chrono::DateTime::parse_from_rfc3339(c["end"].as_str().unwrap()).unwrap();
        let end = end.timestamp() as f64 + f64::from(end.timestamp_subsec_nanos()) / 1e9;
        assert!((*value - end).abs() < 1e-6, "{value} {end}");
    }
    for name in [
        "<script>alert(1)</script>",
        "\"quoted\" & 'apos'",
        "Evil;Name,With\\Backslash",
        "line1\nline2\tEND:VCALENDAR",
        "a\r\nBcc: victim@example.com",
    ] {
        assert!(expiry.iter().any(|s| s.1[2].1 == name), "{name:?} round-trips");
    }
    let value = |name: &str, env: Option<&str>| {
        samples
            .iter()
            .find(|s| s.0 == name && env.is_none_or(|e| s.1.iter().any(|(k, v)| k == "environment" && v == e)))
            .map(|s| s.2)
            .unwrap_or_else(|| panic!("{name} {env:?}"))
    };
    assert_eq!(value("credwatch_sync_failures_total", Some("test")), 1.0);
    assert_eq!(value("credwatch_sync_failures_total", Some("dev")), 0.0);
    let now = chrono::Utc::now().timestamp() as f64;
    assert!((now - value("credwatch_sync_last_success_timestamp_seconds", Some("prod"))).abs() < 120.0);
    assert_eq!(value("credwatch_reminders_sent_total", None), 1.0);
}

#[tokio::test]
async fn static_assets_are_embedded_and_cacheable() {
    let app = spawn(1, false).await;
    let html = app.page("/").await;
    let css = &html[html.find("/static/app.css?v=").unwrap()..];
    let css = &css[..css.find('"').unwrap()];
    let r = app.get(css).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/css; charset=utf-8");
    assert!(r.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    let etag = r.headers()["etag"].clone();
    assert!(r.text().await.unwrap().contains("prefers-color-scheme: dark"));
    let r = app
        .client
        .get(format!("{}{css}", app.base))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let r = app.get("/static/app.js").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(app.get("/static/nope.js").await.status(), 404);
    assert!(!html.contains("//cdn") && !html.contains("https://fonts"), "no third-party assets");
}
