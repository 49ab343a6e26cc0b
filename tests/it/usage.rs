//! Issue 14: credential usage from the sign-in activity reports, read from the emulator over
//! HTTP into a real SQLite file and served by the real app.

use crate::support::app::TestApp;
use crate::support::emu::{CredentialSignIn, UsageDenial};
use crate::support::graph::{self, AppBuilder, app, days, now, rfc, secret, secret_between};
use crate::support::{CLIENT, PROD_TENANT, SECRET, TEST_TENANT, World, http};
use credwatch::sync::{Syncer, UsageOutcome};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const IN_USE: &str = "11110000-0000-4000-8000-000000000001";
const BOUNDARY_IN: &str = "11110000-0000-4000-8000-000000000002";
const BOUNDARY_OUT: &str = "11110000-0000-4000-8000-000000000003";
const NEVER: &str = "11110000-0000-4000-8000-000000000004";
const UNREADABLE: &str = "11110000-0000-4000-8000-000000000005";

/// `prod` with one app holding five secrets ending in 200 days, and the reports saying: used an
/// hour ago, used 30 days less a minute ago, 30 days and a minute ago, never, and an unreadable
/// date.
async fn world() -> World {
    let mut w = World::new().await;
    w.tenant("prod", PROD_TENANT, CLIENT).usage = Some(true);
    let end = now() + days(200);
    w.emu.set_applications(
        PROD_TENANT,
        vec![app(1, "payments").secrets(vec![
            secret(IN_USE, "in use", end),
            secret(BOUNDARY_IN, "boundary in", end),
            secret(BOUNDARY_OUT, "boundary out", end),
            secret(NEVER, "never", end),
            secret(UNREADABLE, "unreadable", end),
        ])],
    );
    let t = now();
    assert!(w.emu.record_sign_in(PROD_TENANT, IN_USE, &rfc(t - chrono::Duration::hours(1))));
    assert!(
        w.emu
            .record_sign_in(PROD_TENANT, BOUNDARY_IN, &rfc(t - days(30) + chrono::Duration::minutes(1)))
    );
    assert!(
        w.emu
            .record_sign_in(PROD_TENANT, BOUNDARY_OUT, &rfc(t - days(30) - chrono::Duration::minutes(1)))
    );
    assert!(w.emu.record_sign_in(PROD_TENANT, UNREADABLE, "yesterday at noon"));
    w
}

fn by_key<'a>(rows: &'a [Value], key: &str) -> &'a Value {
    rows.iter()
        .find(|c| c["key_id"] == key)
        .unwrap_or_else(|| panic!("{key} is listed"))
}

/// The one environment of `/api/v1/environments`.
async fn environment(app: &TestApp, name: &str) -> Value {
    let body = app.json("/api/v1/environments").await;
    body["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} is listed"))
}

#[tokio::test]
async fn the_emulator_serves_both_reports_paged_filtered_and_in_the_doc_examples_shape() {
    let w = world().await;
    let mut rows: Vec<CredentialSignIn> = (0..5)
        .map(|i| CredentialSignIn {
            key_id: format!("k{i}"),
            key_type: "secret".into(),
            app_id: if i < 3 { "app-a".into() } else { "app-b".into() },
            credential_origin: "application".into(),
            expiration_date_time: Some("2027-01-01T00:00:00Z".into()),
            last_sign_in_date_time: Some("2021-04-01T21:36:48-8:00".into()),
            doc_example_shape: i == 0,
            ..CredentialSignIn::default()
        })
        .collect();
    rows[4].last_sign_in_date_time = None;
    w.emu.set_credential_sign_ins(PROD_TENANT, rows);
    let token = token(&w).await;
    let get = |path: String| {
        let token = token.clone();
        async move {
            let r = http().get(path).bearer_auth(token).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let base = format!("{}/beta/reports/appCredentialSignInActivities", w.emu.url());
    let (status, first) = get(format!("{base}?$top=2")).await;
    assert_eq!(status, 200);
    assert_eq!(first["value"].as_array().unwrap().len(), 2);
    assert_eq!(first["value"][0]["expirationDate"], "2027-01-01T00:00:00Z");
    assert!(first["value"][0].get("expirationDateTime").is_none());
    assert_eq!(first["value"][1]["expirationDateTime"], "2027-01-01T00:00:00Z");
    assert_eq!(
        first["value"][0]["signInActivity"]["lastSignInDateTime"],
        "2021-04-01T21:36:48-8:00"
    );
    let mut seen = 2;
    let mut next = first["@odata.nextLink"].as_str().map(str::to_string);
    while let Some(link) = next {
        let (status, page) = get(link).await;
        assert_eq!(status, 200);
        seen += page["value"].as_array().unwrap().len();
        next = page["@odata.nextLink"].as_str().map(str::to_string);
    }
    assert_eq!(seen, 5);
    let (_, filtered) = get(format!("{base}?$filter=appId eq 'app-b'")).await;
    assert_eq!(filtered["value"].as_array().unwrap().len(), 2);
    assert_eq!(filtered["value"][1]["signInActivity"], Value::Null);
    let (_, one) = get(format!("{base}?$filter=keyId eq 'k2'")).await;
    assert_eq!(one["value"][0]["keyId"], "k2");
    let (status, _) = get(format!("{base}?$filter=displayName eq 'x'")).await;
    assert_eq!(status, 400);

    let apps = format!("{}/beta/reports/servicePrincipalSignInActivities", w.emu.url());
    let (_, report) = get(apps.clone()).await;
    assert_eq!(report["value"].as_array().unwrap().len(), 1, "the app of the recorded sign-ins");
    assert!(report["value"][0]["applicationAuthenticationClientSignInActivity"]["lastSignInDateTime"].is_string());

    for (denial, code) in [
        (UsageDenial::NoPermission, "Authorization_RequestDenied"),
        (UsageDenial::NoLicense, "Authentication_RequestFromNonPremiumTenantOrB2CTenant"),
    ] {
        w.emu.deny_usage(PROD_TENANT, Some(denial));
        for url in [&base, &apps] {
            let (status, body) = get(url.clone()).await;
            assert_eq!(status, 403);
            assert_eq!(body["error"]["code"], code);
        }
    }
}

/// An access token of [`CLIENT`] in [`PROD_TENANT`], straight from the emulator.
async fn token(w: &World) -> String {
    let r = http()
        .post(format!("{}/{PROD_TENANT}/oauth2/v2.0/token", w.emu.url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT),
            ("client_secret", SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    body["access_token"].as_str().expect("a token").to_string()
}

#[tokio::test]
async fn usage_is_classified_at_the_active_days_boundary_in_the_api_and_csv() {
    let w = world().await;
    let config = w.config();
    w.sync_with(&config).await;
    let report_requests = w.emu.requests().iter().filter(|r| r.path.starts_with("/beta/reports/")).count();
    assert_eq!(report_requests, 2, "one request per report for a small tenant, none per credential");
    let app = TestApp::start(config).await;
    let rows = app.credentials("").await;
    let expect = [
        (IN_USE, "in_use"),
        (BOUNDARY_IN, "in_use"),
        (BOUNDARY_OUT, "idle"),
        (NEVER, "idle"),
        (UNREADABLE, "unknown"),
    ];
    for (key, usage) in expect {
        assert_eq!(by_key(&rows, key)["usage"], usage, "{key}");
    }
    assert!(by_key(&rows, IN_USE)["last_used_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(by_key(&rows, NEVER)["last_used_at"], Value::Null);
    assert_eq!(by_key(&rows, UNREADABLE)["last_used_at"], Value::Null);

    let env = environment(&app, "prod").await;
    assert_eq!(env["usage_status"], "ok");
    assert!(env["usage_read_at"].is_string());

    let csv = app.get("/api/v1/credentials.csv").await.text().await.unwrap();
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .ends_with(",status,last_used_at,usage,rotation,acknowledged_by,snoozed_until")
    );
    let never = csv.lines().find(|l| l.contains(NEVER)).unwrap();
    // Not acknowledged nor snoozed: the two columns of issue 15 empty.
    assert!(never.ends_with(",,idle,,,"), "{never}");
    app.stop().await;
}

#[tokio::test]
async fn active_days_is_configurable() {
    let mut w = world().await;
    w.file.usage().active_days = Some(7);
    let config = w.config();
    w.sync_with(&config).await;
    let app = TestApp::start(config).await;
    let rows = app.credentials("").await;
    assert_eq!(by_key(&rows, IN_USE)["usage"], "in_use");
    assert_eq!(by_key(&rows, BOUNDARY_IN)["usage"], "idle");
    app.stop().await;
}

#[tokio::test]
async fn each_403_is_explained_leaves_the_sync_alone_and_keeps_the_last_values() {
    let w = world().await;
    let config = w.config();
    w.sync_with(&config).await;
    let app = TestApp::start(config.clone()).await;
    let read_at = environment(&app, "prod").await["usage_read_at"].clone();
    let syncer = Syncer::new(&config, app.store.clone());
    for (denial, status, words) in [
        (UsageDenial::NoPermission, "no_permission", "AuditLog.Read.All"),
        (UsageDenial::NoLicense, "no_license", "P1 or P2"),
    ] {
        w.emu.deny_usage(PROD_TENANT, Some(denial));
        // The credential sync succeeds whatever the reports answer.
        app.sync(None).await;
        let outcome = syncer.try_read_usage("prod").await;
        assert!(
            matches!(&outcome, UsageOutcome::Failed { status: s, .. } if s.as_str() == status),
            "{outcome:?}"
        );
        let env = environment(&app, "prod").await;
        assert_eq!(env["usage_status"], status);
        assert!(env["usage_reason"].as_str().unwrap().contains(words), "{env}");
        assert_eq!(env["last_error"], Value::Null, "no alarm: the sync itself is fine");
        assert_eq!(env["usage_read_at"], read_at, "the age of the values kept");
        let rows = app.credentials("").await;
        assert_eq!(by_key(&rows, IN_USE)["usage"], "in_use", "last values kept");
        assert_eq!(by_key(&rows, NEVER)["usage"], "idle");
    }
    // An intermittent 403 on a licensed tenant: this read fails, the next one succeeds.
    w.emu.deny_usage(PROD_TENANT, None);
    w.emu.deny_usage_times(PROD_TENANT, UsageDenial::NoLicense, 1);
    assert!(matches!(syncer.try_read_usage("prod").await, UsageOutcome::Failed { .. }));
    assert!(matches!(
        syncer.try_read_usage("prod").await,
        UsageOutcome::Read { credentials: 4, .. }
    ));
    assert_eq!(environment(&app, "prod").await["usage_status"], "ok");
    app.stop().await;
}

#[tokio::test]
async fn every_page_is_read_and_a_failed_page_keeps_the_last_values() {
    let mut w = world().await;
    // 1,200 credentials used: two pages of the credential report at $top=999.
    let end = now() + days(300);
    let apps: Vec<_> = (0..400u32)
        .map(|n| {
            app(100 + n, &format!("bulk {n}")).secrets(
                (0..3)
                    .map(|i| secret(&format!("b{n:04}{i}00-0000-4000-8000-000000000000"), "bulk", end))
                    .collect(),
            )
        })
        .collect();
    w.emu.update_applications(PROD_TENANT, |list| list.extend(apps));
    for n in 0..400u32 {
        for i in 0..3 {
            w.emu
                .record_sign_in(PROD_TENANT, &format!("b{n:04}{i}00-0000-4000-8000-000000000000"), &rfc(now()));
        }
    }
    w.file.usage().refresh_hours = Some(0);
    let config = w.config();
    let store = w.sync_with(&config).await;
    let pages = w
        .emu
        .requests()
        .iter()
        .filter(|r| r.path == "/beta/reports/appCredentialSignInActivities" && r.status == 200)
        .count();
    assert_eq!(pages, 2);
    // A sign-in that would make NEVER in use, behind a second page that fails.
    w.emu.record_sign_in(PROD_TENANT, NEVER, &rfc(now()));
    w.emu.fail_usage_page(PROD_TENANT, false, 1, 503, 10);
    let reports = Syncer::new(&config, store.clone())
        .sync_all(None, &CancellationToken::new(), |_| {})
        .await;
    assert!(reports[0].succeeded(), "{}", reports[0]);
    assert!(matches!(reports[0].usage, UsageOutcome::Failed { .. }), "{:?}", reports[0].usage);
    let app = TestApp::start(config).await;
    let rows = app.credentials("").await;
    assert_eq!(by_key(&rows, NEVER)["usage"], "idle", "nothing of the partial read was kept");
    assert_eq!(environment(&app, "prod").await["usage_status"], "unavailable");
    app.stop().await;
}

#[tokio::test]
async fn a_new_complete_read_replaces_what_changed_and_drops_what_the_report_no_longer_has() {
    let mut w = world().await;
    w.file.usage().refresh_hours = Some(0);
    let config = w.config();
    let store = w.sync_with(&config).await;
    let app = TestApp::start(config.clone()).await;
    let before = app.credentials("").await;
    assert_eq!(by_key(&before, BOUNDARY_OUT)["usage"], "idle");
    assert_eq!(by_key(&before, IN_USE)["usage"], "in_use");
    // The next report: BOUNDARY_OUT used since, IN_USE gone from it, NEVER still absent.
    let t = now();
    let kept: Vec<CredentialSignIn> = w
        .emu
        .credential_sign_ins(PROD_TENANT)
        .into_iter()
        .filter(|r| !r.key_id.eq_ignore_ascii_case(IN_USE))
        .collect();
    w.emu.set_credential_sign_ins(PROD_TENANT, kept);
    assert!(
        w.emu
            .record_sign_in(PROD_TENANT, BOUNDARY_OUT, &rfc(t - chrono::Duration::hours(2)))
    );
    let reports = Syncer::new(&config, store.clone())
        .sync_all(None, &CancellationToken::new(), |_| {})
        .await;
    assert!(matches!(reports[0].usage, UsageOutcome::Read { .. }), "{:?}", reports[0].usage);
    let after = app.credentials("").await;
    assert_eq!(by_key(&after, BOUNDARY_OUT)["usage"], "in_use", "a changed sign-in is written");
    assert_eq!(by_key(&after, IN_USE)["usage"], "idle", "a key the report no longer has is dropped");
    assert_eq!(by_key(&after, IN_USE)["last_used_at"], Value::Null);
    assert_eq!(by_key(&after, BOUNDARY_IN)["usage"], "in_use", "an unchanged one stays");
    assert_eq!(
        by_key(&after, BOUNDARY_IN)["last_used_at"],
        by_key(&before, BOUNDARY_IN)["last_used_at"]
    );
    app.stop().await;
}

#[tokio::test]
async fn usage_has_a_cadence_of_its_own() {
    let w = world().await;
    let config = w.config();
    let store = w.sync_with(&config).await;
    let reads = || {
        w.emu
            .requests()
            .iter()
            .filter(|r| r.path == "/beta/reports/appCredentialSignInActivities")
            .count()
    };
    assert_eq!(reads(), 1);
    let reports = Syncer::new(&config, store).sync_all(None, &CancellationToken::new(), |_| {}).await;
    assert_eq!(reports[0].usage, UsageOutcome::NotDue);
    assert_eq!(reads(), 1, "the default refresh is hours, not every sync");
}

#[tokio::test]
async fn usage_is_off_for_a_sovereign_cloud_and_when_turned_off() {
    let mut w = world().await;
    w.file.environment("prod").usage = Some(false);
    let mut gov = w.environment("gov", TEST_TENANT, CLIENT);
    gov.usage = None;
    gov.graph_url = Some("https://graph.microsoft.us".into());
    gov.authority_host = Some("https://login.microsoftonline.us".into());
    w.file.environments.push(gov.clone());
    let config = w.config();
    assert!(!config.environment("gov").unwrap().usage, "national clouds have no usage reports");
    let store = w.store(&config).await;
    let reports = Syncer::new(&config, store.clone())
        .sync_all(Some("prod"), &CancellationToken::new(), |_| {})
        .await;
    assert!(reports[0].succeeded());
    assert_eq!(reports[0].usage, UsageOutcome::Skipped);
    assert!(!w.emu.requests().iter().any(|r| r.path.starts_with("/beta/")));
    let app = TestApp::start(config).await;
    for name in ["prod", "gov"] {
        let env = environment(&app, name).await;
        assert_eq!(env["usage_status"], "off", "{name}");
        assert_eq!(env["usage_reason"], Value::Null);
    }
    assert!(app.credentials("").await.iter().all(|c| c["usage"] == "unknown"));
    app.stop().await;

    // Asking for usage on a national cloud is an error naming the key.
    gov.usage = Some(true);
    w.file.environments.pop();
    w.file.environments.push(gov);
    let vars = w.vars.clone();
    let err = credwatch::config::Config::from_toml(&w.file.to_toml(), None, &move |k| vars.get(k).cloned()).unwrap_err();
    assert_eq!(err.key, "environments[1].usage");
    assert!(err.problem.contains("global service only"), "{err}");
}

#[tokio::test]
async fn rotation_verdicts_come_from_the_evidence() {
    let mut w = World::new().await;
    let prod = w.tenant("prod", PROD_TENANT, CLIENT);
    prod.usage = Some(true);
    prod.notify = vec!["ops@example.com".into()];
    let t = now();
    let appeared = t - days(10);
    w.emu.set_applications(
        PROD_TENANT,
        vec![
            app(1, "done").secrets(vec![
                secret_between("d0000000-0000-4000-8000-000000000001", "old", t - days(400), t + days(20)),
                secret_between("d0000000-0000-4000-8000-000000000002", "new", appeared, t + days(700)),
            ]),
            app(2, "halfway").secrets(vec![
                secret_between("e0000000-0000-4000-8000-000000000001", "old", t - days(400), t + days(20)),
                secret_between("e0000000-0000-4000-8000-000000000002", "new", appeared, t + days(700)),
            ]),
        ],
    );
    w.emu
        .record_sign_in(PROD_TENANT, "d0000000-0000-4000-8000-000000000001", &rfc(appeared - days(1)));
    w.emu
        .record_sign_in(PROD_TENANT, "d0000000-0000-4000-8000-000000000002", &rfc(t - days(1)));
    w.emu
        .record_sign_in(PROD_TENANT, "e0000000-0000-4000-8000-000000000001", &rfc(t - days(2)));
    w.emu
        .record_sign_in(PROD_TENANT, "e0000000-0000-4000-8000-000000000002", &rfc(t - days(1)));
    let config = w.config();
    w.sync_with(&config).await;
    let app = TestApp::start(config).await;
    let rows = app.credentials("").await;
    let done_old = by_key(&rows, "d0000000-0000-4000-8000-000000000001");
    assert_eq!(done_old["rotation"], "complete");
    let halfway_old = by_key(&rows, "e0000000-0000-4000-8000-000000000001");
    assert_eq!(halfway_old["rotation"], "in_progress");
    assert_eq!(halfway_old["superseded_by"], Value::Null, "the old one is still needed");
    assert_eq!(by_key(&rows, "d0000000-0000-4000-8000-000000000002")["rotation"], Value::Null);
    let csv = app.get("/api/v1/credentials.csv").await.text().await.unwrap();
    assert!(
        csv.lines()
            .find(|l| l.contains("e0000000-0000-4000-8000-000000000001"))
            .unwrap()
            .ends_with(",in_progress,,")
    );
    // The application page and the digests say it in words, in place of "superseded".
    let page = app.page(&format!("/environments/prod/applications/{}", graph::object_id(2))).await;
    assert!(
        page.text()
            .contains("rotation in progress: something still uses the old one (last used"),
        "{}",
        page.text()
    );
    let page = app.page(&format!("/environments/prod/applications/{}", graph::object_id(1))).await;
    assert!(page.text().contains("rotation complete: delete the old one"));
    let plan = credwatch::reminders::plan_reminders(&app.store, &app.config, t + days(10))
        .await
        .unwrap();
    let item = |key: &str| {
        plan.digests
            .iter()
            .flat_map(|d| &d.items)
            .find(|i| i.credential.key_id == key)
            .unwrap_or_else(|| panic!("{key} is reminded"))
    };
    let line = |key: &str| credwatch::reminders::render::Line::new(item(key), &app.config.server.public_url, plan.now);
    assert!(
        line("e0000000-0000-4000-8000-000000000001")
            .action
            .starts_with("finish the rotation")
    );
    assert!(line("d0000000-0000-4000-8000-000000000001").action.starts_with("rotation complete"));
    app.stop().await;
}

/// A credential of its own app each, so that no rotation verdict mixes them.
fn lone(n: u32, key: &str, name: &str, end: chrono::DateTime<chrono::Utc>) -> crate::support::emu::Application {
    app(n, name).secrets(vec![secret(key, name, end)])
}

#[tokio::test]
async fn needs_action_ranks_by_what_can_break_and_expired_idle_go_to_cleanup() {
    let mut w = World::new().await;
    w.tenant("prod", PROD_TENANT, CLIENT).usage = Some(true);
    let t = now();
    let key = |n: u32| format!("f0000000-0000-4000-8000-00000000000{n}");
    w.emu.set_applications(
        PROD_TENANT,
        vec![
            lone(1, &key(1), "incident", t - days(2)),
            lone(2, &key(2), "soon in use", t + days(3)),
            lone(3, &key(3), "later in use", t + days(10)),
            lone(4, &key(4), "soon idle", t + days(1)),
            lone(5, &key(5), "long dead", t - days(60)),
            lone(6, &key(6), "expired in use", t - days(5)),
            lone(7, &key(7), "fine", t + days(300)),
        ],
    );
    w.emu.record_sign_in(PROD_TENANT, &key(1), &rfc(t - days(3)));
    w.emu.record_sign_in(PROD_TENANT, &key(2), &rfc(t - days(1)));
    w.emu.record_sign_in(PROD_TENANT, &key(3), &rfc(t - days(1)));
    w.emu.record_sign_in(PROD_TENANT, &key(5), &rfc(t - days(100)));
    w.emu.record_sign_in(PROD_TENANT, &key(6), &rfc(t - days(25)));
    w.emu.record_sign_in(PROD_TENANT, &key(7), &rfc(t - days(1)));
    let config = w.config();
    w.sync_with(&config).await;
    let app = TestApp::start(config).await;
    let page = app.page("/").await;
    let needs = page.select("#needs-action tbody tr");
    let rows: Vec<(String, String)> = needs
        .iter()
        .map(|tr| {
            let cells = crate::support::parse::within(tr, "td");
            (
                crate::support::parse::text(&cells[0]),
                crate::support::parse::text(cells.last().unwrap()),
            )
        })
        .collect();
    let names: Vec<&str> = rows.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["incident", "soon in use", "later in use", "expired in use", "soon idle"],
        "{rows:?}"
    );
    assert!(rows[0].1.starts_with("incident"), "{rows:?}");
    assert!(rows[4].1.contains("delete instead of rotating"), "{rows:?}");
    let cleanup: Vec<String> = page
        .select("#cleanup tbody tr td:first-child")
        .iter()
        .map(crate::support::parse::text)
        .collect();
    assert_eq!(cleanup, ["long dead"]);
    assert!(page.text().contains("Needs action (5)"), "the total leaves the cleanup out");
    // The environment card says usage was read, and how long ago.
    assert!(page.one(".usage-status").text().collect::<String>().starts_with("read "));

    // The inventory and the application page show "last used", relative and exact.
    let inventory = app.page("/environments/prod").await;
    let text = inventory.text();
    assert!(text.contains("Last used") && text.contains("24 h ago"), "{text}");
    let app_page = app.page(&format!("/environments/prod/applications/{}", graph::object_id(5))).await;
    let text = app_page.text();
    assert!(text.contains("idle") && text.contains("3 months ago"), "{text}");
    assert!(text.contains("Last signed in"), "{text}");

    // Metrics count by environment, status and usage.
    let metrics = crate::support::parse::Metrics::parse(&app.get("/metrics").await.text().await.unwrap());
    let count = |status: &str, usage: &str| {
        metrics.value(
            "credwatch_credentials",
            &[("environment", "prod"), ("status", status), ("usage", usage)],
        )
    };
    assert_eq!(count("expired", "in_use"), 2.0);
    assert_eq!(count("expired", "idle"), 1.0);
    assert_eq!(count("critical", "in_use"), 1.0);
    assert_eq!(count("critical", "idle"), 1.0);
    assert_eq!(count("warning", "in_use"), 1.0);
    assert_eq!(count("ok", "in_use"), 1.0);
    assert_eq!(count("ok", "unknown"), 0.0);
    assert_eq!(metrics.samples("credwatch_credentials").len(), 12, "4 statuses × 3 usages: bounded");
    app.stop().await;
}

#[tokio::test]
async fn check_says_whether_usage_can_be_read_and_what_to_grant() {
    let mut w = World::new().await;
    w.tenant("prod", "tenant-prod", "client-prod").usage = Some(true);
    w.tenant("dev", "tenant-dev", "client-dev").usage = Some(true);
    w.tenant("test", "tenant-test", "client-test").usage = Some(true);
    w.emu.deny_usage("tenant-dev", Some(UsageDenial::NoPermission));
    w.emu.deny_usage("tenant-test", Some(UsageDenial::NoLicense));
    let path = w.write_config();
    let (code, out, _) = w.run(&["check", "--config", path.to_str().unwrap()]).await;
    assert_eq!(code, 0, "usage is advice, never a failed check: {out}");
    let line = |env: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{env}: usage: ")))
            .unwrap_or_else(|| panic!("{env} has a usage line: {out}"))
            .to_string()
    };
    assert!(line("prod").contains("ok: can read"), "{out}");
    assert!(
        line("dev").starts_with("dev: usage: no_permission") && line("dev").contains("AuditLog.Read.All"),
        "{out}"
    );
    assert!(
        line("test").starts_with("test: usage: no_license") && line("test").contains("P1 or P2"),
        "{out}"
    );
    assert_eq!(out.matches("dev: usage").count(), 1, "said once per environment");
}

const USED: &str = "aa000000-0000-4000-8000-000000000001";
const UNUSED: &str = "aa000000-0000-4000-8000-000000000002";

/// `prod` (usage on) with two secrets ending in 5 days: one used yesterday, one never; the
/// ladder at 30, 7 and 1 days; digests over real SMTP to ops@example.com.
async fn reminder_world(t: chrono::DateTime<chrono::Utc>) -> (World, crate::support::smtp::SmtpServer) {
    let mut w = World::new().await;
    w.tenant("prod", PROD_TENANT, CLIENT).usage = Some(true);
    w.file.reminders = Some(crate::support::config::Reminders::ladder(&[30, 7, 1]));
    let server = crate::support::smtp::SmtpServer::start();
    w.file.email = Some(crate::support::config::Email::smtp(&server.url(), &["ops@example.com"]));
    w.emu.set_applications(
        PROD_TENANT,
        vec![lone(1, USED, "orders api", t + days(5)), lone(2, UNUSED, "old export", t + days(5))],
    );
    w.emu.record_sign_in(PROD_TENANT, USED, &rfc(t - days(1)));
    (w, server)
}

#[tokio::test]
async fn idle_credentials_get_one_cleanup_notice_instead_of_the_ladder() {
    use credwatch::domain::Rung;
    use credwatch::reminders::try_remind;
    let t = now();
    let (w, server) = reminder_world(t).await;
    let config = w.config();
    let store = w.sync_with(&config).await;
    let rungs = |key: &'static str| {
        let store = store.clone();
        async move {
            let c = store
                .credentials(&credwatch::store::CredentialFilter::default())
                .await
                .unwrap()
                .into_iter()
                .find(|c| c.key_id == key)
                .unwrap();
            let mut rungs: Vec<Rung> = store.reminders_of(c.id).await.unwrap().iter().map(|r| r.rung()).collect();
            rungs.sort();
            rungs
        }
    };

    let report = try_remind(&store, &config, t, false).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let messages = server.take();
    assert_eq!(messages.len(), 1);
    let body = messages[0].body_text();
    let subject = messages[0].subject();
    assert!(
        subject.contains("1 credential expires within 7 days; 1 unused to delete"),
        "{subject}"
    );
    let used = body
        .split("* ")
        .find(|s| s.starts_with("orders api"))
        .expect("the used secret is listed");
    assert!(
        used.contains("last used:") && used.contains("(in use)") && used.contains("rotate"),
        "{used}"
    );
    let unused = body
        .split("* ")
        .find(|s| s.starts_with("old export"))
        .expect("the unused secret is listed");
    assert!(unused.contains("last used:   never (no recorded sign-in)"), "{unused}");
    assert!(unused.contains("delete this secret instead of rotating it"), "{unused}");
    assert_eq!(
        rungs(USED).await,
        [Rung::DaysBefore(7), Rung::DaysBefore(30)],
        "the ladder, 30 skipped"
    );
    assert_eq!(rungs(UNUSED).await, [Rung::Cleanup]);

    // Four and a half days later the used one reaches the 1-day rung; the idle one gets nothing
    // more: its notice was the only one.
    let later = t + days(4) + chrono::Duration::hours(12);
    let report = try_remind(&store, &config, later, false).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let messages = server.take();
    assert_eq!(messages.len(), 1);
    let body = messages[0].body_text();
    assert!(body.contains("orders api") && !body.contains("old export"), "{body}");
    assert_eq!(rungs(USED).await, [Rung::DaysBefore(1), Rung::DaysBefore(7), Rung::DaysBefore(30)]);
    assert_eq!(rungs(UNUSED).await, [Rung::Cleanup]);
}

#[tokio::test]
async fn idle_reminders_can_follow_the_ladder_or_be_off() {
    let t = now();
    for (mode, unused_gets) in [("ladder", Some("7-day reminder")), ("none", None)] {
        let (mut w, _server) = reminder_world(t).await;
        w.file.usage().idle_reminders = Some(mode.into());
        let config = w.config();
        let store = w.sync_with(&config).await;
        let plan = credwatch::reminders::plan_reminders(&store, &config, t).await.unwrap();
        let items: Vec<_> = plan.digests.iter().flat_map(|d| &d.items).collect();
        let unused = items.iter().find(|i| i.credential.key_id == UNUSED);
        assert_eq!(
            unused.map(|i| i.rung.to_string()),
            unused_gets.map(|_| "7 days before".to_string()),
            "{mode}"
        );
        assert!(
            items.iter().any(|i| i.credential.key_id == USED),
            "{mode}: the used one follows the ladder"
        );
    }
}

#[tokio::test]
async fn findings_name_unused_credentials_and_applications_never_signed_in() {
    let mut w = World::new().await;
    w.tenant("prod", PROD_TENANT, CLIENT).usage = Some(true);
    let t = now();
    let key = |n: u32| format!("c0000000-0000-4000-8000-00000000000{n}");
    w.emu.set_applications(
        PROD_TENANT,
        vec![
            app(1, "forgotten").secrets(vec![secret_between(&key(1), "never", t - days(200), t + days(300))]),
            app(2, "stale").secrets(vec![secret_between(&key(2), "stale", t - days(200), t + days(300))]),
            app(3, "busy").secrets(vec![secret_between(&key(3), "busy", t - days(200), t + days(300))]),
            app(4, "new").secrets(vec![secret_between(&key(4), "new", t - days(10), t + days(300))]),
        ],
    );
    w.emu.record_sign_in(PROD_TENANT, &key(2), &rfc(t - days(120)));
    w.emu.record_sign_in(PROD_TENANT, &key(3), &rfc(t - days(1)));
    let config = w.config();
    w.sync_with(&config).await;
    let app = TestApp::start(config).await;
    let body = app.json("/api/v1/findings").await;
    assert_eq!(body["counts"]["unused_credential"], 2, "{body}");
    // "new" signed in nowhere either, but its credential is 10 days old: too soon to ask.
    assert_eq!(body["counts"]["never_signed_in"], 1, "forgotten only: {body}");
    let findings = body["findings"].as_array().unwrap();
    let never: Vec<(&str, &str)> = findings
        .iter()
        .filter(|f| f["kind"] == "never_signed_in")
        .map(|f| (f["app_display_name"].as_str().unwrap(), f["detail"].as_str().unwrap()))
        .collect();
    assert_eq!(
        never,
        [(
            "forgotten",
            "no sign-in in the activity reports, with credentials for 200 days: is it still needed?"
        )]
    );
    let unused: Vec<(&str, &str)> = findings
        .iter()
        .filter(|f| f["kind"] == "unused_credential")
        .map(|f| (f["key_id"].as_str().unwrap(), f["detail"].as_str().unwrap()))
        .collect();
    assert_eq!(
        unused,
        [
            (key(1).as_str(), "no recorded sign-in; created 200 days ago"),
            (key(2).as_str(), "last used 120 days ago")
        ]
    );
    let page = app.page("/findings").await;
    assert!(page.text().contains("Unused credential") && page.text().contains("Application never signed in"));
    app.stop().await;
}

/// A read that brings exactly the reports written last time only confirms them (their digest is
/// kept); a changed report, or the first good read after a failed one, is written.
#[tokio::test]
async fn the_same_reports_again_are_only_confirmed() {
    use credwatch::domain::{AppSignIn, CredentialSignIn, Timestamp, UsageReport, UsageStatus};
    use credwatch::store::UsageWrite;
    let w = world().await;
    let store = w.sync_with(&w.config()).await;
    let env = store.environment_by_name("prod").await.unwrap();
    let at = |days_ago: i64| Timestamp::from(now() - days(days_ago));
    let report = UsageReport {
        credentials: vec![CredentialSignIn {
            key_id: "f0000000-0000-4000-8000-000000000001".into(),
            app_id: "f0000000-0000-4000-8000-0000000000a1".into(),
            last_sign_in: Some(at(3)),
            resource_id: None,
        }],
        applications: vec![AppSignIn {
            app_id: "f0000000-0000-4000-8000-0000000000a1".into(),
            last_sign_in: Some(at(3)),
            client_sign_in: None,
        }],
    };
    let stored = async || -> (Option<Timestamp>, i64, Option<Timestamp>) {
        sqlx::query_as(
            "SELECT (SELECT last_sign_in_at FROM credential_usage WHERE key_id = 'f0000000-0000-4000-8000-000000000001'),
                    (SELECT count(*) FROM credential_usage), usage_read_at FROM environments WHERE name = 'prod'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap()
    };
    assert_eq!(store.record_usage(env.id, &report, at(2)).await.unwrap(), UsageWrite::Written);
    assert_eq!(
        stored().await,
        (Some(at(3)), 1, Some(at(2))),
        "the sync's rows replaced by this report's"
    );
    assert_eq!(store.record_usage(env.id, &report, at(1)).await.unwrap(), UsageWrite::Unchanged);
    assert_eq!(
        stored().await,
        (Some(at(3)), 1, Some(at(1))),
        "confirmed: read again at the later time"
    );

    let mut changed = report.clone();
    changed.credentials[0].resource_id = Some("00000003-0000-0000-c000-000000000000".into());
    assert_eq!(store.record_usage(env.id, &changed, at(1)).await.unwrap(), UsageWrite::Written);
    let (resource,): (Option<String>,) = sqlx::query_as("SELECT resource_id FROM credential_usage")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(resource.as_deref(), Some("00000003-0000-0000-c000-000000000000"));

    store
        .record_usage_failure(env.id, UsageStatus::Unavailable, "HTTP 503", at(1))
        .await
        .unwrap();
    assert_eq!(
        store.record_usage(env.id, &changed, at(0)).await.unwrap(),
        UsageWrite::Written,
        "after a failed read, the next good one is written in full"
    );
}
