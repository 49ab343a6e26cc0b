//! The calendar feed from the outside: tenants in the Graph emulator, synced into a real SQLite
//! file, the real app serving the feed on a port, every body read back with the `icalendar`
//! crate's parser (an implementation independent of credwatch's writer) and every physical line
//! checked as octets.

use crate::support::app::TestApp;
use crate::support::config::{Calendar, Reminders};
use crate::support::emu::{Application, DirectoryObject, PasswordCredential, hostile_applications};
use crate::support::graph::{self, AppBuilder, user};
use crate::support::{CLIENT, PROD_TENANT, TEST_TENANT, World};
use chrono::{DateTime, Utc};
use icalendar::parser::{Component, read_calendar, unfold};
use std::collections::BTreeMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};

const TOKEN: &str = "feed-token-0123456789";

/// Today's start plus `days` days and `hours` hours: ends on known UTC days.
fn day(days: i64, hours: i64) -> DateTime<Utc> {
    let today = Utc::now().timestamp().div_euclid(86_400) * 86_400;
    DateTime::from_timestamp(today + days * 86_400 + hours * 3_600, 0).unwrap()
}

fn secret(key: &str, name: &str, end: DateTime<Utc>) -> PasswordCredential {
    PasswordCredential {
        hint: Some("xY~".into()),
        ..graph::secret(key, name, end)
    }
}

fn app(n: usize, name: &str, secrets: Vec<PasswordCredential>) -> Application {
    graph::app(n as u32, name).secrets(secrets)
}

/// A user whose user principal name is not their mail address.
fn owner(id: &str, mail: Option<&str>, upn: &str) -> DirectoryObject {
    DirectoryObject {
        user_principal_name: Some(upn.into()),
        ..user(id, upn, mail)
    }
}

/// The world (emulator, temp dir, config) and the app serving prod and test, synced.
struct Feeds {
    w: World,
    app: TestApp,
}

impl Feeds {
    /// `calendar` is the `[calendar]` table besides the token.
    async fn start(prod: Vec<Application>, test: Vec<Application>, calendar: Calendar) -> Feeds {
        let mut w = World::new().await;
        w.tenant("prod", PROD_TENANT, CLIENT);
        w.tenant("test", TEST_TENANT, CLIENT);
        w.emu.set_applications(PROD_TENANT, prod);
        w.emu.set_applications(TEST_TENANT, test);
        w.file.reminders = Some(Reminders::ladder(&[30, 7, 1]));
        w.vars.insert("CAL_TOKEN".into(), TOKEN.into());
        w.file.calendar = Some(Calendar {
            token_env: Some("CAL_TOKEN".into()),
            ..calendar
        });
        let app = TestApp::start(w.config()).await;
        app.sync(None).await;
        Feeds { w, app }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.app.get(path).await
    }

    /// The feed at `path` (the token is added): asserts a 200 and that every physical line is at
    /// most 75 octets and valid UTF-8 on its own, and returns the body and its ETag.
    async fn feed(&self, path: &str) -> (String, String) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let r = self.get(&format!("{path}{sep}token={TOKEN}")).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], "text/calendar; charset=utf-8");
        assert_eq!(r.headers()["cache-control"], "no-store");
        let etag = r.headers()["etag"].to_str().unwrap().to_string();
        let bytes = r.bytes().await.unwrap();
        assert!(bytes.ends_with(b"END:VCALENDAR\r\n"), "{path}: the whole calendar");
        let body = String::from_utf8(bytes.to_vec()).expect("the feed is UTF-8");
        assert!(!body.replace("\r\n", "").contains(['\r', '\n']), "{path}: no bare CR or LF");
        let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        assert_eq!(lines.last(), Some(&&b""[..]), "the body ends with a line end");
        for line in &lines[..lines.len() - 1] {
            let line = line.strip_suffix(b"\r").expect("lines end in CRLF");
            assert!(
                line.len() <= 75,
                "{path}: {} octets: {:?}",
                line.len(),
                String::from_utf8_lossy(line)
            );
            assert!(std::str::from_utf8(line).is_ok(), "{path}: a fold split a character: {line:?}");
        }
        (body, etag)
    }
}

/// A parsed feed: its calendar properties and its events by UID.
struct Feed {
    props: BTreeMap<String, String>,
    events: BTreeMap<String, Event>,
}

struct Event {
    props: BTreeMap<String, String>,
    /// Per alarm, its TRIGGER and DESCRIPTION.
    alarms: Vec<(String, String)>,
}

/// Property values as text. The parser unescapes the TEXT properties of RFC 5545 itself (doing
/// it twice would turn an escaped backslash followed by `n` into a line break); RFC 7986's NAME
/// and the `X-` properties it does not know, so those are unescaped here.
fn props(c: &[icalendar::parser::Property<'_>]) -> BTreeMap<String, String> {
    c.iter()
        .map(|p| {
            let name = p.name.as_str();
            let val = if name == "NAME" || name.starts_with("X-") {
                p.val.clone().unescape_text()
            } else {
                p.val.clone()
            };
            (name.to_string(), val.as_str().to_string())
        })
        .collect()
}

fn parse(body: &str) -> Feed {
    let unfolded = unfold(body);
    let cal = read_calendar(&unfolded).expect("the feed parses");
    let mut events = BTreeMap::new();
    for c in &cal.components {
        assert_eq!(c.name.as_str(), "VEVENT");
        let event = event(c);
        let uid = event.props["UID"].clone();
        assert!(events.insert(uid.clone(), event).is_none(), "UID {uid} is unique");
    }
    Feed {
        props: props(&cal.properties),
        events,
    }
}

fn event(c: &Component<'_>) -> Event {
    let alarms = c
        .components
        .iter()
        .map(|a| {
            assert_eq!(a.name.as_str(), "VALARM");
            let p = props(&a.properties);
            assert_eq!(p["ACTION"], "DISPLAY");
            (p["TRIGGER"].clone(), p["DESCRIPTION"].clone())
        })
        .collect();
    Event {
        props: props(&c.properties),
        alarms,
    }
}

impl Feed {
    fn name(&self) -> &str {
        &self.props["X-WR-CALNAME"]
    }

    fn summaries(&self) -> Vec<&str> {
        self.events.values().map(|e| e.props["SUMMARY"].as_str()).collect()
    }

    fn key_ids(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .events
            .keys()
            .map(|uid| uid.split('@').next().unwrap().rsplit("-secret-").next().unwrap().to_string())
            .collect();
        keys.sort();
        keys
    }
}

/// Names no feed may mangle: multi-byte scripts, combining marks, every TEXT special, line
/// breaks, and two long names that differ only at their ends.
fn hostile_names() -> Vec<String> {
    let long = "Ünïcödé 漢字アプリ 😀👩‍👩‍👧 ".repeat(12);
    vec![
        "😀🚀 Déploiement 漢字 かな 한국어".to_string(),
        "e\u{301}a\u{308} combining marks and zero\u{200d}width joiners".to_string(),
        "semi;colon, comma\\back\\slash \\n not a newline".to_string(),
        "line one\r\nBEGIN:VEVENT\nUID:forged\rEND:VCALENDAR".to_string(),
        "\u{202e}evil bidi override\u{2028}separator\ttab".to_string(),
        format!("{long} — first"),
        format!("{long} — second"),
        "x".repeat(75),
        "ü".repeat(40),
    ]
}

/// What a name should read like: one line, control and separator characters as spaces.
fn one_line(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

#[tokio::test]
async fn every_line_fits_in_75_octets_and_names_come_back_whole() {
    let names = hostile_names();
    let prod: Vec<Application> = names
        .iter()
        .enumerate()
        .map(|(i, n)| app(i + 1, n, vec![secret(&format!("k{i}"), n, day(3 + i as i64, 5))]))
        .collect();
    let world = Feeds::start(prod, hostile_applications(), Calendar::default()).await;

    // The emulator's hostile tenant in `test`: every line of its feeds is checked by `feed`.
    for path in ["/calendar/test.ics", "/calendar/test.ics?group=day"] {
        let (body, _) = world.feed(path).await;
        assert!(!parse(&body).events.is_empty(), "{path}");
    }
    for path in ["/calendar/prod.ics", "/calendar.ics?group=day", "/calendar.ics?environment=prod"] {
        let (body, _) = world.feed(path).await;
        let feed = parse(&body);
        assert!(!feed.events.is_empty(), "{path}");
        if path.contains("group=day") {
            continue;
        }
        assert_eq!(feed.events.len(), names.len(), "{path}: no name made or swallowed an event");
        for (i, name) in names.iter().enumerate() {
            let uid = format!("0000{:04}-0000-4000-8000-000000000000-secret-k{i}@prod.credwatch", i + 1);
            let e = &feed.events[&uid];
            let shown = one_line(name);
            let description = &e.props["DESCRIPTION"];
            assert!(
                description.contains(&format!("Application: {shown} (aaaa{:04}", i + 1)),
                "DESCRIPTION carries the full name {shown:?}: {description:?}"
            );
            assert!(description.contains(&format!("\nName: {shown}\n")), "{description:?}");
            let summary = &e.props["SUMMARY"];
            assert!(!summary.contains(['\r', '\n']));
            if shown.chars().count() > 120 {
                let cut: String = shown.chars().take(119).collect();
                assert!(summary.contains(&format!("of {cut}… expires")), "SUMMARY cuts with …: {summary:?}");
            } else {
                assert!(summary.contains(&format!("of {shown} expires")), "{summary:?}");
            }
            assert_eq!(e.alarms.len(), 4, "three rungs and the expiry notice");
        }
        // The two long names differ only at their ends: the summaries cannot tell them apart,
        // the descriptions can.
        let (a, b) = (&feed.events[&uid_of(6, 5)], &feed.events[&uid_of(7, 6)]);
        assert_eq!(a.props["SUMMARY"], b.props["SUMMARY"]);
        assert!(a.props["DESCRIPTION"].contains("— first (") && b.props["DESCRIPTION"].contains("— second ("));
    }
}

fn uid_of(n: usize, k: usize) -> String {
    format!("0000{n:04}-0000-4000-8000-000000000000-secret-k{k}@prod.credwatch")
}

#[tokio::test]
async fn filters_narrow_the_feed_and_bad_values_are_named() {
    let mut payroll = app(
        1,
        "Payroll",
        vec![secret("p-soon", "soon", day(3, 2)), secret("p-late", "late", day(90, 2))],
    );
    payroll.owners = vec![owner("u1", Some("Ann.Lee@Contoso.com"), "ann@contoso.onmicrosoft.com")];
    let mut billing = app(
        2,
        "Billing",
        vec![secret("b-gone", "gone", day(-5, 0)), secret("b-mid", "mid", day(20, 0))],
    );
    billing.owners = vec![
        owner("u2", None, "bob@contoso.com"),
        owner("u1", Some("ann.lee@contoso.com"), "ann@contoso.onmicrosoft.com"),
    ];
    let tester = app(3, "Tester", vec![secret("t-soon", "t", day(2, 0))]);
    let world = Feeds::start(vec![payroll, billing], vec![tester], Calendar::default()).await;

    let keys = async |path: &str| parse(&world.feed(path).await.0).key_ids();
    assert_eq!(keys("/calendar.ics").await, ["b-gone", "b-mid", "p-late", "p-soon", "t-soon"]);
    assert_eq!(keys("/calendar.ics?environment=test").await, ["t-soon"]);
    assert_eq!(keys("/calendar/prod.ics?status=critical").await, ["p-soon"]);
    assert_eq!(keys("/calendar.ics?status=expired").await, ["b-gone"]);
    assert_eq!(keys("/calendar.ics?within_days=30").await, ["b-gone", "b-mid", "p-soon", "t-soon"]);
    assert_eq!(keys("/calendar/prod.ics?within_days=30&status=warning").await, ["b-mid"]);
    // The owner by mail or user principal name, in any case.
    assert_eq!(
        keys("/calendar.ics?owner=ann.lee%40contoso.com").await,
        ["b-gone", "b-mid", "p-late", "p-soon"]
    );
    assert_eq!(
        keys("/calendar.ics?owner=ANN%40contoso.onmicrosoft.com&status=critical").await,
        ["p-soon"]
    );
    assert_eq!(keys("/calendar.ics?owner=bob%40contoso.com").await, ["b-gone", "b-mid"]);
    assert_eq!(keys("/calendar.ics?owner=nobody%40contoso.com").await, Vec::<String>::new());
    // Empty parameters, as a form sends them, are absent.
    assert_eq!(keys("/calendar.ics?environment=&status=&within_days=&owner=&group=").await.len(), 5);

    let (body, _) = world.feed("/calendar/prod.ics?status=warning&owner=bob%40contoso.com").await;
    assert_eq!(parse(&body).name(), "credwatch: prod, warning, owned by bob@contoso.com");

    for (query, parameter) in [
        ("status=soon", "status"),
        ("within_days=-1", "within_days"),
        ("within_days=7.5", "within_days"),
        ("environment=nope", "environment"),
        ("group=week", "group"),
        ("owner=a%0Ab%40contoso.com", "owner"),
    ] {
        let r = world.get(&format!("/calendar.ics?token={TOKEN}&{query}")).await;
        assert_eq!(r.status(), 400, "{query}");
        assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
        let text = r.text().await.unwrap();
        assert!(
            text.starts_with(&format!("The parameter “{parameter}” is wrong: ")),
            "{query}: {text}"
        );
    }
    let r = world.get(&format!("/calendar/prod.ics?token={TOKEN}&environment=test")).await;
    assert_eq!(r.status(), 400, "the path and the query disagree");
    assert!(r.text().await.unwrap().contains("“environment”"));
    let r = world.get(&format!("/calendar.ics?token={TOKEN}&status=ok&status=expired")).await;
    assert_eq!(r.status(), 400, "a filter given twice");
    assert_eq!(world.get(&format!("/calendar/nope.ics?token={TOKEN}")).await.status(), 404);
}

#[tokio::test]
async fn every_form_and_filter_needs_the_token() {
    let world = Feeds::start(
        vec![app(1, "A", vec![secret("a", "a", day(3, 0))])],
        vec![],
        Calendar {
            max_events: Some(0),
            ..Calendar::default()
        },
    )
    .await;
    for (path, query) in [
        ("/calendar.ics", ""),
        ("/calendar.ics", "group=day"),
        ("/calendar.ics", "status=critical&owner=ann%40contoso.com"),
        ("/calendar.ics", "within_days=7&environment=prod"),
        ("/calendar/prod.ics", "group=day"),
        ("/calendar/nope.ics", ""),
        // A bad filter without the token still learns nothing but "forbidden".
        ("/calendar.ics", "status=nonsense"),
    ] {
        for token in [None, Some(""), Some("wrong"), Some(&TOKEN[..TOKEN.len() - 1])] {
            let mut params: Vec<String> = token.map(|t| format!("token={t}")).into_iter().collect();
            params.extend((!query.is_empty()).then(|| query.to_string()));
            let url = format!("{path}?{}", params.join("&"));
            let r = world.get(&url).await;
            assert_eq!(r.status(), 403, "{url}");
            assert_eq!(r.text().await.unwrap(), "a valid calendar token is required\n", "{url}");
        }
    }
    // With it, each of them answers (the automatic day form included: max_events is 0).
    let (body, _) = world.feed("/calendar.ics").await;
    assert_eq!(parse(&body).summaries(), ["1 credential ends today"]);
}

#[tokio::test]
async fn above_max_events_a_feed_holds_one_event_per_day_and_says_so() {
    // Day 3: five credentials in prod, two in test; day 10: one; day 40: 25 in prod.
    let mut prod: Vec<Application> = (0..5)
        .map(|i| {
            app(
                i + 1,
                &format!("App {i}"),
                vec![secret(&format!("d3-{i}"), "s", day(3, i as i64 + 1))],
            )
        })
        .collect();
    prod.push(app(6, "Lone", vec![secret("d10", "lone", day(10, 8))]));
    prod.extend((0..25).map(|i| {
        app(
            100 + i,
            &format!("Batch {i:02}"),
            vec![secret(&format!("d40-{i:02}"), "b", day(40, 1))],
        )
    }));
    let test = vec![app(
        50,
        "Tester",
        vec![secret("t3-a", "a", day(3, 0)), secret("t3-b", "b", day(3, 23))],
    )];
    let world = Feeds::start(
        prod,
        test,
        Calendar {
            max_events: Some(10),
            ..Calendar::default()
        },
    )
    .await;

    let (body, etag) = world.feed("/calendar.ics").await;
    let feed = parse(&body);
    assert_eq!(feed.name(), "credwatch: all environments (by day: more than 10 credentials)");
    assert_eq!(feed.props["NAME"], feed.name());
    assert_eq!(feed.events.len(), 3, "{:?}", feed.events.keys());
    let mut days: Vec<&Event> = feed.events.values().collect();
    days.sort_by_key(|e| e.props["DTSTART"].clone());

    let d3 = days[0];
    assert_eq!(d3.props["SUMMARY"], "7 credentials end today");
    assert_eq!(
        d3.props["DTSTART"],
        day(3, 0).format("%Y%m%dT%H%M%SZ").to_string(),
        "timed at the first to end"
    );
    let description = &d3.props["DESCRIPTION"];
    assert!(description.contains("5 in prod, 2 in test"), "{description}");
    for i in 0..5 {
        assert!(
            description.contains(&format!("secret \"s\" of App {i} (prod)\nhttps://credwatch.example.com/environments/prod/applications/0000{:04}-0000-4000-8000-000000000000", i + 1)),
            "{description}"
        );
    }
    assert!(!description.contains("more."), "all seven are listed");
    let triggers: Vec<&str> = d3.alarms.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(triggers, ["-P1D", "-P7D", "-P30D", "PT0S"], "an alarm per rung and the notice");
    assert!(d3.alarms[1].1.starts_with("In 7 days: 7 credentials end"));

    assert_eq!(days[1].props["SUMMARY"], "1 credential ends today");
    let d40 = &days[2].props;
    assert_eq!(d40["SUMMARY"], "25 credentials end today");
    assert!(d40["DESCRIPTION"].contains(
        "…and 5 more. This day's credentials, per environment:\nprod (25): https://credwatch.example.com/environments/prod?after="
    ));
    assert_eq!(
        d40["DESCRIPTION"]
            .matches("https://credwatch.example.com/environments/prod/applications/")
            .count(),
        20
    );
    assert!(d40["URL"].starts_with("https://credwatch.example.com/environments/prod?after="));

    // Stable: the same UIDs and bytes on the next fetch and after a re-sync.
    let (again, etag2) = world.feed("/calendar.ics").await;
    assert_eq!((again.as_str(), etag2.as_str()), (body.as_str(), etag.as_str()));
    world.app.sync(None).await;
    assert_eq!(world.feed("/calendar.ics").await.0, body);

    // Asked for by day below the limit: the same form, named as asked; other filters make other UIDs.
    let (test_days, _) = world.feed("/calendar/test.ics?group=day").await;
    let test_days = parse(&test_days);
    assert_eq!(test_days.name(), "credwatch: test (by day)");
    assert_eq!(test_days.summaries(), ["2 credentials end today"]);
    assert!(
        test_days.events.keys().all(|u| !feed.events.contains_key(u)),
        "UIDs differ between feeds"
    );
    // Below the limit and not asked: one event per credential.
    let (few, _) = world.feed("/calendar/test.ics").await;
    assert_eq!(parse(&few).key_ids(), ["t3-a", "t3-b"]);
    assert_eq!(parse(&few).name(), "credwatch: test");

    // Another process rotates one of day 3's secrets away: the day-grouped body shared under the
    // old tag is not served again.
    world
        .w
        .emu
        .update_applications(PROD_TENANT, |apps| apps[0].password_credentials.clear());
    world.w.sync_with(&world.w.config()).await;
    let (after, etag3) = world.feed("/calendar.ics").await;
    assert_ne!(etag3, etag);
    let after = parse(&after);
    let d3 = after
        .events
        .values()
        .find(|e| e.props["DTSTART"].starts_with(&day(3, 0).format("%Y%m%d").to_string()))
        .expect("day 3 is still there");
    assert_eq!(d3.props["SUMMARY"], "6 credentials end today");
}

#[tokio::test]
async fn the_etag_follows_the_stored_data_of_any_process_and_a_match_is_a_304() {
    let world = Feeds::start(
        vec![app(1, "A", vec![secret("a", "a", day(3, 0)), secret("b", "b", day(4, 0))])],
        vec![],
        Calendar::default(),
    )
    .await;
    let (body, etag) = world.feed("/calendar.ics").await;
    let url = world.app.url(&format!("/calendar.ics?token={TOKEN}"));
    let conditional = async |tag: &str| world.app.http.get(&url).header("If-None-Match", tag).send().await.unwrap();

    let r = conditional(&etag).await;
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()["etag"], etag.as_str());
    assert!(r.bytes().await.unwrap().is_empty());
    assert_eq!(conditional(&format!("\"other\", W/{etag}")).await.status(), 304, "in a list, weak");
    assert_eq!(conditional("\"other\"").await.status(), 200);
    // Each form and filter has its own tag.
    let (_, by_day) = world.feed("/calendar.ics?group=day").await;
    let (_, prod) = world.feed("/calendar/prod.ics").await;
    assert!(etag != by_day && etag != prod && by_day != prod);

    // Another process (its own store handle, so this process's caches hear nothing) rotates a
    // secret away: the tag changes, and the old one no longer matches.
    world
        .w
        .emu
        .update_applications(PROD_TENANT, |apps| apps[0].password_credentials.truncate(1));
    world.w.sync_with(&world.w.config()).await;
    assert_eq!(conditional(&etag).await.status(), 200);
    let (after, etag2) = world.feed("/calendar.ics").await;
    assert_ne!(etag2, etag);
    assert_ne!(after, body);
    assert_eq!(parse(&after).key_ids(), ["a"]);
    // A sync that changes nothing keeps the tag.
    world.w.sync_with(&world.w.config()).await;
    assert_eq!(conditional(&etag2).await.status(), 304);
}

#[tokio::test]
async fn a_reader_that_stops_reading_is_cut_off() {
    // About 6 MB of events: far more than the socket buffers hold.
    let long = "a long application name to make each event larger ".repeat(4);
    let apps: Vec<Application> = (0..1_500)
        .map(|i| {
            app(
                i + 1,
                &format!("{long}{i}"),
                vec![
                    secret(&format!("s{i}-1"), &long, day(1 + (i % 300) as i64, 1)),
                    secret(&format!("s{i}-2"), &long, day(2 + (i % 300) as i64, 2)),
                ],
            )
        })
        .collect();
    let world = Feeds::start(
        apps,
        vec![],
        Calendar {
            max_events: Some(1_000_000),
            stall_timeout_secs: Some(1),
            ..Calendar::default()
        },
    )
    .await;
    let path = format!("/calendar.ics?token={TOKEN}");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], world.app.port()));

    // A client that reads everything gets everything.
    let (full, _) = world.feed("/calendar.ics").await;
    assert!(full.len() > 4_000_000, "{} bytes", full.len());

    // A client with a small receive buffer that sends its request and never reads.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    socket.set_nonblocking(true).unwrap();
    let mut stream = tokio::net::TcpStream::from_std(std::net::TcpStream::from(socket)).unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    // Wait for the server to reset the connection: an error on the socket, with the data it
    // sent still unread. The bound only keeps a broken build from hanging.
    let ready = tokio::time::timeout(std::time::Duration::from_secs(60), stream.ready(Interest::ERROR))
        .await
        .expect("the server cut the stalled reader off")
        .unwrap();
    assert!(ready.is_error());
    let mut got = Vec::new();
    let end = stream.read_to_end(&mut got).await;
    assert!(
        end.is_err() || !got.ends_with(b"0\r\n\r\n"),
        "the answer did not complete ({} bytes)",
        got.len()
    );
    assert!((got.len() as f64) < full.len() as f64 * 0.9, "read {} of {}", got.len(), full.len());

    // The server carries on.
    let (again, _) = world.feed("/calendar.ics").await;
    assert_eq!(again.len(), full.len());
}

#[tokio::test]
async fn the_overview_offers_the_feeds_and_a_builder() {
    let calendar = Calendar {
        max_events: Some(1234),
        ..Calendar::default()
    };
    let world = Feeds::start(vec![app(1, "A", vec![secret("a", "a", day(3, 0))])], vec![], calendar).await;
    let page = world.app.page("/").await;
    let links: Vec<String> = page
        .select("section[aria-labelledby=cal-h] a")
        .iter()
        .filter_map(|a| a.value().attr("href").map(str::to_string))
        .collect();
    let base = "https://credwatch.example.com";
    for link in [
        format!("{base}/calendar.ics?token={TOKEN}"),
        format!("webcal://credwatch.example.com/calendar.ics?token={TOKEN}"),
        format!("{base}/calendar.ics?token={TOKEN}&group=day"),
        format!("{base}/calendar/prod.ics?token={TOKEN}"),
        format!("webcal://credwatch.example.com/calendar/test.ics?token={TOKEN}"),
    ] {
        assert!(links.contains(&link), "{link} offered: {links:?}");
    }
    assert_eq!(
        page.attr("form.feed-builder", "action").as_deref(),
        Some(&*format!("{base}/calendar.ics"))
    );
    assert_eq!(page.attr("form.feed-builder input[name=token]", "value").as_deref(), Some(TOKEN));
    assert!(
        page.text().contains("more than 1,234 credentials"),
        "the automatic grouping is explained"
    );
    for name in ["environment", "status", "within_days", "owner", "group"] {
        assert_eq!(
            page.count(&format!("form.feed-builder [name={name}]")),
            1,
            "the builder sets {name}"
        );
    }
    // What the builder submits (every field, empty ones included) is a feed the server reads.
    let (body, _) = world
        .feed("/calendar.ics?environment=prod&status=critical&within_days=&owner=&group=day")
        .await;
    assert_eq!(parse(&body).name(), "credwatch: prod, critical (by day)");
}
