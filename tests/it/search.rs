//! The inventory's search: served by the trigram index (migrations/0008_search.sql), it answers
//! what a substring scan of the four searched fields answers, and every sync keeps it in step
//! (first syncs that bulk-load included).

use crate::support::app::TestApp;
use crate::support::emu::{Application, generate_applications};
use crate::support::graph::{app, cert, days, now, secret};
use crate::support::{CLIENT, PROD_TENANT, World};
use credwatch::domain::Credential;
use credwatch::store::{CredentialFilter, Store};
use std::collections::BTreeSet;

/// Names that put the index's corners to work: case, punctuation LIKE treats specially, quotes
/// FTS5 treats specially, multi-byte text, and words that only meet across two fields.
fn tricky() -> Vec<Application> {
    let when = now() + days(40);
    let mut apps = vec![
        app(1, "Orders API (prod)"),
        app(2, "orders-worker"),
        app(3, "Zahlungsdienst ÄÖÜ"),
        app(4, "東京 payroll"),
        app(5, "100% ready_now"),
        app(6, "back\\slash and \"quoted\" name"),
        app(7, "Fabrikam prod"),
    ];
    apps[0].password_credentials = vec![secret("a0000001-0000-4000-8000-00000000c001", "deploy key", when)];
    apps[1].key_credentials = vec![cert("a0000002-0000-4000-8000-00000000c002", "CN=orders.tricky.example", when)];
    apps[2].password_credentials = vec![secret("a0000003-0000-4000-8000-00000000c003", "Schlüssel", when)];
    apps[3].password_credentials = vec![secret("a0000004-0000-4000-8000-00000000c004", "給与 key", when)];
    apps[4].password_credentials = vec![secret("a0000005-0000-4000-8000-00000000c005", "50%_off", when)];
    apps[5].password_credentials = vec![secret("a0000006-0000-4000-8000-00000000c006", "it's \"it\"", when)];
    apps[6].password_credentials = vec![secret("a0000007-0000-4000-8000-00000000c007", "aaaa", when)];
    apps
}

/// What a scan finds: the credentials with `term` in one of the four fields, case folded.
fn scanned(all: &[Credential], term: &str) -> BTreeSet<i64> {
    let t = term.to_lowercase();
    let has = |s: &str| s.to_lowercase().contains(&t);
    all.iter()
        .filter(|c| {
            c.app_display_name.as_deref().is_some_and(has) || has(&c.app_id) || c.display_name.as_deref().is_some_and(has) || has(&c.key_id)
        })
        .map(|c| c.id)
        .collect()
}

async fn searched(store: &Store, term: &str) -> BTreeSet<i64> {
    let filter = CredentialFilter {
        search: Some(term.to_string()),
        ..Default::default()
    };
    store.credentials(&filter).await.unwrap().iter().map(|c| c.id).collect()
}

/// Asserts the store's search answers what a scan of `all` does, for each term; returns how
/// many each found.
async fn same_as_scan(store: &Store, all: &[Credential], terms: &[&str]) -> Vec<usize> {
    let mut found = Vec::new();
    for term in terms {
        let want = scanned(all, term);
        assert_eq!(searched(store, term).await, want, "search for {term:?}");
        found.push(want.len());
    }
    found
}

#[tokio::test]
async fn search_answers_what_a_substring_scan_does() {
    let mut w = World::new().await;
    w.tenant("prod", PROD_TENANT, CLIENT);
    let mut apps = generate_applications(7, 120, now());
    apps.extend(tricky());
    w.emu.set_applications(PROD_TENANT, apps);
    let store = w.sync_with(&w.config()).await;
    let all = w.live().await;
    let key = &all[17].key_id;
    let app_id = &all[3].app_id;
    let terms = [
        "order",
        "ORDERS",
        "CN=orders",
        "100%",
        "_now",
        "50%_",
        "\\slash",
        "\"quoted\"",
        "it's",
        "ÄÖÜ",
        "東京",
        "給与 k",
        "Schlüssel",
        "h and \"",
        &key[9..17],
        &key.to_uppercase(),
        app_id,
        "zzzz",
        // Across two fields ("… prod" then "aaaa…" app id): no field holds it.
        "prodaaaa",
        // Too short for the index: the bounded scan, which holds every row of a tenant this size.
        "or",
        "%",
        "_",
        "Q",
    ];
    let found = same_as_scan(&store, &all, &terms).await;
    // The terms do find things (so that equality above is no vacuous empty = empty).
    assert!(found[..17].iter().all(|&n| n > 0), "{found:?}");
    assert_eq!(found[17..19], [0, 0]);
    assert!(found[19] > 0 && found[20] > 0);
}

#[tokio::test]
async fn every_sync_keeps_the_index_in_step_bulk_loads_included() {
    let mut w = World::new().await;
    w.tenant("prod", PROD_TENANT, CLIENT);
    // Past 5,000 applications and 10,000 credentials the first sync bulk-loads: triggers off,
    // one rebuild after (store/sync/indexes.rs).
    let mut apps = generate_applications(11, 5_100, now());
    let credentials: usize = apps.iter().map(|a| a.password_credentials.len() + a.key_credentials.len()).sum();
    assert!(credentials > 10_000, "{credentials} credentials: not a bulk load");
    apps.extend(tricky());
    w.emu.set_applications(PROD_TENANT, apps.clone());
    let store = w.sync_with(&w.config()).await;
    let all = w.live().await;
    assert_eq!(
        same_as_scan(&store, &all, &["Orders API", "CN=orders.tricky", "東京"]).await,
        [1, 1, 1]
    );

    // Renamed, rotated (a new credential, the old one removed), a new application, one gone.
    let tricky_at = apps.len() - 7;
    apps[tricky_at].display_name = Some("Invoices API (prod)".into());
    apps[tricky_at + 1].key_credentials = vec![cert(
        "b0000002-0000-4000-8000-00000000c002",
        "CN=invoices.tricky.example",
        now() + days(400),
    )];
    apps.remove(tricky_at + 3);
    let mut fresh = app(9, "Northwind onboarding");
    fresh.password_credentials = vec![secret("b0000009-0000-4000-8000-00000000c009", "first", now() + days(90))];
    apps.push(fresh);
    w.emu.set_applications(PROD_TENANT, apps);
    let store = w.sync_with(&w.config()).await;
    let all = w.live().await;
    let found = same_as_scan(
        &store,
        &all,
        &[
            "Orders API",
            "Invoices API",
            "CN=orders.tricky",
            "CN=invoices.tricky",
            "東京",
            "Northwind onboarding",
            "b0000009",
        ],
    )
    .await;
    assert_eq!(found, [0, 1, 0, 1, 0, 1, 1]);
    // A removed credential stays findable where removed ones are asked for (an app's history).
    let with_removed = CredentialFilter {
        search: Some("CN=orders.tricky".into()),
        include_removed: true,
        ..Default::default()
    };
    let history = store.credentials(&with_removed).await.unwrap();
    assert_eq!(history.len(), 1);
    assert!(history[0].removed_at.is_some());
}

#[tokio::test]
async fn a_short_search_says_it_looked_through_part_only() {
    let mut w = World::new().await;
    w.tenant("prod", PROD_TENANT, CLIENT);
    w.emu.set_applications(PROD_TENANT, tricky());
    let app = TestApp::start(w.config()).await;
    app.sync(None).await;

    let page = app.page("/environments/prod?q=or").await;
    let hint = page.texts("#search-hint");
    assert_eq!(hint.len(), 1, "{}", page.raw);
    assert!(
        hint[0].contains("shorter than 3 characters") && hint[0].contains("20,000"),
        "{hint:?}"
    );
    assert_eq!(page.count("#inventory tbody tr"), 2);

    let page = app.page("/environments/prod?q=Orders").await;
    assert_eq!(page.count("#search-hint"), 0);
    assert_eq!(page.count("#inventory tbody tr"), 2);
    assert_eq!(page.texts("#range"), ["1–2 of 2"]);
    // Characters FTS5 gives meaning to are searched for as they are.
    let page = app.page("/environments/prod?q=%22quoted%22").await;
    assert_eq!(page.count("#inventory tbody tr"), 1);
    let page = app.page("/environments/prod?q=NEAR(a%20b)").await;
    assert_eq!(page.texts("#range"), ["No credentials match."]);
}

#[tokio::test]
async fn a_search_pages_forwards_and_back_and_filters_by_status_and_kind() {
    let mut w = World::new().await;
    w.tenant("prod", PROD_TENANT, CLIENT);
    w.emu.set_applications(PROD_TENANT, generate_applications(5, 400, now()));
    let app = TestApp::start(w.config()).await;
    app.sync(None).await;
    let all = w.live().await;
    // Ids in the inventory's order, the app's pages as they link to each other.
    let want: Vec<i64> = {
        let hit = scanned(&all, "prod");
        let mut rows: Vec<&Credential> = all.iter().filter(|c| hit.contains(&c.id)).collect();
        rows.sort_by_key(|c| (c.end_at, c.id));
        rows.iter().map(|c| c.id).collect()
    };
    assert!(want.len() > 30, "{} hits: too few to page", want.len());
    let key_ids: std::collections::HashMap<String, i64> = all.iter().map(|c| (c.key_id.clone(), c.id)).collect();
    let ids_of = |page: &crate::support::parse::Page| -> Vec<i64> {
        page.texts("#inventory tbody td:nth-child(5)")
            .iter()
            .map(|k| key_ids[k.trim()])
            .collect()
    };
    let link = |page: &crate::support::parse::Page, rel: &str| page.attr(&format!("nav.pager a[rel={rel}]"), "href");

    let mut path = "/environments/prod?q=PROD&per_page=10".to_string();
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    loop {
        let page = app.page(&path).await;
        assert_eq!(page.count("#search-hint"), 0);
        let range = page.texts("#range")[0].clone();
        assert!(range.ends_with(&format!(" of {}", want.len())), "{range}");
        seen.extend(ids_of(&page));
        pages.push(path.clone());
        match link(&page, "next") {
            Some(next) => path = next,
            None => break,
        }
    }
    assert_eq!(seen, want, "pages forwards");
    // Back from the last page, by the "previous" links the pages carry.
    let mut back = Vec::new();
    let mut page = app.page(&pages[pages.len() - 1]).await;
    back.splice(0..0, ids_of(&page));
    while let Some(prev) = link(&page, "prev") {
        page = app.page(&prev).await;
        back.splice(0..0, ids_of(&page));
    }
    assert_eq!(back, want, "pages backwards");

    // With a status and a kind: the hits the API puts in that status, of that kind.
    let api = app.credentials("?environment=prod").await;
    let page = app
        .page("/environments/prod?q=prod&status=warning&kind=certificate&per_page=500")
        .await;
    let warning: BTreeSet<i64> = api
        .iter()
        .filter(|c| c["status"] == "warning" && c["kind"] == "certificate")
        .map(|c| key_ids[c["key_id"].as_str().unwrap()])
        .filter(|id| want.contains(id))
        .collect();
    assert!(
        !warning.is_empty(),
        "no warning certificate among the hits: the filter is not put to work"
    );
    assert_eq!(ids_of(&page).into_iter().collect::<BTreeSet<i64>>(), warning);
}
