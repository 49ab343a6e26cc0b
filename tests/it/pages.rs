//! The dashboard's pages over real HTTP, read with an HTML parser: the server as `serve` builds
//! it, a SQLite file of its own per test, data synced from the Graph emulator.

use crate::support::fixture::serve;
use crate::support::parse::{Page, text, within};
use serde_json::Value;

const HOSTILE_APP: &str = "00000000-0000-4000-8000-000000000001";

#[tokio::test]
async fn overview_shows_each_environment_what_needs_action_and_the_monitors_own_credential() {
    let (_w, app) = serve(30, true).await;
    let page = app.page("/").await;
    let cards: Vec<(String, Option<String>)> = page
        .select("article.card h2 a")
        .iter()
        .map(|a| (text(a), a.value().attr("href").map(str::to_string)))
        .collect();
    let expected: Vec<(String, Option<String>)> = ["dev", "prod", "test"]
        .iter()
        .map(|e| (e.to_string(), Some(format!("/environments/{e}"))))
        .collect();
    assert_eq!(cards, expected, "a card per environment");
    let all = page.text();
    assert!(all.contains("tenant-prod"));
    // test's second sync failed: its card says so, with the error, and never looks all clear.
    let test = &page.select("article.card")[2];
    assert!(text(test).contains("Sync failing"), "{}", text(test));
    assert!(text(test).contains("The last sync failed"));
    assert!(text(&within(test, ".error-detail pre")[0]).contains("HTTP 503"));
    // credwatch's own secret in prod ends in 5 days: shown in its own section as critical.
    let own = page.one("section.own");
    let rows = within(&own, "tbody tr");
    assert_eq!(rows.len(), 1, "{}", text(&own));
    let row = text(&rows[0]);
    assert!(
        row.contains("credwatch-2025") && row.contains("Critical") && row.contains("prod"),
        "{row}"
    );
    assert!(
        text(&own).contains("c0ffee00-0000-4000-8000-000000000001"),
        "dev does not list credwatch's app: said so"
    );
    // Needs action: only expired, critical, warning; most urgent (earliest end) first.
    let needs = page.select("#needs-action tbody tr");
    assert!(!needs.is_empty());
    assert_eq!(page.count("#needs-action tbody tr.row-ok"), 0);
    let ends: Vec<f64> = needs
        .iter()
        .map(|r| within(r, "td[data-value]")[0].value().attr("data-value").unwrap().parse().unwrap())
        .collect();
    // Issue 14, usage unknown here: what is about to expire first (soonest first), then what
    // already expired (latest first), instead of months-old expiries on top.
    let now = chrono::Utc::now().timestamp() as f64;
    let split = ends.iter().position(|e| *e <= now).unwrap_or(ends.len());
    assert!(split > 0 && split < ends.len(), "both kinds are there");
    assert!(
        ends[..split].windows(2).all(|w| w[0] <= w[1] && w[1] > now),
        "expiring: soonest first"
    );
    assert!(ends[split..].windows(2).all(|w| w[0] >= w[1]), "expired: latest first");
    let api_needing = app.credentials("?within_days=30").await.len();
    assert_eq!(
        page.texts("#na-h"),
        [format!("Needs action ({api_needing})")],
        "total matches the API"
    );
    assert_eq!(page.count("#cleanup-h"), 0, "usage unknown: nothing is known to be unused");
    // The chart and the calendar addresses.
    assert_eq!(page.count("svg[viewBox='0 0 760 240']"), 1);
    assert!(page.count("svg rect[class^='series-']") > 0);
    for address in [
        "webcal://credwatch.example.com/calendar.ics?token=cal+token%2Fwith%2Bchars",
        "https://credwatch.example.com/calendar/prod.ics?token=cal+token%2Fwith%2Bchars",
    ] {
        assert!(all.contains(address), "{address}");
    }
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
    let (w, app) = serve(5, false).await;
    let page = app.page("/").await;
    let health = page.texts("article.card .badge.health");
    assert_eq!(health.iter().filter(|h| h.contains("Never synced")).count(), 3, "{health:?}");
    assert!(!page.text().contains("All clear"));
    assert!(page.text().contains("Nothing synced yet."));

    // dev lists nothing at all; prod's last success is a day old.
    w.emu.set_applications("tenant-dev", Vec::new());
    app.sync(Some("dev")).await;
    let prod = app.store.environment_by_name("prod").await.unwrap();
    let day_ago = credwatch::domain::Timestamp::from(chrono::Utc::now()).plus_days(-1);
    let run = app.store.begin_run(prod.id, day_ago).await.unwrap();
    app.store.apply_listing(prod.id, run, day_ago, 1, &[]).await.unwrap();
    let page = app.page("/").await;
    let cards = page.select("article.card");
    let dev = text(&cards[0]);
    assert!(
        dev.contains("No credentials listed") && dev.contains("Application.Read.All"),
        "{dev}"
    );
    assert!(cards[1].value().classes().any(|c| c == "health-stale"), "prod: stale");
    let prod = text(&cards[1]);
    assert!(prod.contains("1 days ago") || prod.contains("24 h ago"), "{prod}");
    assert!(!page.text().contains("All clear"));
}

#[tokio::test]
async fn names_from_graph_are_escaped_everywhere_in_html() {
    let (_w, app) = serve(5, true).await;
    for path in [
        "/".to_string(),
        "/environments/prod?per_page=500".to_string(),
        "/environments/prod?q=script".to_string(),
        format!("/environments/prod/applications/{HOSTILE_APP}"),
    ] {
        let page = app.page(&path).await;
        // The names arrive as text, whole; none became an element or an attribute.
        assert!(page.text().contains("<script>alert(1)</script>"), "{path} shows the name as text");
        assert!(!page.raw.contains("<script>alert"), "{path} has a raw script tag");
        assert_eq!(page.count("b"), 0, "{path}: a hint became markup");
        assert!(!page.raw.contains("\"quoted\""), "{path} has raw quotes");
        // No inline script anywhere: a CSP without 'unsafe-inline' must not break the pages.
        let scripts: Vec<&str> = page.select("script").iter().map(|s| s.value().attr("src").unwrap_or("")).collect();
        assert!(scripts.iter().all(|s| s.starts_with("/static/app.js?v=")), "{path}: {scripts:?}");
        assert_eq!(page.count("[style]"), 0, "{path} has an inline style");
    }
}

/// The key ids of an inventory page's rows, in order.
fn key_ids(page: &Page) -> Vec<String> {
    page.texts("#inventory tbody tr td:nth-child(5)")
}

/// The href of the pager link `rel`.
fn pager(page: &Page, rel: &str) -> Option<String> {
    page.attr(&format!("nav.pager a[rel={rel}]"), "href")
}

fn rows(page: &Page) -> usize {
    page.count("#inventory tbody tr")
}

#[tokio::test]
async fn inventory_paginates_searches_and_filters() {
    let (_w, app) = serve(60, true).await;
    let dev = app.credentials("?environment=dev").await;
    let total = dev.len();
    assert!(total > 60);
    let first = app.page("/environments/dev?per_page=10").await;
    assert_eq!(rows(&first), 10);
    assert_eq!(page_range(&first), format!("1–10 of {total}"));
    // Pages link to each other by cursor: next, next again, then back.
    let page2 = pager(&first, "next").expect("next link");
    assert!(page2.starts_with("/environments/dev?per_page=10&page=2&after="), "{page2}");
    let second = app.page(&page2).await;
    assert_eq!(page_range(&second), format!("11–20 of {total}"));
    let third = app.page(&pager(&second, "next").unwrap()).await;
    assert_eq!(page_range(&third), format!("21–30 of {total}"));
    let back = app.page(&pager(&third, "prev").unwrap()).await;
    assert_eq!(key_ids(&back), key_ids(&second), "prev returns the same rows");
    let back = app.page(&pager(&second, "prev").unwrap()).await;
    assert_eq!(key_ids(&back), key_ids(&first));
    // Every credential appears exactly once across the pages.
    let mut seen = Vec::new();
    let mut next = Some("/environments/dev?per_page=10".to_string());
    while let Some(path) = next {
        let page = app.page(&path).await;
        seen.extend(key_ids(&page));
        next = pager(&page, "next");
    }
    let mut expected: Vec<String> = dev.iter().map(|c| c["key_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(seen.len(), expected.len());
    seen.sort();
    expected.sort();
    assert_eq!(seen, expected);
    // The last page and past it.
    let last = total.div_ceil(10);
    let page = app.page(&format!("/environments/dev?per_page=10&page={last}")).await;
    assert_eq!(rows(&page), total - (last - 1) * 10);
    assert_eq!(pager(&page, "next"), None);
    let page = app.page("/environments/dev?page=999").await;
    assert!(page.text().contains("Nothing on page 999"));

    // Status and kind filters agree with the API.
    for status in ["expired", "critical", "warning", "ok"] {
        let expected = dev.iter().filter(|c| c["status"] == status).count();
        let page = app.page(&format!("/environments/dev?status={status}&per_page=500")).await;
        assert_eq!(rows(&page), expected, "{status}");
        assert_eq!(page.count(&format!("#inventory tbody tr.row-{status}")), expected, "{status}");
    }
    let certs = dev.iter().filter(|c| c["kind"] == "certificate").count();
    let page = app.page("/environments/dev?kind=certificate&per_page=500").await;
    assert_eq!(rows(&page), certs);
    assert!(page_range(&page).ends_with(&format!("of {certs}")));

    // Search by app name, case-insensitively; the query survives in the form.
    let name = dev[0]["app_display_name"].as_str().unwrap().to_string();
    let matching = dev
        .iter()
        .filter(|c| app_name(c).to_lowercase().contains(&name.to_lowercase()))
        .count();
    let q = name.to_uppercase();
    let page = app.page(&format!("/environments/dev?q={}&per_page=500", url_encode(&q))).await;
    assert!(rows(&page) >= matching);
    assert_eq!(page.attr("input[name=q]", "value").as_deref(), Some(q.as_str()));
    let page = app.page("/environments/dev?q=no-such-thing-anywhere").await;
    assert!(page.text().contains("No credentials match."));

    // Errors render through the template.
    let r = app.get("/environments/nope").await;
    assert_eq!(r.status(), 404);
    let page = Page::parse(&r.text().await.unwrap());
    assert!(page.text().contains("There is no environment named"));
    assert_eq!(page.count("head title"), 1, "a whole page");
    let r = app.get("/environments/dev?status=bogus").await;
    assert_eq!(r.status(), 400);
    assert!(Page::parse(&r.text().await.unwrap()).text().contains("is not a status"));
    let r = app.get("/environments/dev/applications/not-an-app").await;
    assert_eq!(r.status(), 404);
    let r = app.get("/no/such/page").await;
    assert_eq!(r.status(), 404);
    assert!(Page::parse(&r.text().await.unwrap()).text().contains("Not found"));
}

fn page_range(page: &Page) -> String {
    page.texts("#range").concat()
}

fn app_name(c: &Value) -> &str {
    c["app_display_name"].as_str().unwrap_or("")
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn application_page_lists_credentials_with_history_and_the_portal_link() {
    let (w, app) = serve(5, true).await;
    let path = format!("/environments/prod/applications/{HOSTILE_APP}");
    let page = app.page(&path).await;
    let portal = "https://portal.azure.com/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Credentials/appId/11111111-0000-4000-8000-000000000001";
    assert_eq!(page.count(&format!("a[href='{portal}']")), 1);
    let live = page.texts("section[aria-labelledby=live-h] tbody tr td:nth-child(3)");
    for key in ["22222222-0000-4000-8000-000000000001", "33333333-0000-4000-8000-000000000001"] {
        assert!(live.iter().any(|k| k.starts_with(key)), "{key} in {live:?}");
    }
    assert_eq!(page.texts("#hist-h"), ["History: removed credentials (0)"]);

    // The secret is rotated away: the next complete listing moves it to the history.
    w.emu.update_applications("tenant-prod", |apps| {
        let a = apps.iter_mut().find(|a| a.id == HOSTILE_APP).unwrap();
        a.password_credentials.clear();
    });
    app.sync(Some("prod")).await;
    let page = app.page(&path).await;
    assert_eq!(page.texts("#hist-h"), ["History: removed credentials (1)"]);
    assert_eq!(
        page.texts("section[aria-labelledby=hist-h] tbody tr td:nth-child(3)"),
        ["22222222-0000-4000-8000-000000000001"]
    );
    let live = app.credentials("?environment=prod").await;
    assert!(!live.iter().any(|c| c["key_id"] == "22222222-0000-4000-8000-000000000001"));

    // credwatch's own app says what it is.
    let page = app
        .page("/environments/prod/applications/0b0b0b0b-0000-4000-8000-00000000c0de")
        .await;
    assert!(page.texts(".app-head .problem").concat().contains("This is credwatch"));
}

#[tokio::test]
async fn static_assets_are_embedded_and_cacheable() {
    let (_w, app) = serve(1, false).await;
    let page = app.page("/").await;
    let css = page.attr("link[rel=stylesheet]", "href").expect("a stylesheet");
    assert!(css.starts_with("/static/app.css?v="), "{css}");
    let r = app.get(&css).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/css; charset=utf-8");
    assert!(r.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    let etag = r.headers()["etag"].clone();
    assert!(r.text().await.unwrap().contains("prefers-color-scheme: dark"));
    let r = app.http.get(app.url(&css)).header("if-none-match", etag).send().await.unwrap();
    assert_eq!(r.status(), 304);
    let r = app.get("/static/app.js").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(app.get("/static/nope.js").await.status(), 404);
    // No third-party assets: everything the page loads comes from this server.
    for (css, attr) in [("link[href]", "href"), ("script[src]", "src"), ("img[src]", "src")] {
        for e in page.select(css) {
            let url = e.value().attr(attr).unwrap();
            assert!(url.starts_with('/') && !url.starts_with("//"), "{url}");
        }
    }
}
