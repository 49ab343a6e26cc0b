//! Issue 15: acknowledge, snooze, "not mine" and the event log, against a real store synced from
//! the Graph emulator and digests delivered to a real SMTP server. Jobs run at chosen instants.

use crate::support::config::{Email, Reminders};
use crate::support::graph::{AppBuilder, app, days, now, secret, user};
use crate::support::smtp::{Received, SmtpServer};
use crate::support::{CLIENT, PROD_TENANT, World};
use chrono::{DateTime, Duration, Utc};
use credwatch::domain::{EventKind, SnoozeError, Timestamp, Via};
use credwatch::reminders::try_remind;
use credwatch::store::{ActionError, Actor, CredentialAction, EventFilter, EventRow, Store};

const KEY: &str = "5ec7e700-0000-4000-8000-00000000ac01";

/// prod, its on-call in `notify`, owners notified; ops@ gets everything. `payments` (owner
/// alice@) has one secret ending `days_left` days from `now`. Ladder 60/30/14/7/1, critical 7.
async fn world(now: DateTime<Utc>, days_left: i64) -> (World, SmtpServer) {
    let mut w = World::new().await;
    let env = w.tenant("prod", PROD_TENANT, CLIENT);
    env.notify = vec!["oncall@example.com".into()];
    env.notify_owners = Some(true);
    w.file.reminders = Some(Reminders::ladder(&[60, 30, 14, 7, 1]));
    w.emu.set_applications(
        PROD_TENANT,
        vec![
            app(1, "payments")
                .secrets(vec![secret(KEY, "prod secret", now + days(days_left))])
                .owners(vec![user("u-alice", "Alice", Some("alice@example.com"))]),
        ],
    );
    let server = SmtpServer::start();
    w.file.email = Some(Email::smtp(&server.url(), &["ops@example.com"]));
    (w, server)
}

fn ts(t: DateTime<Utc>) -> Timestamp {
    Timestamp::from(t)
}

fn by_link(who: &str) -> Actor {
    Actor {
        name: Some(who.into()),
        via: Via::Email,
        client_address: Some("203.0.113.9".into()),
    }
}

async fn credential_id(store: &Store) -> i64 {
    let all = store.credentials(&Default::default()).await.unwrap();
    all.iter().find(|c| c.key_id == KEY).expect("the secret is stored").id
}

async fn events(store: &Store) -> Vec<EventRow> {
    store
        .events(&EventFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
}

fn recipients(messages: &[Received]) -> Vec<String> {
    let mut to: Vec<String> = messages.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    to
}

#[tokio::test]
async fn an_acknowledgement_pauses_everyones_reminders_until_critical_days_and_survives_a_restart() {
    let now = now();
    let (w, server) = world(now, 40).await;
    let config = w.config();
    let store = w.sync_with(&config).await;
    try_remind(&store, &config, now, false).await.unwrap();
    assert_eq!(
        recipients(&server.take()),
        ["alice@example.com", "oncall@example.com", "ops@example.com"],
        "the 60-day reminder goes to everyone"
    );

    let id = credential_id(&store).await;
    let acked_at = now + Duration::hours(2);
    store
        .act(id, &CredentialAction::Acknowledge, &by_link("alice@example.com"), Some("rotating on Friday"), None, ts(acked_at))
        .await
        .unwrap();
    let c = w.live().await.into_iter().find(|c| c.id == id).unwrap();
    assert_eq!(c.attention.acknowledged.as_ref().map(|a| (a.by.as_str(), a.at)), Some(("alice@example.com", ts(acked_at))));

    // A restart: the state is in the database, not in the process.
    drop(store);
    let store = w.store(&config).await;

    // 25 days left: the 30-day rung is crossed, and held back for every recipient.
    let report = try_remind(&store, &config, now + days(15), false).await.unwrap();
    assert!(report.digests.is_empty(), "{report}");
    assert!(server.take().is_empty());
    // 8 days left: still more than critical_days.
    assert!(try_remind(&store, &config, now + days(32), false).await.unwrap().digests.is_empty());

    // 7 days left = critical_days: reminders resume for everyone, once, saying who is on it.
    let report = try_remind(&store, &config, now + days(33), false).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let messages = server.take();
    assert_eq!(recipients(&messages), ["alice@example.com", "oncall@example.com", "ops@example.com"]);
    let said = format!(
        "acknowledged by alice@example.com on {}, and still not rotated",
        acked_at.format("%Y-%m-%d %H:%M UTC")
    );
    for m in &messages {
        let parsed = m.parsed();
        let text = parsed.body_text(0).unwrap().into_owned();
        let html = parsed.body_html(0).unwrap().into_owned();
        assert!(text.contains(&said), "{text}");
        assert_eq!(parsed.subject(), Some("[credwatch] 1 credential expires within 7 days (prod)"));
        assert!(html.contains(&said), "{html}");
    }
    assert!(try_remind(&store, &config, now + days(33) + Duration::hours(1), false).await.unwrap().digests.is_empty());

    // The log, newest first: three reminders at 7 days, the acknowledgement, three at 60.
    let log = events(&store).await;
    let kinds: Vec<&str> = log.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["reminded", "reminded", "reminded", "acknowledged", "reminded", "reminded", "reminded"]);
    let ack = &log[3];
    assert_eq!(
        (ack.actor.as_deref(), ack.via.as_str(), ack.client_address.as_deref(), ack.note.as_deref()),
        (Some("alice@example.com"), "email", Some("203.0.113.9"), Some("rotating on Friday"))
    );
    assert_eq!((ack.environment.as_str(), ack.key_id.as_str(), ack.at), ("prod", KEY, ts(acked_at)));
    assert!(log[0].note.as_deref().is_some_and(|n| n.contains("7 days before")), "{:?}", log[0]);
    assert!(log.iter().filter(|e| e.kind == "reminded").all(|e| e.actor.is_none() && e.via == "system"));
}

#[tokio::test]
async fn a_snooze_is_bounded_by_min_notice_days_and_holds_reminders_until_its_date() {
    let now = now();
    let (mut w, server) = world(now, 10).await;
    w.file.reminders.as_mut().unwrap().min_notice_days = Some(2);
    let config = w.config();
    let store = w.sync_with(&config).await;
    let id = credential_id(&store).await;
    let end = now + days(10);

    let too_late = store
        .act(
            id,
            &CredentialAction::Snooze {
                until: ts(end - days(1)),
                min_notice_days: config.min_notice_days,
            },
            &by_link("ops@example.com"),
            None,
            Some("link-1"),
            ts(now),
        )
        .await
        .unwrap_err();
    match &too_late {
        ActionError::Snooze(SnoozeError::TooLate { latest, min_notice_days: 2 }) => assert_eq!(*latest, ts(end - days(2))),
        other => panic!("{other:?}"),
    }
    assert!(too_late.to_string().contains("at the latest"), "{too_late}");
    assert!(events(&store).await.is_empty(), "a refused snooze leaves nothing");
    assert_eq!(w.live().await[0].attention.snoozed_until, None);

    // The link was not spent by the refusal: the same link can ask again, within the bound.
    let until = ts(end - days(2));
    store
        .act(
            id,
            &CredentialAction::Snooze {
                until,
                min_notice_days: config.min_notice_days,
            },
            &by_link("ops@example.com"),
            None,
            Some("link-1"),
            ts(now),
        )
        .await
        .unwrap();
    assert_eq!(w.live().await[0].attention.snoozed_until, Some(until));

    // 10 days left (the 14-day rung) and 3 days left (the 7-day rung): held.
    assert!(try_remind(&store, &config, now, false).await.unwrap().digests.is_empty());
    assert!(try_remind(&store, &config, now + days(7), false).await.unwrap().digests.is_empty());
    assert!(server.take().is_empty());
    // The snooze's date: the most urgent rung crossed goes out, once.
    let report = try_remind(&store, &config, until.to_datetime(), false).await.unwrap();
    assert_eq!(recipients(&server.take()), ["alice@example.com", "oncall@example.com", "ops@example.com"], "{report}");

    let snoozed = events(&store).await.into_iter().find(|e| e.kind == "snoozed").unwrap();
    assert_eq!(snoozed.note, Some(format!("until {until}")));
}

#[tokio::test]
async fn not_mine_sends_the_next_reminders_to_the_environment_instead_of_the_owners() {
    let now = now();
    let (w, server) = world(now, 20).await;
    let config = w.config();
    let store = w.sync_with(&config).await;
    let id = credential_id(&store).await;
    store
        .act(
            id,
            &CredentialAction::Dispute {
                suggested_owner: Some("  bob@example.com ".into()),
            },
            &by_link("alice@example.com"),
            None,
            None,
            ts(now),
        )
        .await
        .unwrap();

    let report = try_remind(&store, &config, now, false).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let messages = server.take();
    assert_eq!(recipients(&messages), ["oncall@example.com", "ops@example.com"], "alice said it is not hers");
    let text = messages[0].parsed().body_text(0).unwrap().into_owned();
    assert!(
        text.contains("owner disputed by alice@example.com") && text.contains("suggested owner: bob@example.com"),
        "{text}"
    );
    let disputed = events(&store).await.into_iter().find(|e| e.kind == "disputed").unwrap();
    assert_eq!(disputed.note.as_deref(), Some("suggested owner: bob@example.com"));
}

#[tokio::test]
async fn the_expiry_notice_is_never_silenced_and_a_removed_credential_takes_no_action() {
    let now = now();
    let (w, server) = world(now, 3).await;
    let config = w.config();
    let store = w.sync_with(&config).await;
    let id = credential_id(&store).await;
    store
        .act(id, &CredentialAction::Acknowledge, &by_link("ops@example.com"), None, None, ts(now))
        .await
        .unwrap();
    // Acknowledged within critical_days: nothing to hold back.
    try_remind(&store, &config, now, false).await.unwrap();
    assert_eq!(server.take().len(), 3);
    let report = try_remind(&store, &config, now + days(4), false).await.unwrap();
    assert_eq!(report.digests.len(), 3, "the expiry notice goes out: {report}");
    assert!(
        server.take().iter().all(|m| m.parsed().subject() == Some("[credwatch] 1 credential has expired (prod)")),
        "expiry notices"
    );

    // Rotated away: the credential is gone from the listing, and with it every action.
    w.emu.set_applications(PROD_TENANT, vec![app(1, "payments")]);
    w.sync_with(&config).await;
    let gone = store
        .act(id, &CredentialAction::Acknowledge, &by_link("ops@example.com"), None, None, ts(now + days(4)))
        .await
        .unwrap_err();
    assert!(matches!(gone, ActionError::Gone), "{gone:?}");
    assert_eq!(events(&store).await.iter().filter(|e| e.kind == "acknowledged").count(), 1);
}

#[tokio::test]
async fn a_single_use_link_acts_once() {
    let now = now();
    let (w, _server) = world(now, 20).await;
    let config = w.config();
    let store = w.sync_with(&config).await;
    let id = credential_id(&store).await;
    let ops = by_link("ops@example.com");
    let act = || store.act(id, &CredentialAction::Acknowledge, &ops, None, Some("link-7"), ts(now));
    act().await.unwrap();
    assert!(matches!(act().await, Err(ActionError::LinkUsed)));
    let log = store
        .events(&EventFilter {
            kind: Some(EventKind::Acknowledged),
            key_id: Some(KEY.to_uppercase()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(log.len(), 1, "the second use changed nothing");
}
