//! `credwatch demo` from a fresh directory: a populated dashboard the moment its URL is printed,
//! a calendar feed, metrics, and reminder e-mails in the outbox.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test]
async fn the_demo_serves_a_populated_dashboard_feed_metrics_and_an_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_credwatch"))
        .args(["demo", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("CREDWATCH_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Read stdout until the outbox line: everything must be ready by then.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        let mut reader = BufReader::new(stdout).lines();
        for line in reader.by_ref() {
            let line = line.unwrap();
            let done = line.trim_start().starts_with("outbox");
            lines.push(line);
            if done {
                break;
            }
        }
        let _ = tx.send(lines);
        // Keep draining: a closed pipe would make the demo's next line fail.
        for _ in reader {}
    });
    let lines = rx;
    let lines = tokio::time::timeout(Duration::from_secs(60), lines)
        .await
        .expect("the demo printed its URLs")
        .unwrap();
    let find = |label: &str| {
        lines
            .iter()
            .find_map(|l| l.trim_start().strip_prefix(label).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("no {label} line in {lines:#?}"))
    };
    let dashboard = find("dashboard");
    let calendar = find("calendar");
    let metrics = find("metrics");
    let outbox = find("outbox");
    assert!(lines.iter().any(|l| l.contains("synced prod: ok")), "{lines:#?}");

    let http = crate::support::http();
    let started = Instant::now();
    let overview = http.get(&dashboard).send().await.unwrap();
    assert_eq!(overview.status(), 200);
    let html = overview.text().await.unwrap();
    for expected in [
        "dev",
        "test",
        "prod",
        "contoso.onmicrosoft.com",
        "Needs action",
        "credwatch's own credentials",
    ] {
        assert!(html.contains(expected), "the overview lacks {expected:?}");
    }
    let escaped = html.contains("&#60;script&#62;alert(1)") || html.contains("&lt;script&gt;alert(1)");
    assert!(
        escaped && !html.contains("<script>alert(1)"),
        "the awkward names are there, escaped"
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    let feed = http.get(&calendar).send().await.unwrap();
    assert_eq!(feed.status(), 200);
    assert!(feed.headers()["content-type"].to_str().unwrap().starts_with("text/calendar"));
    let feed = feed.text().await.unwrap();
    assert!(
        feed.matches("BEGIN:VEVENT").count() > 100,
        "a few hundred credentials, most within the horizon"
    );

    let metrics = http.get(&metrics).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("credwatch_credential_expiry_timestamp_seconds{environment=\"prod\""));
    assert!(metrics.contains("credwatch_sync_last_success_timestamp_seconds{environment=\"dev\"}"));

    // Issue 14: every usage case. dev has no licence, prod and test are read.
    let base = dashboard.trim_end_matches('/');
    let json = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    let envs = json(format!("{base}/api/v1/environments")).await;
    let status = |name: &str| {
        envs["environments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["usage_status"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!([status("dev"), status("prod"), status("test")], ["no_license", "ok", "ok"]);
    let body = json(format!("{base}/api/v1/credentials?environment=prod")).await;
    let prod = body["credentials"].as_array().unwrap();
    let of = |name: &str| prod.iter().find(|c| c["display_name"] == name).unwrap_or_else(|| panic!("{name}"));
    assert_eq!(of("orders-api prod")["status"], "expired");
    assert_eq!(of("orders-api prod")["usage"], "in_use");
    assert_eq!(of("billing 2025")["rotation"], "complete");
    assert_eq!(of("gateway 2025")["rotation"], "in_progress");
    assert_eq!(of("export job")["usage"], "idle");
    assert_eq!(of("export job")["last_used_at"], serde_json::Value::Null, "never used");
    assert!(
        prod.iter().any(|c| c["usage"] == "idle" && !c["last_used_at"].is_null()),
        "idle after use"
    );
    assert!(html.contains("incident: expired while in use"), "the incident heads Needs action");

    // One digest per recipient: everyone at [email].to, and each environment's on-call.
    let mut recipients: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .map(|eml| {
            eml.lines()
                .find_map(|l| l.strip_prefix("To: ").map(str::to_string))
                .expect("a To header")
        })
        .collect();
    recipients.sort();
    assert_eq!(
        recipients,
        [
            "dev-oncall@demo.invalid",
            "ops@demo.invalid",
            "prod-oncall@demo.invalid",
            "test-oncall@demo.invalid"
        ]
    );

    Command::new("kill").arg("-INT").arg(child.id().to_string()).status().unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "Ctrl-C stops the demo cleanly: {status:?}");
}
