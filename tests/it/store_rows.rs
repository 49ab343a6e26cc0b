//! The store reads rows into typed domain values once, and a stored value that does not parse is
//! reported with its table, row and column instead of being read as empty.

use credwatch::domain::{CredentialKind, ListedApplication, ListedCredential, Owner, Source, Timestamp};
use credwatch::store::{CredentialFilter, Store, StoreError};

fn owner(name: &str) -> Owner {
    Owner {
        id: format!("id-{name}"),
        kind: "user".into(),
        display_name: Some(name.into()),
        mail: Some(format!("{name}@example.com")),
        user_principal_name: None,
        app_id: None,
    }
}

/// A store in a fresh SQLite file holding one environment with one application of one secret.
async fn store_with_one_secret(dir: &tempfile::TempDir) -> (Store, i64) {
    let url = format!("sqlite://{}", dir.path().join("credwatch.db").display());
    let store = Store::connect(&url).await.unwrap();
    sqlx::query("INSERT INTO environments (name, tenant_id, client_id) VALUES ('prod', 't', 'c')")
        .execute(store.pool())
        .await
        .unwrap();
    let env = store.environment_by_name("prod").await.unwrap();
    let now = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
    let run = store.begin_run(env.id, now).await.unwrap();
    let app = ListedApplication {
        object_id: "obj-1".into(),
        app_id: "app-1".into(),
        display_name: Some("Payroll".into()),
        credentials: vec![ListedCredential {
            key_id: "key-1".into(),
            kind: CredentialKind::Secret,
            display_name: Some("prod secret".into()),
            hint: Some("abc".into()),
            start: Some(now.plus_days(-10)),
            end: now.plus_days(300),
        }],
        source: Source::ServicePrincipal,
        tags: vec!["team:payroll".into(), "HideApp".into()],
        notes: Some("credwatch-notify: payroll@example.com".into()),
        owners: Some(vec![owner("ada"), owner("grace")]),
    };
    store.apply_listing(env.id, run, now, 1, &[app]).await.unwrap();
    (store, env.id)
}

#[tokio::test]
async fn rows_come_back_typed() {
    let dir = tempfile::tempdir().unwrap();
    let (store, env) = store_with_one_secret(&dir).await;
    let all = store.credentials(&CredentialFilter::default()).await.unwrap();
    let c = &all[0];
    assert_eq!((c.kind, c.app_source), (CredentialKind::Secret, Source::ServicePrincipal));
    assert_eq!(c.app_tags, vec!["team:payroll".to_string(), "HideApp".to_string()]);
    assert_eq!(c.app_owners, Some(vec![owner("ada"), owner("grace")]));
    assert_eq!(c.end_at.to_string(), "2026-10-28T00:00:00Z");
    let app = store.application(env, "obj-1").await.unwrap();
    assert_eq!(
        (app.source, app.tags.len(), app.owners.map(|o| o.len())),
        (Source::ServicePrincipal, 2, Some(2))
    );
}

/// The error of reading every credential, and of reading the one application, after `sql`.
async fn after(sql: &'static str) -> (StoreError, Option<StoreError>) {
    let dir = tempfile::tempdir().unwrap();
    let (store, env) = store_with_one_secret(&dir).await;
    // Past the CHECK constraints, as a hand edit or another program's bug might be.
    let mut conn = store.pool().acquire().await.unwrap();
    sqlx::raw_sql("PRAGMA ignore_check_constraints = ON")
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::raw_sql(sql).execute(&mut *conn).await.unwrap();
    drop(conn);
    let credentials = store.credentials(&CredentialFilter::default()).await.unwrap_err();
    (credentials, store.application(env, "obj-1").await.err())
}

fn describe(e: &StoreError) -> (String, i64, String, String) {
    match e {
        StoreError::Corrupt { table, id, column, .. } => (table.to_string(), *id, column.to_string(), e.to_string()),
        other => panic!("not reported as corrupt: {other}"),
    }
}

#[tokio::test]
async fn corrupt_tags_owners_kind_and_source_are_reported_by_row_and_column() {
    let (e, app) = after("UPDATE applications SET tags = '[\"unterminated'").await;
    let (table, id, column, text) = describe(&e);
    assert_eq!((table.as_str(), id, column.as_str()), ("applications", 1, "tags"));
    assert!(text.contains("applications row 1") && text.contains("unreadable tags"), "{text}");
    assert_eq!(describe(&app.unwrap()).2, "tags", "the application page reports it too");

    let (e, app) = after("UPDATE applications SET owners = '{\"id\": 5}'").await;
    assert_eq!(describe(&e).2, "owners");
    assert_eq!(describe(&app.unwrap()).2, "owners");

    let (e, app) = after("UPDATE applications SET source = 'tenant'").await;
    let (_, _, column, text) = describe(&e);
    assert_eq!(column, "source");
    assert!(text.contains("\"tenant\""), "{text}");
    assert_eq!(describe(&app.unwrap()).2, "source");

    let (e, app) = after("UPDATE credentials SET kind = 'passkey'").await;
    let (table, id, column, text) = describe(&e);
    assert_eq!((table.as_str(), id, column.as_str()), ("credentials", 1, "kind"));
    assert!(text.contains("\"passkey\" is neither secret nor certificate"), "{text}");
    assert!(app.is_none(), "the application itself is fine");
}

#[tokio::test]
async fn never_fetched_owners_stay_unknown_and_an_empty_list_is_no_owner() {
    let dir = tempfile::tempdir().unwrap();
    let (store, env) = store_with_one_secret(&dir).await;
    for (stored, read) in [(None, None), (Some("[]"), Some(0))] {
        sqlx::query("UPDATE applications SET owners = ?")
            .bind(stored)
            .execute(store.pool())
            .await
            .unwrap();
        let c = store.credentials(&CredentialFilter::default()).await.unwrap().remove(0);
        assert_eq!(c.app_owners.map(|o| o.len()), read, "{stored:?}");
        assert_eq!(store.application(env, "obj-1").await.unwrap().owners.map(|o| o.len()), read);
    }
}
