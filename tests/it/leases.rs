//! Two processes doing the same job at once (issue 13): a lease in the database lets one go ahead
//! and the other stand back, saying who holds it; an expired lease is taken over.

use crate::support::World;
use crate::support::config::Email;
use crate::support::smtp::SmtpServer;
use chrono::Utc;
use credwatch::reminders::{RemindError, try_remind};
use credwatch::startup::open_store;
use credwatch::sync::Syncer;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn two_reminder_runs_at_once_send_each_digest_once() {
    let mut world = World::with_one_secret(5).await;
    let server = SmtpServer::start();
    world.file.email = Some(Email::smtp(&server.url(), &["ops@example.com"]));
    let config = Arc::new(world.config());
    world.sync_with(&config).await;
    // The first digest is held inside DATA: the first run is in the middle of sending.
    let mut held = server.hold(0);
    // Two handles on one database file, as two processes have.
    let (first_store, second_store) = (open_store(&config).await.unwrap(), open_store(&config).await.unwrap());
    let now = Utc::now();
    let first = {
        let config = config.clone();
        tokio::spawn(async move { try_remind(&first_store, &config, now, false).await })
    };
    held.arrived().await;
    // The second starts now.
    let mut second = {
        let config = config.clone();
        tokio::spawn(async move { try_remind(&second_store, &config, now, false).await })
    };
    let second_result = tokio::select! {
        r = &mut second => Some(r.unwrap()),
        // Without a lease the second run sends the same digests, and the server accepts them.
        _ = server.accepted(1) => None,
    };
    held.release(true);
    let first = first.await.unwrap().expect("the first run works");
    assert!(first.succeeded(), "{first}");
    assert_eq!(first.sent(), 2, "{first}");
    let second = match second_result {
        Some(r) => r,
        None => second.await.unwrap(),
    };
    match second {
        Err(RemindError::Busy(held)) => {
            let text = RemindError::Busy(held).to_string();
            assert!(text.contains("another credwatch") && text.contains("sent nothing"), "{text}");
        }
        other => panic!("the second run should have stood back: {other:?}"),
    }
    let received = server.take();
    assert_eq!(SmtpServer::for_recipient(&received, "ops@example.com").len(), 1);
    assert_eq!(SmtpServer::for_recipient(&received, "oncall@example.com").len(), 1);
    // The lease was given back: a later run goes ahead (and finds nothing left to send).
    let later = try_remind(&open_store(&config).await.unwrap(), &config, now, false).await.unwrap();
    assert_eq!(later.digests.len(), 0, "{later}");
}

#[tokio::test]
async fn the_remind_command_says_another_process_is_sending() {
    let mut world = World::with_one_secret(5).await;
    let outbox = world.dir.path().join("outbox");
    world.file.email = Some(Email::outbox(outbox.clone(), &["ops@example.com"]));
    let store = world.sync_with(&world.config()).await;
    let config_path = world.write_config();
    let config_path = config_path.to_str().unwrap();
    let now = Utc::now().timestamp();
    assert_eq!(
        store
            .try_lease("remind", "pid 1 on elsewhere", now, std::time::Duration::from_secs(300))
            .await
            .unwrap(),
        Ok(())
    );
    let out = world.run(&["remind", "--config", config_path]).await;
    assert_eq!(out.0, 1, "{out:?}");
    assert!(out.2.contains("pid 1 on elsewhere") && out.2.contains("sent nothing"), "{out:?}");
    assert!(
        !outbox.exists() || std::fs::read_dir(&outbox).unwrap().next().is_none(),
        "nothing was written"
    );
    // An expired lease is taken over.
    store.release_lease("remind", "pid 1 on elsewhere").await.unwrap();
    assert_eq!(
        store
            .try_lease("remind", "pid 1 on elsewhere", now - 600, std::time::Duration::from_secs(300))
            .await
            .unwrap(),
        Ok(())
    );
    let out = world.run(&["remind", "--config", config_path]).await;
    assert_eq!(out.0, 0, "{out:?}");
    assert_eq!(
        std::fs::read_dir(&outbox).unwrap().count(),
        2,
        "one digest each to ops and to prod's on-call"
    );
}

#[tokio::test]
async fn a_sync_stands_back_while_another_process_syncs_the_environment() {
    let world = World::with_one_secret(5).await;
    let config = world.config();
    let store = world.store(&config).await;
    let now = Utc::now().timestamp();
    let hour = std::time::Duration::from_secs(3600);
    assert_eq!(store.try_lease("sync:prod", "pid 7 on elsewhere", now, hour).await.unwrap(), Ok(()));
    let syncer = Syncer::new(&config, store.clone());
    let reports = syncer.sync_all(None, &CancellationToken::new(), |_| {}).await;
    let error = reports[0].result.as_ref().expect_err("not synced while held");
    assert!(matches!(error, credwatch::sync::SyncError::Busy(_)), "{error:?}");
    let error = error.to_string();
    assert!(error.contains("pid 7 on elsewhere") && error.contains("sync:prod"), "{error}");
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM sync_runs")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(runs, 0, "standing back records no run");
    // Held by someone else, renewing and releasing are refused; the holder itself may renew.
    assert!(!store.renew_lease("sync:prod", "me", now, hour).await.unwrap());
    assert!(store.renew_lease("sync:prod", "pid 7 on elsewhere", now, hour).await.unwrap());
    store.release_lease("sync:prod", "me").await.unwrap();
    assert!(store.try_lease("sync:prod", "me", now, hour).await.unwrap().is_err());
    // Once it has expired, the next sync takes it over, and gives it back afterwards.
    let reports = {
        sqlx::query("UPDATE leases SET expires_at = ?")
            .bind(now - 1)
            .execute(store.pool())
            .await
            .unwrap();
        syncer.sync_all(None, &CancellationToken::new(), |_| {}).await
    };
    assert!(reports[0].succeeded(), "{}", reports[0]);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM leases")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(left, 0, "released after the run");
}
