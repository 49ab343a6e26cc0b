//! Application owners end to end against the emulator: expanded with the listing and read in
//! full past Graph's 20, enterprise applications with a SAML triple counted once, and owners
//! refreshed on their own cadence.

use crate::support::emu::{DirectoryObject, KeyCredential, ServicePrincipal};
use crate::support::graph::{AppBuilder, app, days, now, rfc, secret_between, user};
use crate::support::{CLIENT, PROD_TENANT, World};
use chrono::{DateTime, Utc};
use credwatch::store::{CredentialFilter, Store};

async fn world() -> World {
    let mut w = World::new().await;
    w.tenant("prod", PROD_TENANT, CLIENT);
    w
}

fn many_owners(n: usize) -> Vec<DirectoryObject> {
    (0..n)
        .map(|i| {
            user(
                &format!("user-{i:02}"),
                &format!("Owner {i}"),
                Some(&format!("owner{i}@example.com")),
            )
        })
        .collect()
}

fn saml_sp(now: DateTime<Utc>) -> ServicePrincipal {
    let mut sp = ServicePrincipal {
        id: "sp-saml-0001".into(),
        app_id: "bbbb0001-0000-4000-8000-000000000000".into(),
        display_name: Some("Salesforce [SSO](https://evil.example) **now**".into()),
        service_principal_type: Some("Application".into()),
        owners: vec![user("u-sso", "SSO Admin", Some("sso-admin@example.com"))],
        ..Default::default()
    };
    sp.add_saml_certificate(
        "k-saml-sign",
        "k-saml-verify",
        "2iD8ppbE+D6Kmu1ZvjM2jtQh88E=",
        &rfc(now - days(1000)),
        &rfc(now + days(10)),
    );
    sp
}

#[tokio::test]
async fn owners_enterprise_apps_and_saml_certificates_sync_once() {
    let mut w = world().await;
    let now = now();
    let mut apps = vec![
        app(1, "Payroll API")
            .secrets(vec![secret_between("k-pay", "ci", now - days(100), now + days(10))])
            .owners(many_owners(25)),
        app(2, "Orphan").secrets(vec![secret_between("k-orphan", "x", now - days(100), now + days(100))]),
    ];
    apps[0].owners.push(DirectoryObject::service_principal(
        "sp-owner",
        "Deploy bot",
        "dddd0000-0000-4000-8000-000000000000",
    ));
    w.emu.set_applications(PROD_TENANT, apps);
    let managed = ServicePrincipal {
        id: "sp-mi".into(),
        app_id: "mi-app".into(),
        service_principal_type: Some("ManagedIdentity".into()),
        key_credentials: vec![KeyCredential {
            key_id: "k-mi".into(),
            end_date_time: Some(rfc(now + days(5))),
            r#type: "AsymmetricX509Cert".into(),
            usage: "Verify".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let empty = ServicePrincipal {
        id: "sp-ms".into(),
        app_id: "00000003-0000-0000-c000-000000000000".into(),
        display_name: Some("Microsoft Graph".into()),
        ..Default::default()
    };
    w.emu.set_service_principals(PROD_TENANT, vec![saml_sp(now), managed, empty]);

    w.file.environment("prod").include_service_principals = Some(true);
    let config = w.config();
    let store = w.sync_with(&config).await;
    let creds = store.credentials(&CredentialFilter::default()).await.unwrap();
    let mut ids: Vec<(String, String, String)> = creds
        .iter()
        .map(|c| (c.key_id.clone(), c.kind.to_string(), c.app_source.as_str().to_string()))
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        vec![
            ("k-orphan".into(), "secret".into(), "application".into()),
            ("k-pay".into(), "secret".into(), "application".into()),
            ("k-saml-sign".into(), "certificate".into(), "service_principal".into()),
        ],
        "the SAML Sign/Verify/password triple is one certificate; the managed identity and the credential-less SP are left out"
    );
    let saml = creds.iter().find(|c| c.key_id == "k-saml-sign").unwrap();
    assert!(
        saml.portal_link()
            .contains("ManagedAppMenuBlade/~/SignOnV2/objectId/sp-saml-0001/appId/bbbb0001"),
        "{}",
        saml.portal_link()
    );

    // Owners: expanded with the listing; the app showing Graph's 20 had its full list read.
    let pay = creds.iter().find(|c| c.key_id == "k-pay").unwrap();
    let owners = pay.app_owners.clone().unwrap();
    assert_eq!(owners.len(), 26);
    assert!(
        owners
            .iter()
            .any(|o| o.kind == "servicePrincipal" && o.app_id.as_deref() == Some("dddd0000-0000-4000-8000-000000000000"))
    );
    assert_eq!(
        creds.iter().find(|c| c.key_id == "k-orphan").unwrap().app_owners.clone(),
        Some(vec![])
    );
    let requests = w.emu.requests();
    let owner_calls: Vec<&str> = requests
        .iter()
        .filter(|r| r.path.ends_with("/owners"))
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(
        owner_calls,
        vec!["/v1.0/applications/00000001-0000-4000-8000-000000000000/owners"],
        "one extra call, for the app past 20 owners only"
    );
    assert!(
        requests
            .iter()
            .filter(|r| r.path == "/v1.0/applications" || r.path == "/v1.0/servicePrincipals")
            .all(|r| r.query.contains("expand") && r.status == 200)
    );

    // Findings: no owner, and the SAML certificate valid for > 24 months.
    let findings = credwatch::domain::findings(&creds, now.into());
    let kinds: Vec<(&str, String)> = findings.iter().map(|f| (f.kind.as_str(), f.app_id.clone())).collect();
    assert!(
        kinds.contains(&("no_owner", "aaaa0002-0000-4000-8000-000000000000".into())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("long_lived", "bbbb0001-0000-4000-8000-000000000000".into())),
        "{kinds:?}"
    );

    // A second sync changes nothing.
    let reports = w.try_sync_with(&config).await;
    let c = reports[0].result.as_ref().unwrap();
    assert_eq!((c.added, c.removed), (0, 0));
}

#[tokio::test]
async fn owners_are_refreshed_on_their_own_cadence_and_kept_in_between() {
    let mut w = world().await;
    let now = now();
    let cred = |k: &str| secret_between(k, "ci", now - days(10), now + days(100));
    let alice = user("u-alice", "Alice", Some("alice@example.com"));
    let bob = user("u-bob", "Bob", Some("bob@example.com"));
    w.emu.set_applications(
        PROD_TENANT,
        vec![
            app(1, "Payroll").secrets(vec![cred("k-pay")]).owners(vec![alice.clone()]),
            app(2, "Orphan").secrets(vec![cred("k-orphan")]),
        ],
    );
    let owner_names = |store: Store| async move {
        let creds = store.credentials(&CredentialFilter::default()).await.unwrap();
        let mut out: Vec<(String, Option<Vec<String>>)> = creds
            .iter()
            .map(|c| {
                let names = c.app_owners.clone().map(|o| o.into_iter().filter_map(|o| o.display_name).collect());
                (c.key_id.clone(), names)
            })
            .collect();
        out.sort();
        out
    };
    let listings = |from: usize| -> Vec<String> {
        w.emu.requests()[from..]
            .iter()
            .filter(|r| r.path == "/v1.0/applications")
            .map(|r| r.query.clone())
            .collect()
    };
    let named = |k: &str, o: Option<&[&str]>| (k.to_string(), o.map(|o| o.iter().map(|s| s.to_string()).collect()));

    // First sync: owners listed ($expand, pages of 100).
    let config = w.config();
    let store = w.sync_with(&config).await;
    let first = listings(0);
    assert!(first.iter().all(|q| q.contains("expand") && q.contains("top=100")), "{first:?}");
    assert_eq!(
        owner_names(store.clone()).await,
        vec![named("k-orphan", Some(&[])), named("k-pay", Some(&["Alice"]))]
    );

    // Within the refresh interval: credentials only, at 999 per page; stored owners are kept
    // (Payroll's change of owner waits), a new application's owners are unknown until the refresh.
    w.emu.update_applications(PROD_TENANT, |apps| {
        apps[0].owners = vec![bob.clone()];
        apps.push(app(3, "New").secrets(vec![cred("k-new")]).owners(vec![alice.clone()]));
    });
    let seen = w.emu.requests().len();
    let store = w.sync_with(&config).await;
    let between = listings(seen);
    assert!(
        !between.is_empty() && between.iter().all(|q| !q.contains("expand") && q.contains("top=999")),
        "{between:?}"
    );
    assert_eq!(
        owner_names(store.clone()).await,
        vec![named("k-new", None), named("k-orphan", Some(&[])), named("k-pay", Some(&["Alice"]))]
    );

    // A day later the refresh is due: owners listed again, changes applied.
    sqlx::query("UPDATE environments SET owners_fetched_at = owners_fetched_at - ?")
        .bind(25 * 3600 * credwatch::domain::Timestamp::TICKS_PER_SECOND)
        .execute(store.pool())
        .await
        .unwrap();
    let seen = w.emu.requests().len();
    let store = w.sync_with(&config).await;
    assert!(listings(seen).iter().all(|q| q.contains("expand")));
    assert_eq!(
        owner_names(store.clone()).await,
        vec![
            named("k-new", Some(&["Alice"])),
            named("k-orphan", Some(&[])),
            named("k-pay", Some(&["Bob"]))
        ]
    );

    // `owners_refresh_hours = 0` lists them at every sync.
    w.file.sync().owners_refresh_hours = Some(0);
    let every = w.config();
    let seen = w.emu.requests().len();
    w.sync_with(&every).await;
    assert!(listings(seen).iter().all(|q| q.contains("expand")));

    // Fetching turned off: owners become unknown rather than silently stale, and turning it on
    // again lists them at once.
    w.file.sync().owners_refresh_hours = None;
    w.file.sync().fetch_owners = Some(false);
    let off = w.config();
    let store = w.sync_with(&off).await;
    assert!(owner_names(store.clone()).await.iter().all(|(_, o)| o.is_none()));
    let seen = w.emu.requests().len();
    let store = w.sync_with(&config).await;
    assert!(listings(seen).iter().all(|q| q.contains("expand")));
    assert_eq!(owner_names(store).await[2], named("k-pay", Some(&["Bob"])));
}
