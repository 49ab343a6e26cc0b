//! The JSON API and the CSV export over real HTTP: shapes as SPEC.md names them, filters, and
//! answers large enough to go out in several batches.

use crate::support::fixture::serve;
use crate::support::parse::{Metrics, csv_rows};
use serde_json::Value;
use std::collections::BTreeSet;

/// A credential's fields as SPEC.md lists them: the API's keys and the CSV's columns, in order.
const SPEC_FIELDS: [&str; 12] = [
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
];

#[tokio::test]
async fn credentials_api_has_the_spec_shape_and_filters() {
    let (_w, app) = serve(30, true).await;
    let all = app.credentials("").await;
    assert!(all.len() > 90);
    // Issue 8, after SPEC.md's fields: app registration or enterprise app, exclusion, successor.
    let keys: BTreeSet<&str> = SPEC_FIELDS
        .iter()
        .chain(&["source", "excluded", "superseded_by", "last_used_at", "usage", "rotation"])
        // Issue 15.
        .chain(&["acknowledged_by", "snoozed_until"])
        .copied()
        .collect();
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
    let (_w, app) = serve(10, true).await;
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
        "usage_status",
        "usage_read_at",
        "usage_reason",
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

    let (_w2, never) = serve(1, false).await;
    let body = never.json("/api/v1/environments").await;
    let e = &body["environments"][0];
    assert!(e["last_sync_at"].is_null() && e["last_success_at"].is_null() && e["last_error"].is_null());
    assert_eq!(e["credentials"], 0);
}

#[tokio::test]
async fn csv_export_has_the_same_rows_and_is_safe_in_a_spreadsheet() {
    let (_w, app) = serve(10, true).await;
    let r = app.get("/api/v1/credentials.csv?environment=prod").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let text = r.text().await.unwrap();
    // RFC 4180: every record ends in CRLF (a quoted cell may hold a bare line break of its own).
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
    let mut record = csv::StringRecord::new();
    let mut records = 0;
    loop {
        let at = reader.position().byte() as usize;
        // The reader stops after a record's CR and skips its LF when it reads the next.
        let (before, after) = text.split_at(at);
        assert!(
            at == 0 || before.ends_with("\r\n") || (before.ends_with('\r') && after.starts_with('\n')),
            "the record before byte {at} ends in CRLF: {:?}",
            &text[at.saturating_sub(6)..(at + 4).min(text.len())]
        );
        if !reader.read_record(&mut record).unwrap() {
            break;
        }
        records += 1;
    }
    assert!(records > 10);
    let rows = csv_rows(&text);
    let json = app.credentials("?environment=prod").await;
    assert_eq!(rows[0][..12], SPEC_FIELDS, "SPEC.md's columns, in its order");
    assert_eq!(rows[0][12..15], ["last_used_at", "usage", "rotation"], "then issue 14's");
    assert_eq!(rows[0][15..], ["acknowledged_by", "snoozed_until"], "then issue 15's");
    assert_eq!(rows.len() - 1, json.len());
    for (row, c) in rows[1..].iter().zip(&json) {
        assert_eq!(row.len(), 17);
        assert_eq!(row[13], c["usage"].as_str().unwrap());
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
    let (_w, app) = serve(800, true).await;
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
        .live_siblings_of(&apps.into_iter().map(|(id,)| id).collect::<Vec<_>>())
        .await
        .unwrap();
    let key_of: std::collections::HashMap<i64, String> = siblings.iter().map(|(s, _)| (s.id, s.key_id.clone())).collect();
    // What rotation awareness says over all credentials at once, by key id.
    let (successors, verdicts) = credwatch::domain::rotation_policy(siblings, chrono::Utc::now().into());
    let superseded: std::collections::BTreeMap<&str, &str> = successors
        .iter()
        .filter(|(id, _)| {
            verdicts
                .get(id)
                .is_none_or(|v| v.rotation != credwatch::domain::Rotation::InProgress)
        })
        .map(|(id, s)| (key_of[id].as_str(), s.key_id.as_str()))
        .collect();
    assert!(!superseded.is_empty(), "the generated tenants rotate some credentials");

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
    // Rotation awareness holds across batch boundaries: the same as over all credentials at once
    // (each batch reads only each credential's newer siblings).
    let answered: std::collections::BTreeMap<&str, &str> = all
        .iter()
        .filter(|c| !c["superseded_by"].is_null())
        .map(|c| (c["key_id"].as_str().unwrap(), c["superseded_by"]["key_id"].as_str().unwrap()))
        .collect();
    assert_eq!(answered, superseded);

    let csv = csv_rows(&app.get("/api/v1/credentials.csv").await.text().await.unwrap());
    assert_eq!(csv.len() as i64 - 1, live);
    let csv_keys: BTreeSet<(String, String, String)> = csv[1..].iter().map(|r| (r[0].clone(), r[1].clone(), r[5].clone())).collect();
    assert_eq!(csv_keys.len() as i64, live);

    let metrics = Metrics::parse(&app.get("/metrics").await.text().await.unwrap());
    let expiry = metrics.samples("credwatch_credential_expiry_timestamp_seconds");
    assert_eq!(expiry.len() as i64, live);
    let series: BTreeSet<(&str, &str)> = expiry.iter().map(|s| (s.label("environment"), s.label("key_id"))).collect();
    assert_eq!(series.len() as i64, live, "one series per credential");
}

/// A sync that commits while a large answer streams (between its batches) neither drops a row
/// that was there all along nor sends one twice: each batch starts after the last row sent.
#[tokio::test]
async fn a_sync_between_batches_neither_drops_nor_repeats_a_row() {
    use crate::support::emu::generate_applications;
    let (w, app) = serve(800, true).await;
    let keys = |rows: &[Value]| -> Vec<String> {
        rows.iter()
            .map(|c| format!("{}/{}/{}", c["environment"], c["app_object_id"], c["key_id"]))
            .collect()
    };
    let all = async || keys(app.json("/api/v1/credentials").await["credentials"].as_array().unwrap());
    let before: BTreeSet<String> = all().await.into_iter().collect();

    let mut r = app.http.get(app.url("/api/v1/credentials")).send().await.unwrap();
    let mut body = r.chunk().await.unwrap().expect("a first batch").to_vec();
    let before_sync = body.len();
    // Meanwhile dev loses 300 applications and gains 1,000, their ends spread over the years.
    let now = chrono::Utc::now();
    let mut dev = generate_applications(100, 800, now);
    dev.drain(..300);
    dev.extend(generate_applications(4242, 1_000, now).into_iter().map(|mut a| {
        a.id = format!("new-{}", a.id);
        a
    }));
    w.emu.set_applications("tenant-dev", dev);
    let synced = credwatch::sync::Syncer::new(&app.config, app.store.clone())
        .sync_all(Some("dev"), &tokio_util::sync::CancellationToken::new(), |_| {})
        .await;
    assert!(synced[0].succeeded(), "{:?}", synced[0].result);
    while let Some(chunk) = r.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    assert!(
        before_sync * 3 < body.len(),
        "the sync ran with most of the answer still to come: {before_sync} of {} bytes",
        body.len()
    );
    let during: Value = serde_json::from_slice(&body).expect("a complete answer");
    let during = keys(during["credentials"].as_array().unwrap());
    let after: BTreeSet<String> = all().await.into_iter().collect();
    assert!(
        after.len() > before.len() + 1_000,
        "the sync changed much: {} -> {}",
        before.len(),
        after.len()
    );

    let sent: BTreeSet<&String> = during.iter().collect();
    assert_eq!(sent.len(), during.len(), "no row twice");
    let kept: Vec<&String> = before.intersection(&after).collect();
    let missing: Vec<&&String> = kept.iter().filter(|k| !sent.contains(**k)).collect();
    assert!(
        missing.is_empty(),
        "{} rows there all along were not sent: {:?}",
        missing.len(),
        &missing[..missing.len().min(3)]
    );
}

/// Every answer of the credential API to `filter` at `now`, rendered from the stored answers
/// (`None` when they cannot serve) or the long way: the JSON rows and the CSV lines.
async fn rendered(
    store: &credwatch::store::Store,
    config: &credwatch::config::Config,
    filter: &credwatch::store::CredentialFilter,
    now: credwatch::domain::Timestamp,
    stored: bool,
) -> Option<(Vec<u8>, String, usize)> {
    use credwatch::domain::{Answer, Answering};
    let at = Answering {
        thresholds: &config.status,
        active_days: config.usage.active_days,
        exclusions: &config.exclusions,
        now,
    };
    let rules = credwatch::store::answers_basis(&config.exclusions);
    let (mut json, mut csv, mut rows) = (Vec::new(), String::new(), 0);
    let mut after = None;
    loop {
        let mut last = None;
        if stored {
            let batch = store.stored_answers(filter, &rules, after, 700).await.unwrap()?;
            for a in batch.answers() {
                let a = a.unwrap();
                a.write_json(&mut json, &at);
                a.write_csv(&mut csv, &at);
                last = Some((a.end_at, a.id));
                rows += 1;
            }
        } else {
            for r in store.credentials_page_with_newer(filter, after, 700).await.unwrap() {
                let a = Answer::of(&r.credential, r.newer, &config.exclusions);
                a.write_json(&mut json, &at);
                a.write_csv(&mut csv, &at);
                last = Some((a.end_at, a.id));
                rows += 1;
            }
        }
        match last {
            Some(key) => after = Some(key),
            None => return Some((json, csv, rows)),
        }
    }
}

/// The stored answers (migrations/0017_answer_rows.sql) say, byte for byte, what the long way
/// says: for hostile names, exclusion rules, usage, rotations, acknowledgements and snoozes, at
/// instants that move every status and usage. A write that changes an answer makes them stale
/// at once, so they never answer with the old text; a rebuild brings them back.
#[tokio::test]
async fn stored_answers_say_exactly_what_the_long_way_says() {
    use crate::support::config::Exclusion;
    use credwatch::domain::{Timestamp, Via};
    use credwatch::store::{Actor, CredentialAction, CredentialFilter};
    let mut w = crate::support::World::new().await;
    crate::support::fixture::three_environments(&mut w, 300);
    w.file.usage().refresh_hours = Some(0);
    w.file.exclusions = vec![
        Exclusion {
            name: Some("dev-tools".into()),
            environment: Some("dev".into()),
            app_name: Some("*a*".into()),
            reason: Some("renewed by the platform".into()),
            until: Some("2099-12-31".parse().unwrap()),
            ..Exclusion::default()
        },
        Exclusion {
            name: Some("hidden".into()),
            tag: Some("HideApp".into()),
            reason: Some("not ours".into()),
            ..Exclusion::default()
        },
    ];
    let config = w.config();
    let store = credwatch::startup::open_store(&config).await.unwrap();
    crate::support::fixture::sync(&w, &config, &store).await;
    let all = CredentialFilter::default();
    let now = Timestamp::from(chrono::Utc::now());
    assert!(
        rendered(&store, &config, &all, now, true).await.is_none(),
        "nothing stored before a rebuild"
    );

    // Usage for some of prod's credentials, read by a second sync.
    let prod = store
        .credentials(&CredentialFilter {
            environment: Some("prod".into()),
            ..CredentialFilter::default()
        })
        .await
        .unwrap();
    for (i, c) in prod.iter().step_by(3).take(60).enumerate() {
        let when = chrono::Utc::now() - chrono::Duration::days(i as i64);
        assert!(w.emu.record_sign_in("tenant-prod", &c.key_id, &crate::support::graph::rfc(when)));
    }
    // Usage read from the second sync on: the first read changes every credential's last use.
    let mut with_usage = config.clone();
    with_usage.environments.iter_mut().find(|e| e.name == "prod").unwrap().usage = true;
    let sync_prod = async || {
        let r = credwatch::sync::Syncer::new(&with_usage, store.clone())
            .sync_all(Some("prod"), &tokio_util::sync::CancellationToken::new(), |_| {})
            .await;
        assert!(r[0].succeeded(), "{:?}", r[0].result);
    };
    assert!(store.refresh_answers(&config.exclusions).await.unwrap() > 0);
    assert!(
        rendered(&store, &config, &all, now, true).await.is_some(),
        "current after a rebuild"
    );
    sync_prod().await;
    let stale = async || -> BTreeSet<i64> {
        let rows: Vec<(i64,)> = sqlx::query_as("SELECT application_id FROM answer_rows_stale")
            .fetch_all(store.pool())
            .await
            .unwrap();
        rows.into_iter().map(|(id,)| id).collect()
    };
    let prod_apps: BTreeSet<i64> = prod.iter().map(|c| c.application_id).collect();
    assert!(stale().await.is_superset(&prod_apps), "stale after the first usage read");

    let same_both_ways = async |what: &str| {
        assert!(
            store.refresh_answers(&config.exclusions).await.unwrap() > 0,
            "{what}: something to rebuild"
        );
        assert!(!store.answers_stale().await.unwrap());
        for filter in [
            all.clone(),
            CredentialFilter {
                environment: Some("prod".into()),
                end_before: Some(now.plus_days(90)),
                ..CredentialFilter::default()
            },
        ] {
            for at in [now, now.plus_days(-45), now.plus_days(400)] {
                let stored = rendered(&store, &config, &filter, at, true).await.expect("current");
                let live = rendered(&store, &config, &filter, at, false).await.unwrap();
                assert!(stored.2 > 50, "{what}: {} rows", stored.2);
                assert_eq!(stored.2, live.2, "{what}: as many rows");
                assert_eq!(String::from_utf8_lossy(&stored.0), String::from_utf8_lossy(&live.0), "{what}: JSON");
                assert_eq!(stored.1, live.1, "{what}: CSV");
            }
        }
        rendered(&store, &config, &all, now, true).await.unwrap()
    };
    let (json, csv, _) = same_both_ways("after the first syncs").await;
    let json = String::from_utf8(json).unwrap();
    for shown in [
        "\"excluded\":{\"rule\":\"dev-tools\"",
        "\"excluded\":{\"rule\":\"hidden\"",
        "\"usage\":\"in_use\"",
        "\"rotation\":",
    ] {
        assert!(json.contains(shown), "the answers show {shown}");
    }
    assert!(csv.contains("<script>alert(1)</script>"), "hostile names as data");
    // A restart registers the same environments again: nothing to rebuild.
    store.register_environments(&config.environments).await.unwrap();
    assert!(!store.answers_stale().await.unwrap(), "a restart keeps the stored answers");

    // Acknowledged, snoozed: stale at once (the old text is never served), equal after a rebuild.
    let person = Actor {
        name: Some("Ada <ada@example.com>".into()),
        via: Via::Dashboard,
        client_address: None,
    };
    store
        .act(prod[4].id, &CredentialAction::Acknowledge, &person, None, None, now)
        .await
        .unwrap();
    assert!(
        rendered(&store, &config, &all, now, true).await.is_none(),
        "stale after an acknowledgement"
    );
    let (json, ..) = same_both_ways("after an acknowledgement").await;
    assert!(
        String::from_utf8(json)
            .unwrap()
            .contains("\"acknowledged_by\":\"Ada <ada@example.com>\"")
    );

    // A sync that renames an application and rotates another's secret away.
    let mut apps = w.emu.applications("tenant-prod");
    apps[0].display_name = Some("Renamed, \"quoted\"\nand =cmd".into());
    apps[1].password_credentials.clear();
    w.emu.set_applications("tenant-prod", apps);
    sync_prod().await;
    assert!(
        rendered(&store, &config, &all, now, true).await.is_none(),
        "stale after a sync that changed names"
    );
    let (_, csv, _) = same_both_ways("after a renaming sync").await;
    assert!(csv.contains("\"Renamed, \"\"quoted\"\"\nand =cmd\""));

    // New sign-ins: only the usage changed.
    assert!(
        w.emu
            .record_sign_in("tenant-prod", &prod[5].key_id, &crate::support::graph::rfc(chrono::Utc::now()))
    );
    sync_prod().await;
    assert!(stale().await.contains(&prod[5].application_id), "stale after new usage");
    same_both_ways("after new usage").await;

    // The ordered pass over every row (what a first sync or a change of rules brings): marks made
    // before it began are cleared, one made meanwhile stays until its application is rebuilt.
    sqlx::query("INSERT OR REPLACE INTO answer_rows_stale (application_id) SELECT id FROM applications")
        .execute(store.pool())
        .await
        .unwrap();
    let before_pass = store.last_answer_mark().await.unwrap().expect("marked");
    let snooze = CredentialAction::Snooze {
        until: now.plus_days(5),
        min_notice_days: 0,
    };
    let far = prod.iter().rev().find(|c| c.end_at > now.plus_days(30)).unwrap();
    store.act(far.id, &snooze, &person, None, None, now).await.unwrap();
    // Swapped in by ranges of 97 rows: a dozen transactions.
    assert!(store.rebuild_all_answers(&config.exclusions, before_pass, 97).await.unwrap() >= 900);
    assert!(store.answers_stale().await.unwrap(), "the mark made after the pass began stays");
    assert!(rendered(&store, &config, &all, now, true).await.is_none());
    let (json, ..) = same_both_ways("after the ordered pass").await;
    assert!(String::from_utf8(json).unwrap().contains("\"snoozed_until\":\""));

    // Other exclusion rules: the stored answers do not serve until rebuilt under them.
    let mut other = config.clone();
    other.exclusions.rules.reverse();
    assert!(rendered(&store, &other, &all, now, true).await.is_none(), "rules changed");
}
