//! Sync end to end: real HTTP to the Graph emulator, a real SQLite file per test.

use crate::support::emu::{Application, ClientAuth, PasswordCredential, generate_applications};
use crate::support::graph::{AppBuilder, app, at, cert, secret};
use crate::support::{SECRET, World, secret_var};
use credwatch::graph::GraphClient;
use credwatch::store::CredentialFilter;
use std::time::{Duration, Instant};

#[tokio::test]
async fn secret_sign_in_pages_through_everything_and_stores_it() {
    let mut w = World::new().await;
    w.tenant("prod", "tenant-prod", "client-prod");
    let apps = generate_applications(1, 2_300, chrono::Utc::now());
    let expected: usize = apps.iter().map(|a| a.password_credentials.len() + a.key_credentials.len()).sum();
    w.emu.set_applications("tenant-prod", apps);
    let reports = w.try_sync().await;
    let r = &reports[0];
    let counts = r.result.as_ref().expect("sync succeeds");
    // Owners come with the listing ($expand), and Graph pages expanded listings by 100.
    assert_eq!(r.pages, 23, "2,300 applications with owners expanded are 23 pages of 100");
    assert_eq!(counts.applications, 2_300);
    assert_eq!(counts.credentials as usize, expected);
    assert_eq!(counts.added as usize, expected);
    assert_eq!(w.live().await.len(), expected);

    // The listing asked only for what it needs, 100 at a time with owners, and followed every nextLink.
    let listings: Vec<_> = w.emu.requests().into_iter().filter(|r| r.path == "/v1.0/applications").collect();
    assert_eq!(listings.len(), 23);
    assert!(
        listings[0].query.contains("%24top=100") || listings[0].query.contains("$top=100"),
        "{}",
        listings[0].query
    );
    assert!(listings[0].query.contains("expand"), "{}", listings[0].query);
    assert!(listings[0].query.contains("select"), "{}", listings[0].query);
    assert!(listings[1].query.contains("skiptoken"));
    assert_eq!(w.emu.token_requests(), 1, "one token serves the whole listing");

    // A second sync with nothing changed adds and removes nothing.
    let again = w.try_sync().await;
    let c = again[0].result.as_ref().unwrap();
    assert_eq!((c.added, c.removed, c.credentials as usize), (0, 0, expected));
}

/// One application with one secret, for tests about signing in and retrying rather than data.
fn one_app(name: &str) -> Vec<Application> {
    vec![app(1, name).secrets(vec![secret("k1", "secret k1", at("2027-01-01T00:00:00Z"))])]
}

/// The status of each listing request the emulator answered, in order.
fn listing_statuses(w: &World) -> Vec<u16> {
    w.emu
        .requests()
        .iter()
        .filter(|r| r.path == "/v1.0/applications")
        .map(|r| r.status)
        .collect()
}

/// How the first token request authenticated, as the emulator saw it.
fn sign_in_method(w: &World) -> &'static str {
    let token = w.emu.requests().into_iter().find(|r| r.path.ends_with("/oauth2/v2.0/token"));
    token.and_then(|r| r.auth_method).expect("a token request").as_str()
}

#[tokio::test]
async fn certificate_sign_in_uses_a_verified_assertion() {
    let mut w = World::new().await;
    w.emu.add_tenant("tenant-cert");
    let pem = std::fs::read_to_string(World::fixture("client-cert.pem")).unwrap();
    w.emu.register_client("tenant-cert", "client-cert", ClientAuth::Certificate { pem });
    w.emu.set_applications("tenant-cert", one_app("cert app"));
    let mut entry = w.environment("certs", "tenant-cert", "client-cert");
    entry.certificate(World::fixture("client-cert.pem"));
    w.file.environments.push(entry);
    let reports = w.try_sync().await;
    assert_eq!(reports[0].result.as_ref().unwrap().credentials, 1);
    assert_eq!(sign_in_method(&w), "assertion-ps256");

    // A certificate the app does not know is refused with the AADSTS code and a hint.
    w.file.environment("certs").certificate(World::fixture("other-cert.pem"));
    let err = w.try_sync().await[0].result.as_ref().unwrap_err().to_string();
    assert!(err.contains("AADSTS700027") && err.contains("certificate"), "{err}");
}

#[tokio::test]
async fn federated_token_file_sign_in() {
    let mut w = World::new().await;
    w.emu.add_tenant("tenant-fed");
    w.emu.register_client(
        "tenant-fed",
        "client-fed",
        ClientAuth::Federated {
            assertion: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln".into(),
        },
    );
    w.emu.set_applications("tenant-fed", one_app("fed app"));
    let token_file = w.dir.path().join("token");
    std::fs::write(&token_file, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln\n").unwrap();
    let mut entry = w.environment("fed", "tenant-fed", "client-fed");
    entry.federated(token_file);
    w.file.environments.push(entry);
    assert!(w.try_sync().await[0].succeeded());
    assert_eq!(sign_in_method(&w), "federated");
}

#[tokio::test]
async fn sign_in_errors_carry_the_aadsts_code_and_a_hint() {
    let mut w = World::new().await;
    w.tenant("prod", "tenant-prod", "client-prod");
    w.emu.register_client(
        "tenant-prod",
        "client-expired",
        ClientAuth::Secret {
            value: SECRET.into(),
            expired: true,
        },
    );
    let cases = [
        (
            ("tenant-prod", "client-prod"),
            Some("wrong-secret"),
            "AADSTS7000215",
            "wrong client secret",
        ),
        (("tenant-prod", "client-expired"), None, "AADSTS7000222", "has expired"),
        (("no-such-tenant", "client-prod"), None, "AADSTS90002", "tenant not found"),
        (("tenant-prod", "no-such-client"), None, "AADSTS700016", "application not found"),
    ];
    for ((tenant, client), secret, code, hint) in cases {
        w.vars.insert(secret_var("prod"), secret.unwrap_or(SECRET).into());
        let entry = w.file.environment("prod");
        entry.tenant_id = Some(tenant.into());
        entry.client_id = Some(client.into());
        let err = w.try_sync().await[0].result.as_ref().unwrap_err().to_string();
        assert!(err.contains(code) && err.contains(hint), "{code}: {err}");
        assert!(
            !err.contains(SECRET) && !err.contains("wrong-secret"),
            "the secret leaked into the error: {err}"
        );
    }
}

#[tokio::test]
async fn a_403_names_the_missing_permission() {
    let mut w = World::new().await;
    w.tenant("prod", "tenant-prod", "client-prod");
    w.emu.deny_permission("tenant-prod", "client-prod");
    let err = w.try_sync().await[0].result.as_ref().unwrap_err().to_string();
    assert!(err.contains("Application.Read.All") && err.contains("admin consent"), "{err}");
}

#[tokio::test]
async fn a_429_with_a_fractional_retry_after_is_waited_out() {
    let mut w = World::new().await;
    w.tenant("prod", "tenant-prod", "client-prod");
    w.emu.set_applications("tenant-prod", one_app("a"));
    w.emu.throttle(2, Some("0.35".into()));
    let started = Instant::now();
    let reports = w.try_sync().await;
    assert!(reports[0].succeeded(), "{:?}", reports[0].result);
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "two Retry-After: 0.35 waits, took {:?}",
        started.elapsed()
    );
    let statuses = listing_statuses(&w);
    assert_eq!(statuses, vec![429, 429, 200]);
}

#[tokio::test]
async fn throttling_without_retry_after_backs_off_and_gives_up_when_bounded() {
    let mut w = World::new().await;
    w.tenant("prod", "tenant-prod", "client-prod");
    w.emu.set_applications("tenant-prod", one_app("a"));
    w.emu.fail_requests(10, 503);
    let err = w.try_sync().await[0].result.as_ref().unwrap_err().to_string();
    assert!(err.contains("after 3 attempt") && err.contains("503"), "{err}");
    let n = w.emu.requests().iter().filter(|r| r.path == "/v1.0/applications").count();
    assert_eq!(n, 3, "max_attempts = 3 bounds the retries");
}

#[tokio::test]
async fn a_token_expiring_mid_listing_is_renewed() {
    let mut w = World::new().await;
    w.tenant("prod", "tenant-prod", "client-prod");
    w.emu
        .set_applications("tenant-prod", generate_applications(2, 2_100, chrono::Utc::now()));
    let config = w.config();
    let client = GraphClient::new(&config.environments[0], &config.sync).unwrap();
    let mut pages = 0;
    let mut apps = 0;
    let stats = client
        .list_applications(true, |page: Vec<credwatch::domain::ListedApplication>| {
            pages += 1;
            apps += page.len();
            if pages == 1 {
                w.emu.expire_tokens();
            }
        })
        .await
        .expect("the listing survives a token expiring mid-way");
    assert_eq!((stats.pages, apps), (21, 2_100));
    assert_eq!(w.emu.token_requests(), 2, "signed in again once");
    let statuses = listing_statuses(&w);
    assert_eq!(statuses[..3], [200, 401, 200]);
    assert!(statuses[3..].iter().all(|s| *s == 200) && statuses.len() == 22, "{statuses:?}");
}

#[tokio::test]
async fn a_failed_page_removes_nothing_and_the_binary_exits_1() {
    let mut w = World::new().await;
    w.tenant("prod", "tenant-prod", "client-prod");
    w.emu
        .set_applications("tenant-prod", generate_applications(3, 2_500, chrono::Utc::now()));
    let config_path = w.write_config();
    let cfg = config_path.to_str().unwrap();

    let (code, out, err) = w.run(&["sync", "--config", cfg]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("prod: ok, 2500 applications"), "{out}");
    let before = w.live().await.len();

    // The tenant loses half its apps, but the listing's second page fails: nothing may change.
    w.emu.update_applications("tenant-prod", |apps| apps.truncate(1_250));
    w.emu.fail_page(1, 500, 3); // every attempt of the run (max_attempts = 3)
    let (code, out, _) = w.run(&["sync", "--config", cfg]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("prod: FAILED") && out.contains("500"), "{out}");
    assert_eq!(w.live().await.len(), before, "a failed listing removed credentials");
    let store = w.store(&w.config()).await;
    let env = store.environment_by_name("prod").await.unwrap();
    let runs = store.recent_runs(env.id, 5).await.unwrap();
    assert_eq!(runs[0].outcome, "failed");
    assert!(runs[0].error.as_deref().unwrap().contains("500"));
    assert_eq!(runs[1].outcome, "success");

    // The next complete listing applies the change.
    let (code, out, _) = w.run(&["sync", "--config", cfg]).await;
    assert_eq!(code, 0, "{out}");
    assert!(w.live().await.len() < before);
}

#[tokio::test]
async fn a_credential_gone_from_a_complete_listing_is_marked_removed() {
    let mut w = World::new().await;
    w.tenant("prod", "tenant-prod", "client-prod");
    w.emu.set_applications(
        "tenant-prod",
        vec![
            app(1, "payroll").secrets(vec![
                secret("old", "secret old", at("2026-12-01T00:00:00Z")),
                // Graph writes up to seven fractional digits.
                PasswordCredential {
                    end_date_time: Some("2027-12-01T00:00:00.1234567Z".into()),
                    ..secret("new", "secret new", at("2027-12-01T00:00:00Z"))
                },
            ]),
            Application {
                display_name: None,
                ..app(2, "").secrets(vec![secret("k2", "secret k2", at("9999-12-31T00:00:00Z"))])
            },
        ],
    );
    w.try_sync().await;
    assert_eq!(w.live().await.len(), 3);

    // "old" is rotated away, app 2 is deleted.
    w.emu.update_applications("tenant-prod", |apps| {
        apps[0].password_credentials.retain(|c| c.key_id != "old");
        apps.truncate(1);
        apps[0].key_credentials.push(cert("cert", "CN=payroll", at("2028-01-01T00:00:00Z")));
    });
    let r = w.try_sync().await;
    let c = r[0].result.as_ref().unwrap();
    assert_eq!((c.added, c.removed, c.credentials), (1, 2, 2));
    let now_live: Vec<_> = w.live().await.into_iter().map(|c| (c.key_id, c.kind.to_string())).collect();
    assert_eq!(
        now_live,
        vec![
            ("new".to_string(), "secret".to_string()),
            ("cert".to_string(), "certificate".to_string())
        ]
    );

    // History keeps the removed credential with its removal time.
    let store = w.store(&w.config()).await;
    let all = store
        .credentials(&CredentialFilter {
            include_removed: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let old = all.iter().find(|c| c.key_id == "old").unwrap();
    assert!(old.removed_at.is_some());
    let k2 = all.iter().find(|c| c.key_id == "k2").unwrap();
    assert_eq!(k2.end_at.to_string(), "9999-12-31T00:00:00Z", "year 9999 stored intact");
    assert_eq!(k2.app_display_name, None, "a null name stays null");

    // A renamed credential is updated in place; nothing else is rewritten.
    w.emu.update_applications("tenant-prod", |apps| {
        apps[0].password_credentials[0].display_name = Some("renamed".into())
    });
    let c = *w.try_sync().await[0].result.as_ref().unwrap();
    assert_eq!((c.added, c.removed), (0, 0));
    assert!(w.live().await.iter().any(|c| c.display_name.as_deref() == Some("renamed")));

    // A credential that comes back is live again.
    w.emu.update_applications("tenant-prod", |apps| {
        apps[0].password_credentials.push(PasswordCredential {
            key_id: "old".into(),
            end_date_time: Some("2026-12-01T00:00:00Z".into()),
            ..Default::default()
        });
    });
    w.try_sync().await;
    assert!(w.live().await.iter().any(|c| c.key_id == "old"));
}

#[tokio::test]
async fn one_environment_failing_does_not_stop_the_others() {
    let mut w = World::new().await;
    w.tenant("prod", "tenant-prod", "client-prod");
    w.tenant("test", "tenant-test", "client-test");
    w.emu
        .set_applications("tenant-prod", generate_applications(4, 50, chrono::Utc::now()));
    w.emu
        .set_applications("tenant-test", generate_applications(5, 40, chrono::Utc::now()));
    w.vars.insert("TEST_SECRET".into(), "not-the-secret".into());
    let path = w.write_config();
    let (code, out, _) = w.run(&["sync", "--config", path.to_str().unwrap()]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("prod: ok, 50 applications"), "{out}");
    assert!(out.contains("test: FAILED") && out.contains("AADSTS7000215"), "{out}");
    assert!(!out.contains("not-the-secret"));

    // --env syncs only the named environment.
    w.vars.insert("TEST_SECRET".into(), SECRET.into());
    let (code, out, _) = w.run(&["sync", "--config", path.to_str().unwrap(), "--env", "test"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("test: ok, 40 applications") && !out.contains("prod:"), "{out}");
    let (code, _, err) = w.run(&["sync", "--config", path.to_str().unwrap(), "--env", "nope"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("nope") && err.contains("prod, test"), "{err}");
}

#[tokio::test]
async fn check_signs_in_to_each_environment_and_reports_plainly() {
    let mut w = World::new().await;
    w.tenant("prod", "tenant-prod", "client-prod");
    w.tenant("dev", "tenant-dev", "client-dev");
    w.emu.deny_permission("tenant-dev", "client-dev");
    let path = w.write_config();
    let (code, out, _) = w.run(&["check", "--config", path.to_str().unwrap()]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("config: ok"), "{out}");
    assert!(out.contains("prod: ok") && out.contains("can list applications"), "{out}");
    assert!(out.contains("dev: FAILED") && out.contains("Application.Read.All"), "{out}");
}

#[tokio::test]
async fn environments_sync_concurrently_without_tripping_over_the_database() {
    let mut w = World::new().await;
    let names = ["a", "b", "c", "d", "e", "f"];
    let tenants: Vec<String> = names.iter().map(|n| format!("tenant-{n}")).collect();
    let clients: Vec<String> = names.iter().map(|n| format!("client-{n}")).collect();
    for (i, n) in names.iter().enumerate() {
        w.tenant(n, &tenants[i], &clients[i]);
        w.emu
            .set_applications(&tenants[i], generate_applications(100 + i as u64, 400, chrono::Utc::now()));
    }
    for round in 0..2 {
        let reports = w.try_sync().await;
        assert_eq!(reports.len(), 6);
        assert!(reports.iter().all(|r| r.succeeded()), "round {round}: {reports:?}");
    }
}
