//! `/metrics` over real HTTP, read with a Prometheus text-format parser: SPEC.md's names and
//! types, one series per live credential, hostile names round-tripping through label values.

use crate::support::fixture::serve;
use crate::support::parse::Metrics;

#[tokio::test]
async fn metrics_parse_and_carry_the_spec_names() {
    let (_w, app) = serve(10, true).await;
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
    let metrics = Metrics::parse(&r.text().await.unwrap());
    assert_eq!(metrics.kind("credwatch_credential_expiry_timestamp_seconds"), "gauge");
    assert_eq!(metrics.kind("credwatch_sync_last_success_timestamp_seconds"), "gauge");
    assert_eq!(metrics.kind("credwatch_sync_failures_total"), "counter");
    assert_eq!(metrics.kind("credwatch_reminders_sent_total"), "counter");
    for name in [
        "credwatch_credential_expiry_timestamp_seconds",
        "credwatch_sync_last_success_timestamp_seconds",
        "credwatch_sync_failures_total",
        "credwatch_reminders_sent_total",
    ] {
        assert!(metrics.help(name).is_some_and(|h| !h.is_empty()), "{name} has a HELP line");
    }

    let all = app.credentials("").await;
    let expiry = metrics.samples("credwatch_credential_expiry_timestamp_seconds");
    assert_eq!(expiry.len(), all.len());
    for sample in &expiry {
        let names: Vec<&str> = sample.labels.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["environment", "app_id", "app_name", "kind", "key_id"]);
        let c = all
            .iter()
            .find(|c| c["key_id"] == sample.label("key_id"))
            .expect("every sample is a live credential");
        // Label values round-trip, hostile names included.
        assert_eq!(sample.label("app_name"), c["app_display_name"].as_str().unwrap_or(""));
        assert_eq!(sample.label("environment"), c["environment"].as_str().unwrap());
        let end = chrono::DateTime::parse_from_rfc3339(c["end"].as_str().unwrap()).unwrap();
        let end = end.timestamp() as f64 + f64::from(end.timestamp_subsec_nanos()) / 1e9;
        assert!((sample.value - end).abs() < 1e-6, "{} {end}", sample.value);
    }
    for name in [
        "<script>alert(1)</script>",
        "\"quoted\" & 'apos'",
        "Evil;Name,With\\Backslash",
        "line1\nline2\tEND:VCALENDAR",
        "a\r\nBcc: victim@example.com",
    ] {
        assert!(expiry.iter().any(|s| s.label("app_name") == name), "{name:?} round-trips");
    }
    let failures = "credwatch_sync_failures_total";
    assert_eq!(metrics.value(failures, &[("environment", "test")]), 1.0);
    assert_eq!(metrics.value(failures, &[("environment", "dev")]), 0.0);
    let now = chrono::Utc::now().timestamp() as f64;
    let success = metrics.value("credwatch_sync_last_success_timestamp_seconds", &[("environment", "prod")]);
    assert!((now - success).abs() < 120.0);
    assert_eq!(metrics.value("credwatch_reminders_sent_total", &[]), 1.0);
}
