//! Issue 15: acknowledge, snooze, "not mine" and the event log, against a real store synced from
//! the Graph emulator and digests delivered to a real SMTP server. Jobs run at chosen instants.

use crate::support::app::TestApp;
use crate::support::config::{Email, Reminders};
use crate::support::graph::{AppBuilder, app, days, now, secret, user};
use crate::support::logs;
use crate::support::parse::Page;
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
        .act(
            id,
            &CredentialAction::Acknowledge,
            &by_link("alice@example.com"),
            Some("rotating on Friday"),
            None,
            ts(acked_at),
        )
        .await
        .unwrap();
    let c = w.live().await.into_iter().find(|c| c.id == id).unwrap();
    assert_eq!(
        c.attention.acknowledged.as_ref().map(|a| (a.by.as_str(), a.at)),
        Some(("alice@example.com", ts(acked_at)))
    );

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
    assert_eq!(
        recipients(&messages),
        ["alice@example.com", "oncall@example.com", "ops@example.com"]
    );
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
    assert!(
        try_remind(&store, &config, now + days(33) + Duration::hours(1), false)
            .await
            .unwrap()
            .digests
            .is_empty()
    );

    // The log, newest first: three reminders at 7 days, the acknowledgement, three at 60.
    let log = events(&store).await;
    let kinds: Vec<&str> = log.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "reminded",
            "reminded",
            "reminded",
            "acknowledged",
            "reminded",
            "reminded",
            "reminded"
        ]
    );
    let ack = &log[3];
    assert_eq!(
        (
            ack.actor.as_deref(),
            ack.via.as_str(),
            ack.client_address.as_deref(),
            ack.note.as_deref()
        ),
        (Some("alice@example.com"), "email", Some("203.0.113.9"), Some("rotating on Friday"))
    );
    assert_eq!((ack.environment.as_str(), ack.key_id.as_str(), ack.at), ("prod", KEY, ts(acked_at)));
    assert!(log[0].note.as_deref().is_some_and(|n| n.contains("7 days before")), "{:?}", log[0]);
    assert!(
        log.iter()
            .filter(|e| e.kind == "reminded")
            .all(|e| e.actor.is_none() && e.via == "system")
    );
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

    let ops = by_link("ops@example.com");
    // Both through the same single-use link.
    let snooze = |until: Timestamp| {
        let action = CredentialAction::Snooze {
            until,
            min_notice_days: config.min_notice_days,
        };
        let (store, ops) = (&store, &ops);
        async move { store.act(id, &action, ops, None, Some("link-1"), ts(now)).await }
    };
    let too_late = snooze(ts(end - days(1))).await.unwrap_err();
    match &too_late {
        ActionError::Snooze(SnoozeError::TooLate {
            latest,
            min_notice_days: 2,
        }) => assert_eq!(*latest, ts(end - days(2))),
        other => panic!("{other:?}"),
    }
    assert!(too_late.to_string().contains("at the latest"), "{too_late}");
    assert!(events(&store).await.is_empty(), "a refused snooze leaves nothing");
    assert_eq!(w.live().await[0].attention.snoozed_until, None);

    // The link was not spent by the refusal: the same link can ask again, within the bound.
    let until = ts(end - days(2));
    snooze(until).await.unwrap();
    assert_eq!(w.live().await[0].attention.snoozed_until, Some(until));

    // 10 days left (the 14-day rung) and 3 days left (the 7-day rung): held.
    assert!(try_remind(&store, &config, now, false).await.unwrap().digests.is_empty());
    assert!(try_remind(&store, &config, now + days(7), false).await.unwrap().digests.is_empty());
    assert!(server.take().is_empty());
    // The snooze's date: the most urgent rung crossed goes out, once.
    let report = try_remind(&store, &config, until.to_datetime(), false).await.unwrap();
    assert_eq!(
        recipients(&server.take()),
        ["alice@example.com", "oncall@example.com", "ops@example.com"],
        "{report}"
    );

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
    assert_eq!(
        recipients(&messages),
        ["oncall@example.com", "ops@example.com"],
        "alice said it is not hers"
    );
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
        server
            .take()
            .iter()
            .all(|m| m.parsed().subject() == Some("[credwatch] 1 credential has expired (prod)")),
        "expiry notices"
    );

    // Rotated away: the credential is gone from the listing, and with it every action.
    w.emu.set_applications(PROD_TENANT, vec![app(1, "payments")]);
    w.sync_with(&config).await;
    let gone = store
        .act(
            id,
            &CredentialAction::Acknowledge,
            &by_link("ops@example.com"),
            None,
            None,
            ts(now + days(4)),
        )
        .await
        .unwrap_err();
    assert!(matches!(gone, ActionError::Gone), "{gone:?}");
    let log = events(&store).await;
    assert_eq!(log.iter().filter(|e| e.kind == "acknowledged").count(), 1);
    assert_eq!(
        (
            log[0].kind.as_str(),
            log[0].via.as_str(),
            log[0].actor.as_deref(),
            log[0].key_id.as_str()
        ),
        ("removed", "system", None, KEY),
        "the sync that saw it gone logged it"
    );
    // Nothing more is sent for it.
    assert!(try_remind(&store, &config, now + days(5), false).await.unwrap().digests.is_empty());
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

/// The action links of a delivered message's text part, by label.
fn links_in(message: &Received) -> Vec<(String, String)> {
    let text = message.parsed().body_text(0).unwrap().into_owned();
    text.lines()
        .filter_map(|l| {
            let (label, url) = l.trim().split_once(": https://credwatch.example.com/act/")?;
            Some((label.to_string(), format!("/act/{url}")))
        })
        .collect()
}

fn link<'a>(links: &'a [(String, String)], label: &str) -> &'a str {
    &links
        .iter()
        .find(|(l, _)| l == label)
        .unwrap_or_else(|| panic!("no {label:?} link in {links:?}"))
        .1
}

/// The usual world (a secret 20 days from its end) served and synced, and the digests of one
/// reminder run at `now` as the SMTP server received them.
async fn served_and_reminded(now: DateTime<Utc>) -> (World, TestApp, Vec<Received>) {
    let (w, server) = world(now, 20).await;
    let config = w.config();
    let app = TestApp::start(config.clone()).await;
    app.sync(None).await;
    try_remind(&app.store, &config, now, false).await.unwrap();
    (w, app, server.take())
}

/// POSTs the confirmation form of `path` as a browser would: the fields the GET page's form has,
/// plus `extra`.
async fn submit(app: &TestApp, path: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let page = app.page(path).await;
    assert_eq!(page.attr("form", "method").as_deref(), Some("post"));
    assert_eq!(page.attr("form", "action").as_deref(), Some(path));
    let csrf = page.attr("input[name=csrf]", "value").expect("a CSRF token");
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(extra);
    app.http.post(app.url(path)).form(&form).send().await.unwrap()
}

async fn status_and_text(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    (status, Page::parse(&r.text().await.unwrap()).text())
}

#[tokio::test]
async fn links_from_the_delivered_mail_change_nothing_on_get_and_act_once_on_post() {
    logs::capture();
    let now = now();
    let (_w, app, messages) = served_and_reminded(now).await;
    let oncall = SmtpServer::for_recipient(&messages, "oncall@example.com").remove(0);
    let links = links_in(&oncall);
    assert_eq!(
        links.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>(),
        ["I'm on it", "Snooze", "Not mine", "Rotated — check now"]
    );
    let html = oncall.parsed().body_html(0).unwrap().into_owned();
    for (_, path) in &links {
        assert!(
            html.contains(&format!("https://credwatch.example.com{path}")),
            "the HTML part has {path}"
        );
    }
    let ack = link(&links, "I'm on it");

    // What a mail scanner does: GET (twice). The page says what would happen; nothing happens.
    for _ in 0..2 {
        let page = app.page(ack).await;
        assert!(page.text().contains("oncall@example.com is on it"), "{}", page.text());
        assert!(page.text().contains("payments") && page.text().contains("prod secret"));
    }
    assert!(events(&app.store).await.iter().all(|e| e.kind == "reminded"));

    // A form without its token, or with another link's, is refused and changes nothing.
    let r = app.http.post(app.url(ack)).form(&[("note", "x")]).send().await.unwrap();
    assert_eq!(r.status(), 400, "no token: the form is not even read");
    let other = app.page(link(&links, "Not mine")).await.attr("input[name=csrf]", "value").unwrap();
    let r = app.http.post(app.url(ack)).form(&[("csrf", other.as_str())]).send().await.unwrap();
    let (status, text) = status_and_text(r).await;
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains("does not belong to this link") && text.contains("Nothing was changed"),
        "{text}"
    );
    assert!(events(&app.store).await.iter().all(|e| e.kind == "reminded"));

    // The real form acts, as the recipient, from the client's address.
    let (status, text) = status_and_text(submit(&app, ack, &[("note", "on it <b>today</b>")]).await).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("Acknowledged"), "{text}");
    let acked = events(&app.store).await.into_iter().find(|e| e.kind == "acknowledged").unwrap();
    assert_eq!(
        (
            acked.actor.as_deref(),
            acked.via.as_str(),
            acked.client_address.as_deref(),
            acked.note.as_deref()
        ),
        (Some("oncall@example.com"), "email", Some("127.0.0.1"), Some("on it <b>today</b>"))
    );

    // Reused: refused on GET and POST alike, logged, nothing more recorded.
    let r = app.get(ack).await;
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let (status, text) = status_and_text(r).await;
    assert_eq!(status, 409);
    assert!(text.contains("already used"), "{text}");
    let lines = logs::lines_containing(&format!("request_id={id}"));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("an action link was refused") && l.contains("already used")),
        "{lines:#?}"
    );
    let csrf = app.store.link_signer(None).await.unwrap().csrf(&ack["/act/".len()..]);
    let r = app.http.post(app.url(ack)).form(&[("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(events(&app.store).await.iter().filter(|e| e.kind == "acknowledged").count(), 1);
}

#[tokio::test]
async fn forged_altered_expired_and_other_recipient_links_get_a_clear_page_and_change_nothing() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    logs::capture();
    let now = now();
    let (w, app, messages) = served_and_reminded(now).await;
    let ops = links_in(&SmtpServer::for_recipient(&messages, "ops@example.com").remove(0));
    let ack = &link(&ops, "I'm on it")["/act/".len()..];
    let (payload, tag) = ack.split_once('.').unwrap();
    let mut claims: serde_json::Value = serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();

    // ops@'s link made to say alice@ (another recipient), under ops@'s signature.
    claims["r"] = "alice@example.com".into();
    let other_recipient = format!("{}.{tag}", B64.encode(serde_json::to_vec(&claims).unwrap()));
    // The same claims signed with a key credwatch never had.
    let forged = credwatch::domain::LinkSigner::new(b"not the key".to_vec()).sign(&serde_json::from_value(claims.clone()).unwrap());
    // Signed with the real key but past its expiry.
    claims["r"] = "ops@example.com".into();
    claims["e"] = (Utc::now() - Duration::minutes(1)).timestamp().into();
    let expired = app
        .store
        .link_signer(None)
        .await
        .unwrap()
        .sign(&serde_json::from_value(claims).unwrap());

    for (token, status, says) in [
        (other_recipient.as_str(), 403, "not issued by credwatch, or was altered"),
        (forged.as_str(), 403, "not issued by credwatch, or was altered"),
        (expired.as_str(), 410, "expired"),
        ("garbage", 400, "incomplete or garbled"),
    ] {
        let r = app.get(&format!("/act/{token}")).await;
        let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        let (got, text) = status_and_text(r).await;
        assert_eq!(got, status, "{token}: {text}");
        assert!(text.contains(says) && text.contains("Nothing was changed"), "{text}");
        let lines = logs::lines_containing(&format!("request_id={id}"));
        assert!(lines.iter().any(|l| l.contains("an action link was refused")), "{lines:#?}");
        assert!(lines.iter().all(|l| !l.contains(token)), "the token stays out of the log");
        // A POST with a token computed for it changes nothing either.
        let csrf = app.store.link_signer(None).await.unwrap().csrf(token);
        let r = app
            .http
            .post(app.url(&format!("/act/{token}")))
            .form(&[("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status);
    }
    assert!(
        events(&app.store).await.iter().all(|e| e.kind == "reminded"),
        "nothing was acted on"
    );
    assert_eq!(w.live().await[0].attention, Default::default());
}

#[tokio::test]
async fn a_snooze_link_offers_the_bound_and_refuses_a_date_past_it() {
    let now = now();
    let (w, app, messages) = served_and_reminded(now).await;
    let snooze = link(
        &links_in(&SmtpServer::for_recipient(&messages, "ops@example.com").remove(0)),
        "Snooze",
    )
    .to_string();
    let latest = (now + days(19)).format("%Y-%m-%d").to_string();
    assert_eq!(app.page(&snooze).await.attr("input[name=until]", "max"), Some(latest.clone()));

    let too_late = (now + days(20)).format("%Y-%m-%d").to_string();
    let (status, text) = status_and_text(submit(&app, &snooze, &[("until", &too_late)]).await).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("at the latest") && text.contains("Nothing was changed"), "{text}");
    assert_eq!(w.live().await[0].attention.snoozed_until, None);

    // The refusal did not spend the link, and a restart does not void it: the key is in the
    // database.
    app.stop().await;
    let app = TestApp::start(w.config()).await;
    let (status, text) = status_and_text(submit(&app, &snooze, &[("until", &latest)]).await).await;
    assert_eq!(status, 200, "{text}");
    let until = chrono::NaiveDate::parse_from_str(&latest, "%Y-%m-%d")
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    assert_eq!(w.live().await[0].attention.snoozed_until, Some(ts(until)));
    let snoozed = events(&app.store).await.into_iter().find(|e| e.kind == "snoozed").unwrap();
    assert_eq!(snoozed.actor.as_deref(), Some("ops@example.com"));
}

#[tokio::test]
async fn the_events_api_filters_and_pages_and_the_credential_api_says_who_is_on_it() {
    let now = now();
    let (w, _server) = world(now, 20).await;
    w.emu.set_applications(
        PROD_TENANT,
        vec![
            app(1, "payments")
                .secrets(vec![
                    secret(KEY, "prod secret", now + days(20)),
                    secret("k-other", "other", now + days(50)),
                ])
                .owners(vec![user("u-alice", "Alice", Some("alice@example.com"))]),
        ],
    );
    let config = w.config();
    let app = TestApp::start(config.clone()).await;
    app.sync(None).await;
    // 20 and 50 days left: the 30- and 60-day rungs, to ops@, oncall@ and alice@.
    try_remind(&app.store, &config, Utc::now(), false).await.unwrap();
    let id = credential_id(&app.store).await;
    app.store
        .act(
            id,
            &CredentialAction::Acknowledge,
            &by_link("alice@example.com"),
            Some("on it"),
            None,
            ts(Utc::now()),
        )
        .await
        .unwrap();
    let until = ts(now + days(10));
    app.store
        .act(
            id,
            &CredentialAction::Snooze { until, min_notice_days: 1 },
            &by_link("alice@example.com"),
            None,
            None,
            ts(Utc::now()),
        )
        .await
        .unwrap();

    let all = app.json("/api/v1/events").await;
    let events = all["events"].as_array().unwrap();
    assert_eq!(events.len(), 8, "{all}");
    assert_eq!(events[0]["kind"], "snoozed");
    assert_eq!(events[1]["kind"], "acknowledged");
    let ack = &events[1];
    let keys: Vec<&str> = ack.as_object().unwrap().keys().map(String::as_str).collect();
    for k in ["at", "environment", "app_id", "key_id", "kind", "actor", "via", "note"] {
        assert!(keys.contains(&k), "{k} in {ack}");
    }
    assert_eq!(
        (&ack["environment"], &ack["key_id"], &ack["actor"], &ack["via"], &ack["note"]),
        (
            &"prod".into(),
            &KEY.into(),
            &"alice@example.com".into(),
            &"email".into(),
            &"on it".into()
        )
    );
    assert!(all["next"].is_null());

    let mine = app
        .json(&format!("/api/v1/events?key_id={}&kind=reminded", KEY.to_uppercase()))
        .await;
    assert_eq!(mine["events"].as_array().unwrap().len(), 3, "{mine}");
    // Instants are exact to the tick, so `since` the acknowledgement's own instant includes it.
    let since = app.json(&format!("/api/v1/events?since={}", ack["at"].as_str().unwrap())).await;
    assert_eq!(since["events"].as_array().unwrap().len(), 2, "{since}");

    // Pages of three, newest first, each event once.
    let mut seen = Vec::new();
    let mut next = Some("/api/v1/events?limit=3".to_string());
    while let Some(path) = next {
        let page = app.json(&path).await;
        seen.extend(page["events"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()));
        next = page["next"].as_str().map(str::to_string);
    }
    let all_ids: Vec<i64> = events.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(seen, all_ids);

    for (query, parameter) in [
        ("kind=rotten", "kind"),
        ("since=yesterday", "since"),
        ("environment=nope", "environment"),
    ] {
        let r = app.get(&format!("/api/v1/events?{query}")).await;
        assert_eq!(r.status(), 400, "{query}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["parameter"], parameter, "{body}");
    }

    let creds = app.credentials("").await;
    let acked = creds.iter().find(|c| c["key_id"] == KEY).unwrap();
    assert_eq!(acked["acknowledged_by"], "alice@example.com");
    assert_eq!(acked["snoozed_until"], credwatch::web::view::rfc3339(until));
    let other = creds.iter().find(|c| c["key_id"] == "k-other").unwrap();
    assert!(other["acknowledged_by"].is_null() && other["snoozed_until"].is_null(), "{other}");

    let csv = app.get("/api/v1/credentials.csv").await.text().await.unwrap();
    let rows = crate::support::parse::csv_rows(&csv);
    let header = &rows[0];
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("{name} in {header:?}"))
    };
    let row = rows.iter().find(|r| r[col("key_id")] == KEY).unwrap();
    assert_eq!(row[col("acknowledged_by")], "alice@example.com");
    assert_eq!(row[col("snoozed_until")], credwatch::web::view::rfc3339(until));

    let metrics = crate::support::parse::Metrics::parse(&app.get("/metrics").await.text().await.unwrap());
    assert_eq!(metrics.value("credwatch_events_total", &[("kind", "reminded")]), 6.0);
    assert_eq!(metrics.value("credwatch_events_total", &[("kind", "acknowledged")]), 1.0);
    assert_eq!(metrics.value("credwatch_events_total", &[("kind", "escalated")]), 0.0);
}

/// The world behind a proxy that names users in `X-Auth-User`, the app serving it.
async fn behind_proxy(now: DateTime<Utc>) -> (World, SmtpServer, TestApp) {
    let (mut w, server) = world(now, 20).await;
    w.file.server().auth = Some(crate::support::config::Auth {
        mode: Some("proxy".into()),
        user_header: Some("X-Auth-User".into()),
        trusted_proxies: vec!["127.0.0.0/8".into()],
        ..Default::default()
    });
    let app = TestApp::start(w.config()).await;
    app.sync(None).await;
    (w, server, app)
}

fn application_path() -> String {
    format!("/environments/prod/applications/{}", crate::support::graph::object_id(1))
}

async fn page_as(app: &TestApp, user: &str, path: &str) -> Page {
    let r = app.http.get(app.url(path)).header("X-Auth-User", user).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET {path} as {user}");
    Page::parse(&r.text().await.unwrap())
}

async fn post_as(app: &TestApp, user: &str, form: &[(&str, &str)]) -> (u16, String) {
    let path = format!("{}/actions", application_path());
    let r = app
        .http
        .post(app.url(&path))
        .header("X-Auth-User", user)
        .form(form)
        .send()
        .await
        .unwrap();
    status_and_text(r).await
}

#[tokio::test]
async fn a_signed_in_user_acts_from_the_application_page_with_a_form_token_of_their_own() {
    let now = now();
    let (w, _server, app) = behind_proxy(now).await;
    let id = credential_id(&app.store).await.to_string();
    let page = page_as(&app, "ana", &application_path()).await;
    assert!(page.text().contains("as ana"), "{}", page.text());
    let csrf = page.attr("form.act-form input[name=csrf]", "value").expect("a form token");
    let bob_csrf = page_as(&app, "bob", &application_path())
        .await
        .attr("form.act-form input[name=csrf]", "value")
        .unwrap();

    // Without the token, with a garbled one, or with another user's: refused, nothing changed.
    for token in ["", "123.abc", bob_csrf.as_str()] {
        let (status, text) = post_as(&app, "ana", &[("csrf", token), ("credential_id", &id), ("action", "acknowledge")]).await;
        assert_eq!(status, 403, "{token:?}: {text}");
        assert!(text.contains("Nothing was changed"), "{text}");
    }
    assert!(events(&app.store).await.is_empty());

    let (status, text) = post_as(
        &app,
        "ana",
        &[
            ("csrf", &csrf),
            ("credential_id", &id),
            ("action", "acknowledge"),
            ("note", "new secret on Friday"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let (status, text) = post_as(
        &app,
        "ana",
        &[
            ("csrf", &csrf),
            ("credential_id", &id),
            ("action", "snooze"),
            ("until", "1999-01-01"),
        ],
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("not in the future"), "{text}");
    let (status, text) = post_as(&app, "ana", &[("csrf", &csrf), ("credential_id", &id), ("action", "delete")]).await;
    assert_eq!(status, 400, "{text}");

    let log = events(&app.store).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(
        (
            log[0].kind.as_str(),
            log[0].actor.as_deref(),
            log[0].via.as_str(),
            log[0].client_address.as_deref()
        ),
        ("acknowledged", Some("ana"), "dashboard", Some("127.0.0.1"))
    );
    // The page shows who is on it and the log.
    let page = page_as(&app, "bob", &application_path()).await;
    assert!(page.text().contains("acknowledged by ana"), "{}", page.text());
    let rows = page.texts("table.events tbody tr");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(
        rows[0].contains("acknowledged")
            && rows[0].contains("ana")
            && rows[0].contains("dashboard")
            && rows[0].contains("new secret on Friday")
    );

    // Rotated — check now: the secret is gone from the tenant; the queued sync finds out.
    w.emu.set_applications(PROD_TENANT, vec![app_without_secrets()]);
    let (status, text) = post_as(&app, "ana", &[("csrf", &csrf), ("credential_id", &id), ("action", "rotated")]).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("A sync of prod is queued"), "{text}");
    let removed = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            let c = app.store.credential(id.parse().unwrap()).await.unwrap();
            if c.removed_at.is_some() {
                return c;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the requested sync runs");
    assert!(removed.removed_at.is_some());
    let page = page_as(&app, "ana", &application_path()).await;
    assert!(page.text().contains("Last sync of prod: success"), "{}", page.text());
    let rows = page.texts("table.events tbody tr");
    assert!(
        rows[0].contains("removed") && rows[0].contains("system"),
        "the sync's finding, newest: {rows:?}"
    );
    assert!(rows[1].contains("rotated") && rows[1].contains("ana"), "{rows:?}");
}

fn app_without_secrets() -> crate::support::emu::Application {
    app(1, "payments").owners(vec![user("u-alice", "Alice", Some("alice@example.com"))])
}

#[tokio::test]
async fn without_sign_in_the_dashboard_offers_no_actions_unless_configured() {
    let now = now();
    let (mut w, _server) = world(now, 20).await;
    let app = TestApp::start(w.config()).await;
    app.sync(None).await;
    let id = credential_id(&app.store).await.to_string();
    let page = app.page(&application_path()).await;
    assert!(page.text().contains("Sign in to acknowledge"), "{}", page.text());
    assert_eq!(page.count("form.act-form"), 0);
    let r = app
        .http
        .post(app.url(&format!("{}/actions", application_path())))
        .form(&[("csrf", "x"), ("credential_id", id.as_str()), ("action", "acknowledge")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    app.stop().await;

    w.file.server().auth = Some(crate::support::config::Auth {
        anonymous_actions: Some(true),
        ..Default::default()
    });
    let app = TestApp::start(w.config()).await;
    let page = app.page(&application_path()).await;
    let csrf = page.attr("form.act-form input[name=csrf]", "value").expect("actions are on");
    let r = app
        .http
        .post(app.url(&format!("{}/actions", application_path())))
        .form(&[("csrf", csrf.as_str()), ("credential_id", id.as_str()), ("action", "acknowledge")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let log = events(&app.store).await;
    assert_eq!((log[0].actor.as_deref(), log[0].via.as_str()), (Some("anonymous"), "dashboard"));
}

#[tokio::test]
async fn an_unacknowledged_critical_credential_escalates_once_after_the_wait_naming_who_was_reminded() {
    let now = now();
    let (mut w, server) = world(now, 5).await;
    w.emu.set_applications(
        PROD_TENANT,
        vec![
            app(1, "payments")
                .secrets(vec![
                    secret(KEY, "prod secret", now + days(5)),
                    secret("k-acked", "acked", now + days(6)),
                ])
                .owners(vec![user("u-alice", "Alice", Some("alice@example.com"))]),
        ],
    );
    w.file.escalation = Some(crate::support::config::Escalation {
        to: vec!["Lead <lead@example.com>".into()],
        ..Default::default()
    });
    let config = w.config();
    let store = w.sync_with(&config).await;
    let acked = store
        .credentials(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.key_id == "k-acked")
        .unwrap();
    store
        .act(
            acked.id,
            &CredentialAction::Acknowledge,
            &by_link("ops@example.com"),
            None,
            None,
            ts(now),
        )
        .await
        .unwrap();

    let report = try_remind(&store, &config, now, false).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let first = server.take();
    assert!(
        SmtpServer::for_recipient(&first, "lead@example.com").is_empty(),
        "the first reminder just went out"
    );
    let reminded_at = events(&store)
        .await
        .iter()
        .find(|e| e.kind == "reminded" && e.key_id == KEY)
        .unwrap()
        .at;

    // A restart, then just short of after_hours (24 h): not yet.
    drop(store);
    let store = w.store(&config).await;
    try_remind(
        &store,
        &config,
        reminded_at.to_datetime() + Duration::hours(24) - Duration::seconds(1),
        false,
    )
    .await
    .unwrap();
    assert!(server.take().is_empty());

    let at = reminded_at.to_datetime() + Duration::hours(24);
    let report = try_remind(&store, &config, at, false).await.unwrap();
    let messages = server.take();
    assert_eq!(recipients(&messages), ["lead@example.com"], "{report}");
    let parsed = messages[0].parsed();
    assert_eq!(
        parsed.subject(),
        Some("[credwatch] escalation: 1 credential nobody acknowledged (prod)")
    );
    let text = parsed.body_text(0).unwrap().into_owned();
    assert!(
        text.contains(KEY) && !text.contains("k-acked"),
        "the acknowledged one is not escalated: {text}"
    );
    let stamp = reminded_at.naive_utc().format("%Y-%m-%d %H:%M UTC").to_string();
    for who in ["alice@example.com", "oncall@example.com", "ops@example.com"] {
        assert!(text.contains(&format!("{who} at {stamp}")), "{who} in {text}");
    }
    let escalated: Vec<EventRow> = events(&store).await.into_iter().filter(|e| e.kind == "escalated").collect();
    assert_eq!(escalated.len(), 1);
    assert_eq!(
        (escalated[0].key_id.as_str(), escalated[0].note.as_deref()),
        (KEY, Some("to lead@example.com"))
    );

    // Once: a day later, nothing more.
    try_remind(&store, &config, at + Duration::hours(24), false).await.unwrap();
    assert!(SmtpServer::for_recipient(&server.take(), "lead@example.com").is_empty());
}

#[tokio::test]
async fn escalation_config_is_checked() {
    let load = |w: &World| credwatch::config::Config::from_toml(&w.file.to_toml(), None, &|k| w.vars.get(k).cloned());
    let (mut w, _server) = world(now(), 5).await;
    w.file.escalation = Some(crate::support::config::Escalation::default());
    let err = load(&w).unwrap_err();
    assert!(
        err.to_string().contains("escalation") && err.to_string().contains("nowhere"),
        "{err}"
    );
    w.file.escalation = Some(crate::support::config::Escalation {
        webhook: Some("teams".into()),
        ..Default::default()
    });
    let err = load(&w).unwrap_err();
    assert!(err.to_string().contains("escalation.webhook"), "{err}");
    w.file.escalation = Some(crate::support::config::Escalation {
        to: vec!["lead@example.com".into()],
        after_hours: Some(-1),
        ..Default::default()
    });
    let err = load(&w).unwrap_err();
    assert!(err.to_string().contains("escalation.after_hours"), "{err}");
    w.file.escalation = Some(crate::support::config::Escalation {
        to: vec!["lead@example.com".into()],
        ..Default::default()
    });
    let config = w.config();
    let e = config.escalation.expect("the table is read");
    assert_eq!((e.within_days, e.after_hours), (config.status.critical_days, 24));
}

#[tokio::test]
async fn teams_cards_carry_the_links_and_an_escalation_webhook_that_fails_is_tried_again() {
    use crate::support::config::Webhook;
    use crate::support::webhook::Receiver;
    let now = now();
    let (mut w, _smtp) = world(now, 5).await;
    let hooks = Receiver::start().await;
    w.file.webhooks = vec![
        Webhook {
            name: Some("teams".into()),
            kind: Some("teams".into()),
            url_env: Some("TEAMS_URL".into()),
            ..Webhook::default()
        },
        Webhook {
            name: Some("pager".into()),
            kind: Some("json".into()),
            url_env: Some("PAGER_URL".into()),
            ..Webhook::default()
        },
    ];
    w.vars.insert("TEAMS_URL".into(), hooks.url("/teams"));
    w.vars.insert("PAGER_URL".into(), hooks.url("/pager"));
    w.file.escalation = Some(crate::support::config::Escalation {
        webhook: Some("pager".into()),
        after_hours: Some(1),
        ..Default::default()
    });
    let config = w.config();
    let store = w.sync_with(&config).await;

    // The first reminder run: digests everywhere (the Teams card among them); nothing to
    // escalate yet.
    let report = try_remind(&store, &config, now, false).await.unwrap();
    assert!(report.escalation.as_ref().is_some_and(|e| e.lines.is_empty()), "{report}");
    let received = hooks.take();
    let card = &received.iter().find(|(p, _)| p == "/teams").expect("the Teams card").1;
    let urls: Vec<&str> = card["attachments"][0]["content"]["body"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "ActionSet")
        .flat_map(|b| b["actions"].as_array().unwrap().iter().map(|a| a["url"].as_str().unwrap()))
        .collect();
    let act: Vec<&&str> = urls
        .iter()
        .filter(|u| u.starts_with("https://credwatch.example.com/act/"))
        .collect();
    assert_eq!(act.len(), 4, "the same four links as the e-mail: {urls:?}");

    // After the hour, nobody acknowledged: the pager refuses the escalation, which is not recorded.
    hooks.answer(500);
    let report = try_remind(&store, &config, now + Duration::hours(2), false).await.unwrap();
    assert_eq!(report.escalation.as_ref().unwrap().failed.len(), 1, "{report}");
    assert!(!report.succeeded(), "a run whose escalation failed says so: {report}");
    assert!(
        events(&store).await.iter().all(|e| e.kind != "escalated"),
        "not delivered, not recorded"
    );
    hooks.take();

    // The next run delivers it, once, naming who was reminded.
    hooks.answer(200);
    try_remind(&store, &config, now + Duration::hours(3), false).await.unwrap();
    let received = hooks.take();
    let pages: Vec<&serde_json::Value> = received.iter().filter(|(p, _)| p == "/pager").map(|(_, b)| b).collect();
    assert_eq!(pages.len(), 1, "{received:?}");
    let escalated = &pages[0];
    assert_eq!(escalated["type"], "escalation");
    assert_eq!(escalated["credentials"][0]["key_id"], KEY);
    assert_eq!(escalated["credentials"][0]["reason"], "unacknowledged");
    let reminded: Vec<&str> = escalated["credentials"][0]["reminded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["to"].as_str().unwrap())
        .collect();
    for who in ["alice@example.com", "oncall@example.com", "ops@example.com", "webhook:teams"] {
        assert!(reminded.contains(&who), "{who} in {reminded:?}");
    }
    assert_eq!(events(&store).await.iter().filter(|e| e.kind == "escalated").count(), 1);
    try_remind(&store, &config, now + Duration::hours(4), false).await.unwrap();
    assert!(hooks.take().iter().all(|(p, _)| p != "/pager"), "once");
}

#[tokio::test]
async fn an_expired_credential_still_in_use_escalates_at_once() {
    let now = now();
    let (mut w, server) = world(now, -1).await;
    w.file.environment("prod").usage = Some(true);
    assert!(
        w.emu
            .record_sign_in(PROD_TENANT, KEY, &crate::support::graph::rfc(now - Duration::hours(1)))
    );
    w.file.escalation = Some(crate::support::config::Escalation {
        to: vec!["lead@example.com".into()],
        ..Default::default()
    });
    let config = w.config();
    let store = w.sync_with(&config).await;
    let report = try_remind(&store, &config, now, false).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let messages = server.take();
    let lead = SmtpServer::for_recipient(&messages, "lead@example.com");
    assert_eq!(lead.len(), 1, "no 24-hour wait for an expired credential that is still used");
    let text = lead[0].parsed().body_text(0).unwrap().into_owned();
    assert!(text.contains("EXPIRED and still in use") && text.contains(KEY), "{text}");
    assert_eq!(events(&store).await.iter().filter(|e| e.kind == "escalated").count(), 1);
}

#[tokio::test]
async fn a_configured_link_key_signs_the_links_and_a_short_one_is_refused() {
    let now = now();
    let (mut w, server) = world(now, 20).await;
    let key_file = w.dir.path().join("link-key");
    std::fs::write(&key_file, "short").unwrap();
    w.file.server().link_key_file = Some(key_file.clone());
    let err = credwatch::config::Config::from_toml(&w.file.to_toml(), None, &|k| w.vars.get(k).cloned()).unwrap_err();
    assert!(
        err.to_string().contains("server.link_key_file") && err.to_string().contains("32"),
        "{err}"
    );

    let key = "k".repeat(20) + &"9".repeat(20);
    std::fs::write(&key_file, &key).unwrap();
    let config = w.config();
    let store = w.sync_with(&config).await;
    try_remind(&store, &config, now, false).await.unwrap();
    let links = links_in(&SmtpServer::for_recipient(&server.take(), "ops@example.com").remove(0));
    let token = &link(&links, "I'm on it")["/act/".len()..];
    let claims = credwatch::domain::LinkSigner::new(key.into_bytes())
        .verify(token, ts(Utc::now()))
        .expect("signed with the file's key");
    assert_eq!(claims.recipient, "ops@example.com");
    assert!(
        store.link_signer(None).await.unwrap().verify(token, ts(Utc::now())).is_err(),
        "not with the database's key"
    );
}
