//! Every instant exactly as Graph gave it (issue 12 §4): Graph writes up to seven fractional
//! digits (100 ns ticks); they survive the sync, the store, the API, the CSV, `/metrics` and the
//! calendar feed, and status and days left are decided from the exact instant. A database of
//! whole seconds is migrated without losing anything.

use crate::support::app::TestApp;
use crate::support::config::{Calendar, Email};
use crate::support::emu::{Application, KeyCredential, PasswordCredential};
use crate::support::graph::{self, AppBuilder};
use crate::support::parse::csv_rows;
use crate::support::{CLIENT, PROD_TENANT as TENANT, World};
use chrono::{DateTime, Duration, DurationRound, Utc};
use credwatch::config::Config;
use credwatch::domain::{Rung, Status, Timestamp};
use credwatch::reminders::{plan_reminders, try_remind};
use credwatch::store::{CredentialFilter, Store};
use credwatch::sync::Syncer;
use icalendar::parser::{read_calendar, unfold};
use tokio_util::sync::CancellationToken;

const CALENDAR_TOKEN: &str = "instants-feed-token";

/// A secret valid from `start` to `end`, both exactly as Graph would write them.
fn secret(key_id: &str, start: &str, end: &str) -> PasswordCredential {
    PasswordCredential {
        hint: Some("abc".into()),
        start_date_time: Some(start.into()),
        end_date_time: Some(end.into()),
        ..graph::secret(key_id, &format!("{key_id} name"), graph::now())
    }
}

fn app(secrets: Vec<PasswordCredential>, certs: Vec<KeyCredential>) -> Application {
    graph::app(1, "Payroll API").secrets(secrets).certs(certs)
}

/// `t` (whole seconds) in Graph's form, with `fraction` (digits after the point, or "").
fn graph_time(t: DateTime<Utc>, fraction: &str) -> String {
    let whole = t.format("%Y-%m-%dT%H:%M:%S");
    if fraction.is_empty() {
        format!("{whole}Z")
    } else {
        format!("{whole}.{fraction}Z")
    }
}

/// A world with one environment, `prod`, listing `apps`; its feed token and `[email]` are set.
fn world_config(world: &mut World, apps: Vec<Application>) -> Config {
    world.tenant("prod", TENANT, CLIENT);
    world.emu.set_applications(TENANT, apps);
    world.vars.insert("CAL_TOKEN".into(), CALENDAR_TOKEN.into());
    world.file.calendar = Some(Calendar {
        token_env: Some("CAL_TOKEN".into()),
        ..Calendar::default()
    });
    world.file.email = Some(Email {
        transport: Some("none".into()),
        to: vec!["ops@example.com".into()],
        ..Email::default()
    });
    world.config()
}

async fn sync(config: &Config, store: &Store) -> credwatch::store::ListingCounts {
    let reports = Syncer::new(config, store.clone())
        .sync_all(None, &CancellationToken::new(), |_| {})
        .await;
    match &reports[0].result {
        Ok(counts) => *counts,
        Err(e) => panic!("sync failed: {e}"),
    }
}

/// The stored integer of a credential's end.
async fn stored_end(store: &Store, key_id: &str) -> i64 {
    let (end,): (i64,) = sqlx::query_as("SELECT end_at FROM credentials WHERE key_id = ?")
        .bind(key_id)
        .fetch_one(store.pool())
        .await
        .unwrap();
    end
}

#[tokio::test]
async fn seven_fractional_digits_round_trip_through_every_output() {
    // Within the feed's horizon; the fraction is the point.
    let base = (Utc::now() + Duration::days(100)).duration_trunc(Duration::seconds(1)).unwrap();
    let exact = graph_time(base, "8675309");
    let padded_start = graph_time(base - Duration::days(700), "1000000");
    let whole = graph_time(base + Duration::days(1), "");
    let millis = graph_time(base + Duration::days(2), "052");
    let cert = KeyCredential {
        key_id: "k-cert".into(),
        display_name: Some("CN=payroll".into()),
        start_date_time: Some(graph_time(base - Duration::days(365), "")),
        end_date_time: Some(whole.clone()),
        custom_key_identifier: None,
        r#type: "AsymmetricX509Cert".into(),
        usage: "Verify".into(),
    };
    let apps = vec![app(
        vec![secret("k-exact", &padded_start, &exact), secret("k-millis", &padded_start, &millis)],
        vec![cert],
    )];
    let mut world = World::new().await;
    let config = world_config(&mut world, apps);
    let served = TestApp::start(config.clone()).await;
    let store = served.store.clone();
    let counts = sync(&config, &store).await;
    assert_eq!((counts.added, counts.credentials), (3, 3));

    // Stored as ticks: the seven digits are all there.
    let ticks = Timestamp::from_unix_seconds(base.timestamp()).ticks() + 8_675_309;
    assert_eq!(stored_end(&store, "k-exact").await, ticks);

    // The API: exactly the instant Graph gave, trailing zeros dropped, whole seconds as before.
    let body = served.credentials("").await;
    let by_key = |key: &str| {
        body.iter()
            .find(|c| c["key_id"] == key)
            .unwrap_or_else(|| panic!("{key} in the API"))
            .clone()
    };
    assert_eq!(by_key("k-exact")["end"], exact.as_str());
    assert_eq!(by_key("k-exact")["start"], graph_time(base - Duration::days(700), "1").as_str());
    assert_eq!(by_key("k-cert")["end"], whole.as_str());
    assert_eq!(by_key("k-millis")["end"], millis.as_str());

    // The CSV: the same text in its end column.
    let csv = csv_rows(&served.get("/api/v1/credentials.csv").await.text().await.unwrap());
    let end_column = csv[0].iter().position(|h| h == "end").unwrap();
    let row = csv.iter().find(|r| r.iter().any(|f| f == "k-exact")).unwrap();
    assert_eq!(row[end_column], exact);

    // /metrics: seconds with the fraction, written exactly (a float could not carry it).
    let metrics = served.get("/metrics").await.text().await.unwrap();
    let sample = metrics
        .lines()
        .find(|l| l.starts_with("credwatch_credential_expiry_timestamp_seconds{") && l.contains("key_id=\"k-exact\""))
        .expect("an expiry series for k-exact");
    let value = sample.rsplit_once(' ').unwrap().1;
    assert_eq!(value, format!("{}.8675309", base.timestamp()));
    let value: f64 = value.parse().unwrap();
    assert!(value > base.timestamp() as f64 + 0.86 && value < base.timestamp() as f64 + 0.87);

    // The feed: DTSTART is an RFC 5545 DATE-TIME (whole seconds); the description names the
    // exact end.
    let feed = served
        .get(&format!("/calendar.ics?token={CALENDAR_TOKEN}"))
        .await
        .text()
        .await
        .unwrap();
    let unfolded = unfold(&feed);
    let calendar = read_calendar(&unfolded).unwrap();
    let event = calendar
        .components
        .iter()
        .find(|c| c.find_prop("UID").is_some_and(|u| u.val.as_str().contains("k-exact")))
        .expect("an event for k-exact");
    let description = event
        .find_prop("DESCRIPTION")
        .unwrap()
        .val
        .clone()
        .unescape_text()
        .as_str()
        .to_string();
    assert!(description.contains(&format!("Ends: {exact}\n")), "{description}");
    assert_eq!(
        event.find_prop("DTSTART").unwrap().val.as_str(),
        base.format("%Y%m%dT%H%M%SZ").to_string()
    );

    // Listed again unchanged: recognised as unchanged, nothing rewritten.
    let again = sync(&config, &store).await;
    assert_eq!((again.added, again.removed), (0, 0));
    assert_eq!(stored_end(&store, "k-exact").await, ticks);

    served.stop().await;
}

#[tokio::test]
async fn status_and_reminders_follow_the_exact_end_below_a_second() {
    // Half a second before the end it has not expired; 100 ns after, it has.
    let now = Timestamp::parse("2030-06-01T12:00:00Z").unwrap();
    let apps = vec![app(
        vec![
            secret("k-half-second-left", "2029-06-01T12:00:00Z", "2030-06-01T12:00:00.5Z"),
            secret("k-one-tick-ago", "2029-06-01T12:00:00Z", "2030-06-01T11:59:59.9999999Z"),
        ],
        vec![],
    )];
    let mut world = World::new().await;
    let config = world_config(&mut world, apps);
    let store = credwatch::startup::open_store(&config).await.unwrap();
    sync(&config, &store).await;

    let all = store.credentials(&CredentialFilter::default()).await.unwrap();
    let status = |key: &str| {
        let c = all.iter().find(|c| c.key_id == key).unwrap();
        (c.status(&config.status, now), c.days_left(now))
    };
    assert_eq!(status("k-half-second-left"), (Status::Critical, 0));
    assert_eq!(status("k-one-tick-ago"), (Status::Expired, -1));

    // The store's status filters and counts draw the same line.
    for (s, key) in [(Status::Expired, "k-one-tick-ago"), (Status::Critical, "k-half-second-left")] {
        let found = store
            .credentials(&CredentialFilter::default().with_status(s, &config.status, now))
            .await
            .unwrap();
        assert_eq!(found.iter().map(|c| c.key_id.as_str()).collect::<Vec<_>>(), [key], "{s}");
    }
    let counts = store.status_counts(&config.status, now).await.unwrap();
    assert_eq!((counts[0].1.expired, counts[0].1.critical), (1, 1));

    // The ladder: the expiry notice for one, the most urgent rung for the other.
    let plan = plan_reminders(&store, &config, now.to_datetime()).await.unwrap();
    let items: Vec<(&str, Rung)> = plan.digests[0]
        .items
        .iter()
        .map(|i| (i.credential.key_id.as_str(), i.rung))
        .collect();
    assert_eq!(
        items,
        [("k-one-tick-ago", Rung::Expired), ("k-half-second-left", Rung::DaysBefore(1))]
    );
    let report = try_remind(&store, &config, now.to_datetime(), true).await.unwrap();
    let lines = &report.digests[0].lines;
    assert!(lines[0].contains("expired less than a day ago (expiry notice)"), "{lines:?}");
    assert!(lines[1].contains("less than a day left (1-day reminder)"), "{lines:?}");
}

#[tokio::test]
async fn a_database_of_whole_seconds_is_migrated_to_ticks() {
    let end_secs: i64 = 1_900_000_000; // 2030-03-17T17:46:40Z
    let mut world = World::new().await;
    let listed = vec![app(vec![secret("k-1", "2028-03-17T17:46:40Z", "2030-03-17T17:46:40.25Z")], vec![])];
    let config = world_config(&mut world, listed);

    // The schema before migration 0006, with one credential, one run and one reminder.
    let url = format!("sqlite://{}?mode=rwc", world.db_path().display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::migrate!("./migrations").run_to(5, &pool).await.unwrap();
    for sql in [
        "INSERT INTO environments (id, name, tenant_id, client_id, last_success_at) VALUES (1, 'prod', 't', 'c', 1800000000)",
        "INSERT INTO sync_runs (id, environment_id, started_at, finished_at, outcome) VALUES (1, 1, 1799999990, 1800000000, 'success')",
        "INSERT INTO applications (id, environment_id, object_id, app_id, display_name, first_seen_at, last_seen_at, last_seen_run)
           VALUES (1, 1, '00000001-0000-4000-8000-000000000000', 'aaaa0001-0000-4000-8000-000000000000', 'Payroll API', 1700000000, 1700000000, 1)",
        "INSERT INTO credentials (id, application_id, environment_id, kind, key_id, start_at, end_at, first_seen_at, first_seen_run, last_seen_at, last_seen_run)
           VALUES (1, 1, 1, 'secret', 'k-1', 1836928000, 1900000000, 1700000000, 1, 1700000000, 1)",
        "INSERT INTO reminders (credential_id, rung, recipient, outcome, decided_at) VALUES (1, 60, 'ops@example.com', 'sent', 1750000000)",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;

    let store = credwatch::startup::open_store(&config).await.unwrap();
    let c = store.credential(1).await.unwrap();
    assert_eq!(c.end_at, Timestamp::from_unix_seconds(end_secs));
    assert_eq!(c.start_at, Some(Timestamp::from_unix_seconds(1_836_928_000)));
    assert_eq!(c.first_seen_at, Timestamp::from_unix_seconds(1_700_000_000));
    assert_eq!(c.last_seen_at.to_string(), "2027-01-15T08:00:00Z", "the environment's last success");
    let reminders = store.reminders_of(1).await.unwrap();
    assert_eq!(reminders[0].decided_at, Timestamp::from_unix_seconds(1_750_000_000));
    let run = &store.recent_runs(1, 1).await.unwrap()[0];
    assert_eq!(run.started_at, Timestamp::from_unix_seconds(1_799_999_990));
    // The partial indexes over the end are still there, still partial.
    let indexes: Vec<(String,)> =
        sqlx::query_as("SELECT sql FROM sqlite_master WHERE name IN ('credentials_live_end', 'credentials_env_live_end') ORDER BY name")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(indexes.len(), 2);
    assert!(
        indexes.iter().all(|(sql,)| sql.ends_with("WHERE removed_at IS NULL")),
        "{indexes:?}"
    );

    // The next sync stores the fraction Graph lists, in place: the same credential, not a new one.
    let counts = sync(&config, &store).await;
    assert_eq!((counts.added, counts.removed), (0, 0));
    let c = store.credential(1).await.unwrap();
    assert_eq!(c.end_at.to_string(), "2030-03-17T17:46:40.25Z");
    assert_eq!(store.reminders_of(1).await.unwrap().len(), 1, "its reminders stay with it");
}
