//! Reminders end to end: the Graph emulator synced into a real store, digests sent over real SMTP
//! to an in-process server, the ledger checked after each run.

use crate::support::app::TestApp;
use crate::support::config::{Email, Reminders};
use crate::support::emu::{PasswordCredential, hostile_applications};
use crate::support::graph::{AppBuilder, app, at, cert, days, now, rfc, secret};
use crate::support::process::Running;
use crate::support::smtp::{Received, SmtpServer, closed_port};
use crate::support::{CLIENT, PROD_TENANT, TEST_TENANT, World};
use chrono::{DateTime, Duration, Utc};
use credwatch::domain::Rung;
use credwatch::reminders::{DigestOutcome, try_remind};
use credwatch::store::{CredentialFilter, Store};

/// prod and test, each with its on-call in `notify` (ops@ in capitals in test's), reminders at
/// 60, 30, 14, 7 and 1 days and an expiry notice; no e-mail transport yet.
async fn world() -> World {
    let mut w = World::new().await;
    w.tenant("prod", PROD_TENANT, CLIENT).notify = vec!["Prod On-call <prod-oncall@example.com>".into()];
    w.tenant("test", TEST_TENANT, CLIENT).notify = vec!["test-oncall@example.com".into(), "OPS@example.com".into()];
    w.file.reminders = Some(Reminders::ladder(&[60, 30, 14, 7, 1]));
    w
}

/// Digests over SMTP to `url`, everything to Ops as well.
fn smtp(w: &mut World, url: &str) {
    w.file.email = Some(Email::smtp(url, &["Ops <ops@example.com>"]));
}

/// The usual data: an expired certificate and three secrets at various distances in prod,
/// one secret 3 days from its end in test.
fn seed(w: &World, now: DateTime<Utc>) {
    w.emu.set_applications(
        PROD_TENANT,
        vec![
            app(1, "Payroll API")
                .secrets(vec![PasswordCredential {
                    hint: Some("abc".into()),
                    ..secret("k-ci", "ci-deploy", now + days(10) + Duration::hours(1))
                }])
                .certs(vec![cert("k-cert", "CN=payroll", now - days(2))]),
            app(2, "Billing").secrets(vec![secret("k-bill", "main", now + days(45))]),
            app(3, "Far away").secrets(vec![secret("k-far", "later", now + days(200))]),
        ],
    );
    w.emu.set_applications(
        TEST_TENANT,
        vec![app(4, "Test app").secrets(vec![secret("k-t1", "t1", now + days(3))])],
    );
}

/// The usual world and data, digests to the in-process SMTP server.
async fn seeded(now: DateTime<Utc>) -> (World, SmtpServer) {
    let mut w = world().await;
    seed(&w, now);
    let server = SmtpServer::start();
    smtp(&mut w, &server.url());
    (w, server)
}

/// (credential key id, rung, recipient, outcome) of every ledger row, sorted.
async fn ledger(store: &Store) -> Vec<(String, Rung, String, String)> {
    let creds = store
        .credentials(&CredentialFilter {
            include_removed: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut rows = Vec::new();
    for c in creds {
        for r in store.reminders_of(c.id).await.unwrap() {
            rows.push((c.key_id.clone(), r.rung(), r.recipient.clone(), r.outcome.clone()));
        }
    }
    rows.sort();
    rows
}

fn sent_to(rows: &[(String, Rung, String, String)], recipient: &str) -> Vec<(String, Rung)> {
    rows.iter()
        .filter(|r| r.2 == recipient && r.3 == "sent")
        .map(|r| (r.0.clone(), r.1))
        .collect()
}

fn one(messages: &[Received], address: &str) -> Received {
    let m = SmtpServer::for_recipient(messages, address);
    assert_eq!(m.len(), 1, "exactly one digest for {address}, got {}", m.len());
    m.into_iter().next().unwrap()
}

#[tokio::test]
async fn one_digest_per_recipient_grouped_by_environment_most_urgent_first() {
    let now = now();
    let (w, server) = seeded(now).await;
    let config = w.config();
    let store = w.sync_with(&config).await;

    let report = try_remind(&store, &config, now, false).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let messages = server.take();
    assert_eq!(
        messages.len(),
        3,
        "ops, prod on-call, test on-call: {:?}",
        messages.iter().map(|m| &m.to).collect::<Vec<_>>()
    );
    for m in &messages {
        assert_eq!(m.to.len(), 1, "one envelope recipient per message");
        assert_eq!(m.from, "credwatch@example.com");
    }

    // ops@ is in [email].to and in test's notify (in capitals): one digest with everything.
    let ops = one(&messages, "ops@example.com");
    let parsed = ops.parsed();
    assert_eq!(
        parsed.subject(),
        Some("[credwatch] 1 credential has expired, 3 expire within 60 days (prod, test)")
    );
    assert!(
        parsed.message_id().is_some_and(|id| id.ends_with("@example.com")),
        "{:?}",
        parsed.message_id()
    );
    assert!(parsed.date().is_some());
    let raw = ops.text();
    assert!(raw.contains("multipart/alternative"), "{raw}");
    assert!(raw.contains("Auto-Submitted: auto-generated"));
    let text = parsed.body_text(0).unwrap().into_owned();
    let html = parsed.body_html(0).unwrap().into_owned();
    // Names quoted as the digest writes them: the signed action links are random text.
    let order: Vec<usize> = ["== prod ==", "\"CN=payroll\"", "\"ci-deploy\"", "\"main\"", "== test ==", "\"t1\""]
        .iter()
        .map(|s| text.find(s).unwrap_or_else(|| panic!("{s} in {text}")))
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "expired first, then by end, grouped by environment: {text}"
    );
    assert!(!text.contains("later"), "a credential 200 days away is not due");
    assert!(text.contains("expired 2 days ago"), "{text}");
    assert!(text.contains("(abc…)"), "the hint: {text}");
    assert!(text.contains("10 days left"));
    let payroll_portal = "https://portal.azure.com/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Credentials/appId/aaaa0001-0000-4000-8000-000000000000";
    assert!(text.contains(payroll_portal), "{text}");
    assert!(
        text.contains("https://credwatch.example.com/environments/prod/applications/00000001-0000-4000-8000-000000000000"),
        "{text}"
    );
    assert!(html.contains(payroll_portal) && html.contains("<table"), "{html}");
    let end = (now + days(10) + Duration::hours(1)).format("%Y-%m-%d %H:%M UTC").to_string();
    assert!(text.contains(&end), "end date in UTC: {text}");

    let prod = one(&messages, "prod-oncall@example.com");
    let prod_text = prod.parsed().body_text(0).unwrap().into_owned();
    assert_eq!(
        prod.parsed().subject(),
        Some("[credwatch] 1 credential has expired, 2 expire within 60 days (prod)")
    );
    // Quoted: the signed action links are random text, which may contain t1 by chance.
    assert!(prod_text.contains("ci-deploy") && !prod_text.contains("\"t1\""), "{prod_text}");
    let test = one(&messages, "test-oncall@example.com");
    assert_eq!(
        test.parsed().subject(),
        Some("[credwatch] 1 credential expires within 7 days (test)")
    );

    // The ledger: the rung sent per recipient, the rungs crossed before it skipped.
    let rows = ledger(&store).await;
    assert_eq!(
        sent_to(&rows, "ops@example.com"),
        vec![
            ("k-bill".into(), Rung::DaysBefore(60)),
            ("k-cert".into(), Rung::Expired),
            ("k-ci".into(), Rung::DaysBefore(14)),
            ("k-t1".into(), Rung::DaysBefore(7))
        ]
    );
    let skipped: Vec<_> = rows
        .iter()
        .filter(|r| r.0 == "k-ci" && r.2 == "ops@example.com" && r.3 == "skipped")
        .map(|r| r.1)
        .collect();
    assert_eq!(skipped, vec![Rung::DaysBefore(30), Rung::DaysBefore(60)]);
    assert_eq!(store.reminders_sent_total().await.unwrap(), 4 + 3 + 1);
}

#[tokio::test]
async fn nothing_is_sent_twice_across_runs_and_restarts() {
    let now = now();
    let (w, server) = seeded(now).await;
    let config = w.config();
    let store = w.sync_with(&config).await;

    try_remind(&store, &config, now, false).await.unwrap();
    assert_eq!(server.take().len(), 3);
    let report = try_remind(&store, &config, now + Duration::hours(1), false).await.unwrap();
    assert!(report.digests.is_empty(), "{report}");
    assert!(server.take().is_empty());

    // A restart: a new process opens the same database file (and syncs again).
    drop(store);
    let store = w.sync_with(&config).await;
    let report = try_remind(&store, &config, now + Duration::hours(2), false).await.unwrap();
    assert!(report.digests.is_empty(), "{report}");
    assert!(server.take().is_empty());
    let before = ledger(&store).await;

    // The next rung for ci-deploy (7 days) is crossed 3 days and 2 hours later; only that goes out.
    let later = now + days(3) + Duration::hours(2);
    let report = try_remind(&store, &config, later, false).await.unwrap();
    assert!(report.succeeded());
    let messages = server.take();
    let ops = one(&messages, "ops@example.com").parsed().body_text(0).unwrap().into_owned();
    assert!(
        ops.contains("ci-deploy") && !ops.contains("CN=payroll") && !ops.contains("\"main\""),
        "{ops}"
    );
    let after = ledger(&store).await;
    assert!(before.iter().all(|r| after.contains(r)));
    assert!(after.contains(&("k-ci".into(), Rung::DaysBefore(7), "ops@example.com".into(), "sent".into())));
}

#[tokio::test]
async fn after_downtime_only_the_most_urgent_rung_is_sent() {
    let now = now();
    let mut w = world().await;
    w.emu.set_applications(
        PROD_TENANT,
        vec![app(1, "Payroll API").secrets(vec![secret("k-ci", "ci-deploy", now + days(70))])],
    );
    let server = SmtpServer::start();
    smtp(&mut w, &server.url());
    let config = w.config();
    let store = w.sync_with(&config).await;

    // 60-day rung at day 10; then credwatch is down until 5 days before the end.
    try_remind(&store, &config, now + days(10), false).await.unwrap();
    assert_eq!(server.take().len(), 2);
    try_remind(&store, &config, now + days(65), false).await.unwrap();
    let messages = server.take();
    assert_eq!(messages.len(), 2);
    assert_eq!(
        one(&messages, "ops@example.com").parsed().subject(),
        Some("[credwatch] 1 credential expires within 7 days (prod)")
    );
    let rows = ledger(&store).await;
    let ops: Vec<_> = rows
        .iter()
        .filter(|r| r.2 == "ops@example.com")
        .map(|r| (r.1, r.3.as_str()))
        .collect();
    assert_eq!(
        ops,
        vec![
            (Rung::DaysBefore(7), "sent"),
            (Rung::DaysBefore(14), "skipped"),
            (Rung::DaysBefore(30), "skipped"),
            (Rung::DaysBefore(60), "sent")
        ]
    );

    // The skipped rungs never come back; the expiry notice does, once.
    assert!(try_remind(&store, &config, now + days(66), false).await.unwrap().digests.is_empty());
    try_remind(&store, &config, now + days(71), false).await.unwrap();
    let messages = server.take();
    assert_eq!(
        one(&messages, "ops@example.com").parsed().subject(),
        Some("[credwatch] 1 credential has expired (prod)")
    );
    assert!(try_remind(&store, &config, now + days(90), false).await.unwrap().digests.is_empty());
}

#[tokio::test]
async fn a_server_down_leaves_reminders_due_and_they_go_out_once_it_is_up() {
    let now = now();
    let mut w = world().await;
    seed(&w, now);
    let port = closed_port();
    smtp(&mut w, &format!("smtp://127.0.0.1:{port}"));
    let config = w.config();
    let store = w.sync_with(&config).await;

    let report = try_remind(&store, &config, now, false).await.unwrap();
    assert!(!report.succeeded());
    assert_eq!(report.failed(), 3, "{report}");
    assert!(report.digests.iter().all(|d| matches!(&d.outcome, DigestOutcome::Failed(_))));
    assert!(ledger(&store).await.is_empty(), "nothing recorded while the server is down");

    let server = SmtpServer::start_on(port);
    let report = try_remind(&store, &config, now + Duration::minutes(5), false).await.unwrap();
    assert!(report.succeeded(), "{report}");
    assert_eq!(server.take().len(), 3);
    assert_eq!(sent_to(&ledger(&store).await, "ops@example.com").len(), 4);
}

#[tokio::test]
async fn a_refused_recipient_is_retried_without_resending_to_the_others() {
    let now = now();
    let (w, server) = seeded(now).await;
    let config = w.config();
    let store = w.sync_with(&config).await;

    server.refuse_recipient("prod-oncall@example.com");
    let report = try_remind(&store, &config, now, false).await.unwrap();
    assert_eq!((report.sent(), report.failed()), (2, 1), "{report}");
    assert!(format!("{report}").contains("550"), "the server's answer is reported: {report}");
    let messages = server.take();
    assert_eq!(messages.len(), 2);
    assert!(sent_to(&ledger(&store).await, "prod-oncall@example.com").is_empty());

    // 451 at DATA for everyone: nothing accepted, nothing recorded.
    server.accept_everyone();
    server.refuse_data(true);
    let report = try_remind(&store, &config, now + Duration::minutes(1), false).await.unwrap();
    assert_eq!(report.failed(), 1);
    assert!(format!("{report}").contains("451"), "{report}");
    assert!(sent_to(&ledger(&store).await, "prod-oncall@example.com").is_empty());

    server.refuse_data(false);
    let report = try_remind(&store, &config, now + Duration::minutes(2), false).await.unwrap();
    assert!(report.succeeded());
    let messages = server.take();
    assert_eq!(messages.len(), 1, "only the one who missed it");
    assert_eq!(messages[0].to, vec!["prod-oncall@example.com".to_string()]);
    assert_eq!(sent_to(&ledger(&store).await, "prod-oncall@example.com").len(), 3);
}

#[tokio::test]
async fn hostile_names_add_no_header_and_no_line() {
    let mut w = world().await;
    w.emu.set_applications(PROD_TENANT, hostile_applications());
    let server = SmtpServer::start();
    smtp(&mut w, &server.url());
    let config = w.config();
    let store = w.sync_with(&config).await;

    // The hostile apps' secrets end on the 15th of each month of 2026: late 2026 has them due.
    let now = at("2026-11-01T00:00:00Z");
    let report = try_remind(&store, &config, now, false).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let messages = server.take();
    assert_eq!(messages.len(), 2);
    for m in &messages {
        let raw = m.text();
        let (head, _) = raw.split_once("\r\n\r\n").expect("headers then body");
        let names: Vec<String> = head
            .lines()
            .filter(|l| !l.starts_with([' ', '\t']))
            .map(|l| l.split(':').next().unwrap().to_ascii_lowercase())
            .collect();
        for name in &names {
            assert!(
                [
                    "from",
                    "to",
                    "subject",
                    "message-id",
                    "date",
                    "auto-submitted",
                    "x-auto-response-suppress",
                    "mime-version",
                    "content-type"
                ]
                .contains(&name.as_str()),
                "unexpected header {name:?} in {head}"
            );
        }
        assert!(!raw.to_ascii_lowercase().contains("\nbcc:"), "{raw}");
        let parsed = m.parsed();
        let subject = parsed.subject().unwrap();
        assert!(!subject.contains(['\r', '\n']), "{subject:?}");
        assert!(parsed.bcc().is_none());
        let text = parsed.body_text(0).unwrap().into_owned();
        assert!(
            text.lines().all(|l| !l.trim_start().to_ascii_lowercase().starts_with("bcc:")),
            "{text}"
        );
        assert!(
            text.contains("a  Bcc: victim@example.com"),
            "the name stays visible on its own line: {text}"
        );
        assert!(!text.contains("line1\nline2"), "{text}");
        let html = parsed.body_html(0).unwrap().into_owned();
        assert!(
            !html.contains("<script>") && html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"),
            "{html}"
        );
    }

    // A subject built from names is one line too.
    assert_eq!(credwatch::domain::clean("a\r\nBcc: x@y\u{0}\u{202e}z"), "a  Bcc: x@y  z");
}

#[tokio::test]
async fn file_transport_writes_one_eml_per_message() {
    let now = now();
    let mut w = world().await;
    seed(&w, now);
    let outbox = w.dir.path().join("outbox");
    w.file.email = Some(Email::outbox(outbox.clone(), &["ops@example.com"]));
    let config = w.config();
    let store = w.sync_with(&config).await;
    let report = try_remind(&store, &config, now, false).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let files: Vec<_> = std::fs::read_dir(&outbox).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(files.iter().all(|f| f.extension().is_some_and(|e| e == "eml")));
    let subjects: Vec<String> = files
        .iter()
        .map(|f| {
            let bytes = std::fs::read(f).unwrap();
            mail_parser::MessageParser::default()
                .parse(&bytes)
                .unwrap()
                .subject()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        subjects.contains(&"[credwatch] 1 credential expires within 7 days (test)".to_string()),
        "{subjects:?}"
    );
    assert_eq!(sent_to(&ledger(&store).await, "ops@example.com").len(), 4);
}

#[tokio::test]
async fn transport_none_sends_and_records_nothing() {
    let now = now();
    let mut w = world().await;
    seed(&w, now);
    w.file.email = Some(Email {
        transport: Some("none".into()),
        to: vec!["ops@example.com".into()],
        ..Email::default()
    });
    let config = w.config();
    let store = w.sync_with(&config).await;
    let report = try_remind(&store, &config, now, false).await.unwrap();
    assert!(report.transport_none && report.succeeded());
    assert!(report.digests.iter().all(|d| d.outcome == DigestOutcome::NotSent));
    assert!(ledger(&store).await.is_empty());
}

/// `credwatch remind` through the real binary: `--dry-run` prints the plan and changes nothing;
/// a real run sends and exits 0; with the server down it exits 1.
#[tokio::test]
async fn the_remind_command() {
    let now = now();
    let (mut w, server) = seeded(now).await;
    let config = w.config();
    let store = w.sync_with(&config).await;
    // The binary's config: the default ladder, everything to ops@ only.
    w.file.reminders = None;
    for e in &mut w.file.environments {
        e.notify.clear();
    }
    let remind = async |w: &World, args: &[&str]| {
        let path = w.write_config();
        let mut all = vec!["remind", "--config", path.to_str().unwrap()];
        all.extend(args);
        w.run(&all).await
    };
    let at_now = rfc(now);

    let (code, stdout, stderr) = remind(&w, &["--dry-run", "--now", &at_now]).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("dry run: nothing sent or recorded"), "{stdout}");
    assert!(stdout.contains("Ops") || stdout.contains("ops@example.com"), "{stdout}");
    assert!(stdout.contains("[prod] Payroll API: secret \"ci-deploy\" (abc…)"), "{stdout}");
    assert!(stdout.contains("14-day reminder") && stdout.contains("expiry notice"), "{stdout}");
    assert!(server.take().is_empty(), "a dry run sends nothing");
    assert!(ledger(&store).await.is_empty(), "a dry run records nothing");

    // --now in the future shows the plan for that day.
    let future = rfc(now + days(190));
    let (_, stdout, _) = remind(&w, &["--dry-run", "--now", &future]).await;
    assert!(stdout.contains("\"later\""), "{stdout}");

    smtp(&mut w, &format!("smtp://127.0.0.1:{}", closed_port()));
    w.file.email.as_mut().unwrap().to = vec!["ops@example.com".into()];
    let (code, stdout, _) = remind(&w, &["--now", &at_now]).await;
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("FAILED"), "{stdout}");
    assert!(ledger(&store).await.is_empty());

    smtp(&mut w, &server.url());
    w.file.email.as_mut().unwrap().to = vec!["ops@example.com".into()];
    let (code, stdout, _) = remind(&w, &["--now", &at_now]).await;
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(server.take().len(), 1);
    assert_eq!(sent_to(&ledger(&store).await, "ops@example.com").len(), 4);

    let (code, _, stderr) = remind(&w, &["--now", "yesterday"]).await;
    assert_ne!(code, 0);
    assert!(stderr.contains("--now"), "{stderr}");
}

/// `serve` runs reminders on `schedule.remind`. The schedule fires every second; the test waits
/// for what the SMTP server receives, not for the clock: the first run's digests, then the
/// digest of a credential added afterwards, which only a later run can send.
#[tokio::test]
async fn serve_sends_reminders_on_its_schedule() {
    let now = now();
    let (mut w, server) = seeded(now).await;
    w.file.schedule().remind = Some("* * * * * *".into());
    // Synced before serving: a run on partly synced data would split the digests.
    let config = w.config();
    w.sync_with(&config).await;
    let serving = TestApp::start(config).await;
    server.accepted(3).await;
    let first = server.take();
    assert_eq!(first.len(), 3, "ops, prod on-call, test on-call");

    // A new secret in test, 5 days from its end: due for ops@ and test's on-call.
    w.emu.update_applications(TEST_TENANT, |apps| {
        apps.push(app(5, "Added later").secrets(vec![secret("k-new", "new", now + days(5))]))
    });
    serving.sync(Some("test")).await;
    server.accepted(3 + 2).await;
    let later = server.take();
    let mut to: Vec<&str> = later.iter().flat_map(|m| m.to.iter().map(String::as_str)).collect();
    to.sort();
    assert_eq!(to, ["ops@example.com", "test-oncall@example.com"]);
    for m in &later {
        let text = m.body_text();
        assert!(text.contains("Added later"), "{text}");
        for old in ["ci-deploy", "CN=payroll", "\"main\"", "\"t1\""] {
            assert!(!text.contains(old), "{old} sent twice: {text}");
        }
    }
    let store = serving.store.clone();
    serving.stop().await;
    assert_eq!(server.count(), 0, "nothing more arrived");
    assert_eq!(sent_to(&ledger(&store).await, "ops@example.com").len(), 5);
}

/// SIGKILL while the server holds the second digest inside DATA: the first recipient's
/// reminders are recorded (the server accepted theirs), nobody else's. The held digest is then
/// delivered anyway, as a server may do for a client that vanished after sending it: the next
/// run sends that one recipient a duplicate, the others theirs, and nobody is lost.
#[tokio::test]
async fn sigkill_during_a_reminder_run_loses_nothing() {
    let now = now();
    let mut w = world().await;
    seed(&w, now);
    let server = SmtpServer::start();
    let recipients = [
        "ops@example.com",
        "a@example.com",
        "b@example.com",
        "c@example.com",
        "d@example.com",
    ];
    smtp(&mut w, &server.url());
    w.file.email.as_mut().unwrap().to = recipients.iter().map(|r| r.to_string()).collect();
    for e in &mut w.file.environments {
        e.notify.clear();
    }
    let config = w.config();
    let store = w.sync_with(&config).await;

    let mut held = server.hold(1);
    let run = Running::start(&w, &["remind"]);
    let in_flight = held.arrived().await;
    assert_eq!(server.count(), 1, "the first digest was accepted");
    run.kill().await;
    let first = server.take();
    let delivered = first[0].to.clone();
    let rows = ledger(&store).await;
    for r in recipients {
        let recorded = !sent_to(&rows, r).is_empty();
        assert_eq!(
            recorded,
            delivered.iter().any(|d| d == r),
            "{r}: recorded only once the server accepted its digest"
        );
    }
    held.release(true);
    server.accepted(2).await;
    assert_eq!(server.take()[0].to, in_flight);

    let (code, stdout, _) = w.run(&["remind", "--config", w.write_config().to_str().unwrap()]).await;
    assert_eq!(code, 0, "{stdout}");
    let after = server.take();
    for r in recipients {
        let got = SmtpServer::for_recipient(&after, r).len();
        let expected = usize::from(!delivered.iter().any(|d| d == r));
        assert_eq!(got, expected, "{r}: {got} digests after the restart");
    }
    assert!(
        in_flight.iter().all(|r| SmtpServer::for_recipient(&after, r).len() == 1),
        "the digest in flight at the kill was not recorded, so it goes again"
    );

    // Everything is recorded now: a third run sends nothing.
    let (code, stdout, _) = w.run(&["remind", "--config", w.write_config().to_str().unwrap()]).await;
    assert_eq!(code, 0);
    assert!(server.take().is_empty(), "{stdout}");
    let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check").fetch_one(store.pool()).await.unwrap();
    assert_eq!(check, "ok");
    let rows = ledger(&store).await;
    for r in recipients {
        assert!(!sent_to(&rows, r).is_empty(), "{r} has no ledger row");
    }
}
