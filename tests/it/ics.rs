//! The ICS feed over HTTP: the emulator synced into a store, the real app serving the feed, the
//! body parsed back with icalendar's parser and checked event by event.

use crate::support::app::TestApp;
use crate::support::config::{Calendar, Reminders};
use crate::support::emu::{Application, PasswordCredential, hostile_applications};
use crate::support::graph::{AppBuilder, app, at, cert, days, now, rfc, secret};
use crate::support::{CLIENT, PROD_TENANT, TEST_TENANT, World};
use chrono::{DateTime, Utc};
use credwatch::store::CredentialFilter;
use icalendar::parser::{Component, read_calendar, unfold};
use std::collections::BTreeMap;

const TOKEN: &str = "feed-token-0123456789";

/// The app serving prod and test, synced; `token` is the configured feed token, if any.
async fn start(token: Option<&str>, prod: Vec<Application>, test: Vec<Application>) -> (World, TestApp) {
    let mut w = World::new().await;
    w.tenant("prod", PROD_TENANT, CLIENT);
    w.tenant("test", TEST_TENANT, CLIENT);
    w.emu.set_applications(PROD_TENANT, prod);
    w.emu.set_applications(TEST_TENANT, test);
    w.file.reminders = Some(Reminders::ladder(&[60, 30, 14, 7, 1]));
    if let Some(token) = token {
        w.vars.insert("CAL_TOKEN".into(), token.into());
        w.file.calendar = Some(Calendar {
            token_env: Some("CAL_TOKEN".into()),
            ..Calendar::default()
        });
    }
    let app = TestApp::start(w.config()).await;
    app.sync(None).await;
    (w, app)
}

/// The feed's body and ETag, asserting a 200 with the right content type.
async fn feed(app: &TestApp, path: &str) -> (String, String) {
    let r = app.get(path).await;
    assert_eq!(r.status(), 200, "{path}");
    assert_eq!(r.headers()["content-type"], "text/calendar; charset=utf-8");
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    (r.text().await.unwrap(), etag)
}

/// A secret as the feed tests list them: with a hint.
fn hinted(key: &str, name: &str, end: DateTime<Utc>) -> PasswordCredential {
    PasswordCredential {
        hint: Some("xY~".into()),
        ..secret(key, name, end)
    }
}

/// The usual data, relative to `now`.
fn usual(now: DateTime<Utc>) -> (Vec<Application>, Vec<Application>) {
    let prod = vec![
        app(1, "Payroll API")
            .secrets(vec![hinted("k-ci", "ci-deploy", now + days(10))])
            .certs(vec![cert("k-cert", "CN=payroll", now - days(2))]),
        app(2, "Billing").secrets(vec![
            hinted("k-bill", "main", now + days(45)),
            hinted("k-old", "old", now - days(90)),
        ]),
        app(3, "Forever").secrets(vec![hinted("k-never", "never", at("2299-12-31T00:00:00Z"))]),
    ];
    let test = vec![app(4, "Test app").secrets(vec![hinted("k-t1", "t1", now + days(3))])];
    (prod, test)
}

fn prop<'a>(c: &'a Component<'a>, name: &str) -> Option<String> {
    c.find_prop(name).map(|p| p.val.clone().unescape_text().as_str().to_string())
}

/// Every VEVENT by UID.
fn events_by_uid<'a>(cal: &'a icalendar::parser::Calendar<'a>) -> BTreeMap<String, &'a Component<'a>> {
    let mut map = BTreeMap::new();
    for c in &cal.components {
        assert_eq!(c.name.as_str(), "VEVENT", "only events in the calendar");
        let uid = prop(c, "UID").expect("a UID");
        assert!(map.insert(uid.clone(), c).is_none(), "UID {uid} is unique");
    }
    map
}

const EVENT_PROPS: &[&str] = &[
    "UID",
    "DTSTAMP",
    "DTSTART",
    "DTEND",
    "SUMMARY",
    "DESCRIPTION",
    "URL",
    "TRANSP",
    "STATUS",
];
const ALARM_PROPS: &[&str] = &["ACTION", "TRIGGER", "DESCRIPTION", "UID", "DTSTAMP"];

fn check_shape(c: &Component<'_>) {
    for p in &c.properties {
        assert!(
            EVENT_PROPS.contains(&p.name.as_str()),
            "unexpected event property {:?}",
            p.name.as_str()
        );
    }
    for a in &c.components {
        assert_eq!(a.name.as_str(), "VALARM");
        for p in &a.properties {
            assert!(
                ALARM_PROPS.contains(&p.name.as_str()),
                "unexpected alarm property {:?}",
                p.name.as_str()
            );
        }
    }
}

#[tokio::test]
async fn one_event_per_live_credential_with_an_alarm_per_rung() {
    let now = now();
    let (prod, test) = usual(now);
    let (_w, world) = start(Some(TOKEN), prod, test).await;
    let (body, _) = feed(&world, &format!("/calendar.ics?token={TOKEN}")).await;
    assert!(body.lines().all(|l| l.len() <= 75 + 1), "lines are folded");
    let unfolded = unfold(&body);
    let cal = read_calendar(&unfolded).unwrap();
    let calprop = |n: &str| {
        cal.properties
            .iter()
            .find(|p| p.name.as_str() == n)
            .map(|p| p.val.as_str().to_string())
    };
    assert_eq!(calprop("VERSION").as_deref(), Some("2.0"));
    assert_eq!(calprop("X-WR-CALNAME").as_deref(), Some("credwatch: all environments"));
    assert_eq!(calprop("REFRESH-INTERVAL").as_deref(), Some("PT1H"));
    assert_eq!(calprop("X-PUBLISHED-TTL").as_deref(), Some("PT1H"));

    let events = events_by_uid(&cal);
    // Horizon: expired 90 days ago and ending in 2299 are left out.
    let keys: Vec<&str> = events.keys().map(|u| u.split('-').nth(6).unwrap_or(u)).collect();
    assert_eq!(events.len(), 4, "{keys:?}");
    let uid = "00000001-0000-4000-8000-000000000000-secret-k-ci@prod.credwatch";
    let ci = events.get(uid).unwrap_or_else(|| panic!("{uid} in {:?}", events.keys()));
    check_shape(ci);
    let end = now + days(10);
    assert_eq!(prop(ci, "DTSTART").unwrap(), end.format("%Y%m%dT%H%M%SZ").to_string());
    assert_eq!(prop(ci, "SUMMARY").unwrap(), "secret \"ci-deploy\" of Payroll API expires (prod)");
    let description = prop(ci, "DESCRIPTION").unwrap();
    for needle in [
        "Kind: secret",
        "Key ID: k-ci",
        &format!("Ends: {}", rfc(end)),
        "https://portal.azure.com/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Credentials/appId/aaaa0001-0000-4000-8000-000000000000",
        "Environment: prod",
        "Application: Payroll API",
    ] {
        assert!(description.contains(needle), "{needle} in {description}");
    }
    let triggers: Vec<String> = ci.components.iter().map(|a| prop(a, "TRIGGER").unwrap()).collect();
    assert_eq!(triggers, vec!["-P1D", "-P7D", "-P14D", "-P30D", "-P60D", "PT0S"]);
    assert!(
        events.contains_key("00000001-0000-4000-8000-000000000000-certificate-k-cert@prod.credwatch"),
        "expired 2 days ago stays"
    );
    assert!(events.contains_key("00000004-0000-4000-8000-000000000000-secret-k-t1@test.credwatch"));

    // One environment's feed.
    let (body, _) = feed(&world, &format!("/calendar/test.ics?token={TOKEN}")).await;
    let unfolded = unfold(&body);
    let cal = read_calendar(&unfolded).unwrap();
    assert_eq!(
        events_by_uid(&cal).keys().cloned().collect::<Vec<_>>(),
        vec!["00000004-0000-4000-8000-000000000000-secret-k-t1@test.credwatch".to_string()]
    );
    assert!(body.contains("X-WR-CALNAME:credwatch: test"));
}

#[tokio::test]
async fn the_token_is_required() {
    let now = now();
    let (prod, test) = usual(now);
    let (_w, world) = start(Some(TOKEN), prod, test).await;
    for path in [
        "/calendar.ics",
        "/calendar.ics?token=",
        "/calendar.ics?token=wrong",
        "/calendar.ics?token=feed-token-012345678",
        "/calendar/prod.ics",
        "/calendar/nope.ics",
    ] {
        assert_eq!(world.get(path).await.status(), 403, "{path}");
    }
    assert_eq!(world.get(&format!("/calendar/nope.ics?token={TOKEN}")).await.status(), 404);
    assert_eq!(world.get(&format!("/calendar/prod.ics?token={TOKEN}")).await.status(), 200);

    // No token configured: the feed is refused to everyone.
    let (prod, test) = usual(now);
    let (_w2, open) = start(None, prod, test).await;
    for path in ["/calendar.ics", "/calendar.ics?token=", &format!("/calendar.ics?token={TOKEN}")] {
        assert_eq!(open.get(path).await.status(), 403, "{path}");
    }
}

#[tokio::test]
async fn uids_and_etag_are_stable_and_a_removed_credential_leaves() {
    let now = now();
    let (prod, test) = usual(now);
    let (w, world) = start(Some(TOKEN), prod, test).await;
    let path = format!("/calendar.ics?token={TOKEN}");
    let (first, etag) = feed(&world, &path).await;
    let (second, etag2) = feed(&world, &path).await;
    assert_eq!(first, second);
    assert_eq!(etag, etag2);
    assert!(etag.starts_with('"') && etag.ends_with('"'));

    let r = world
        .http
        .get(world.url(&path))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["etag"], etag.as_str());
    assert!(r.text().await.unwrap().is_empty());
    let r = world
        .http
        .get(world.url(&path))
        .header("If-None-Match", "\"other\", W/".to_string() + &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304, "a list and a weak tag match too");
    let r = world
        .http
        .get(world.url(&path))
        .header("If-None-Match", "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A re-sync changes nothing in the feed.
    world.sync(None).await;
    let (third, etag3) = feed(&world, &path).await;
    assert_eq!(third, first, "same UIDs, same body after a re-sync");
    assert_eq!(etag3, etag);

    // ci-deploy is rotated away: its event leaves, the others keep their UIDs.
    w.emu.update_applications(PROD_TENANT, |apps| apps[0].password_credentials.clear());
    world.sync(None).await;
    let (fourth, etag4) = feed(&world, &path).await;
    assert_ne!(etag4, etag);
    let before_unfolded = unfold(&first);
    let before = read_calendar(&before_unfolded).unwrap();
    let after_unfolded = unfold(&fourth);
    let after = read_calendar(&after_unfolded).unwrap();
    let mut expected: Vec<String> = events_by_uid(&before).keys().cloned().collect();
    expected.retain(|u| !u.contains("-secret-k-ci@"));
    assert_eq!(events_by_uid(&after).keys().cloned().collect::<Vec<_>>(), expected);
    let removed = world
        .store
        .credentials(&CredentialFilter {
            include_removed: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        removed.iter().any(|c| c.key_id == "k-ci" && c.removed_at.is_some()),
        "kept as history in the store"
    );
}

#[tokio::test]
async fn hostile_names_never_create_events_or_properties() {
    let now = now();
    // The emulator's hostile apps, with their secrets moved into the feed's horizon.
    let mut hostile = hostile_applications();
    for (i, a) in hostile.iter_mut().enumerate() {
        for s in &mut a.password_credentials {
            s.end_date_time = Some(rfc(now + days(5 + i as i64)));
        }
        for k in &mut a.key_credentials {
            k.end_date_time = Some(rfc(now + days(100 + i as i64)));
        }
    }
    let names: Vec<Option<String>> = hostile.iter().map(|a| a.display_name.clone()).collect();
    let (_w, world) = start(Some(TOKEN), hostile, vec![]).await;
    let (body, _) = feed(&world, &format!("/calendar.ics?token={TOKEN}")).await;

    // Raw lines: only CRLF line ends, and every unfolded line is a known property or a component
    // boundary.
    assert!(!body.replace("\r\n", "").contains(['\r', '\n']), "no bare CR or LF");
    let unfolded = unfold(&body);
    let mut begins = 0;
    for line in unfolded.split("\r\n").filter(|l| !l.is_empty()) {
        let name = line.split([':', ';']).next().unwrap();
        let known = [
            "BEGIN",
            "END",
            "VERSION",
            "PRODID",
            "CALSCALE",
            "METHOD",
            "NAME",
            "X-WR-CALNAME",
            "X-WR-CALDESC",
            "REFRESH-INTERVAL",
            "X-PUBLISHED-TTL",
        ]
        .contains(&name)
            || EVENT_PROPS.contains(&name)
            || ALARM_PROPS.contains(&name);
        assert!(known, "unexpected line {line:?}");
        if line == "BEGIN:VEVENT" {
            begins += 1;
        }
    }
    assert_eq!(begins, 20, "ten apps, a secret and a certificate each");

    let cal = read_calendar(&unfolded).unwrap();
    let events = events_by_uid(&cal);
    assert_eq!(events.len(), 20);
    for c in events.values() {
        check_shape(c);
        assert_eq!(c.components.len(), 6, "five rungs and the expiry notice");
    }
    // The names come back as text: punctuation intact, line breaks turned into spaces.
    let summaries: Vec<String> = events.values().map(|c| prop(c, "SUMMARY").unwrap()).collect();
    for name in names.iter().flatten() {
        let shown: String = name.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        assert!(
            summaries.iter().any(|s| s.contains(&format!("of {shown} expires"))),
            "{shown:?} in {summaries:#?}"
        );
    }
    assert!(summaries.iter().any(|s| s.contains("of Evil;Name,With\\Backslash expires")));
    assert!(summaries.iter().any(|s| s.contains("of (no name) expires")), "a null app name");
    assert!(summaries.iter().all(|s| !s.contains(['\r', '\n'])));
    let store_count = world.store.count_credentials(&CredentialFilter::default()).await.unwrap();
    assert_eq!(store_count, 20);
}
