//! Reminders end to end: the Graph emulator synced into a real store, digests sent over real SMTP
//! to an in-process server, the ledger checked after each run.

#[path = "common/smtp.rs"]
mod smtp;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use credwatch::config::Config;
use credwatch::domain::Rung;
use credwatch_emulator::{Application, ClientAuth, Emulator, KeyCredential, PasswordCredential, hostile_applications};
use credwatch::reminders::{DigestOutcome, try_remind};
use credwatch::startup::open_store;
use credwatch::store::{CredentialFilter, Store};
use credwatch::sync::Syncer;
use smtp::{Received, SmtpServer, closed_port};
use tokio_util::sync::CancellationToken;

const PROD_TENANT: &str = "11111111-1111-4111-8111-111111111111";
const TEST_TENANT: &str = "22222222-2222-4222-8222-222222222222";
const CLIENT: &str = "cccccccc-cccc-4ccc-8ccc-cccccccccccc";
const SECRET: &str = "emulator-secret";

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn secret(key: &str, name: &str, hint: Option<&str>, end: DateTime<Utc>) -> PasswordCredential {
    PasswordCredential {
        key_id: key.into(),
        display_name: Some(name.into()),
        hint: hint.map(str::to_string),
        start_date_time: Some(rfc(end - Duration::days(700))),
        end_date_time: Some(rfc(end)),
        custom_key_identifier: None,
    }
}

fn cert(key: &str, name: &str, end: DateTime<Utc>) -> KeyCredential {
    KeyCredential {
        key_id: key.into(),
        display_name: Some(name.into()),
        start_date_time: Some(rfc(end - Duration::days(365))),
        end_date_time: Some(rfc(end)),
        custom_key_identifier: Some("2iD8ppbE+D6Kmu1ZvjM2jtQh88E=".into()),
        r#type: "AsymmetricX509Cert".into(),
        usage: "Verify".into(),
    }
}

fn app(n: u32, name: &str, secrets: Vec<PasswordCredential>, certs: Vec<KeyCredential>) -> Application {
    Application {
        id: format!("0000{n:04}-0000-4000-8000-000000000000"),
        app_id: format!("aaaa{n:04}-0000-4000-8000-000000000000"),
        display_name: Some(name.into()),
        password_credentials: secrets,
        key_credentials: certs,
        ..Default::default()
    }
}

/// An emulator with two tenants, a database in a temp dir, and the config tying them together.
struct World {
    emu: Emulator,
    dir: tempfile::TempDir,
    now: DateTime<Utc>,
}

impl World {
    async fn new() -> World {
        let emu = Emulator::start().await.unwrap();
        for t in [PROD_TENANT, TEST_TENANT] {
            emu.add_tenant(t);
            emu.register_client(
                t,
                CLIENT,
                ClientAuth::Secret {
                    value: SECRET.into(),
                    expired: false,
                },
            );
        }
        // Whole seconds, as the store keeps them.
        let now = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
        World {
            emu,
            dir: tempfile::tempdir().unwrap(),
            now,
        }
    }

    /// The usual data: an expired certificate and three secrets at various distances in prod,
    /// one secret 3 days from its end in test.
    fn seed(&self) {
        let now = self.now;
        self.emu.set_applications(
            PROD_TENANT,
            vec![
                app(
                    1,
                    "Payroll API",
                    vec![secret(
                        "k-ci",
                        "ci-deploy",
                        Some("abc"),
                        now + Duration::days(10) + Duration::hours(1),
                    )],
                    vec![cert("k-cert", "CN=payroll", now - Duration::days(2))],
                ),
                app(2, "Billing", vec![secret("k-bill", "main", None, now + Duration::days(45))], vec![]),
                app(
                    3,
                    "Far away",
                    vec![secret("k-far", "later", None, now + Duration::days(200))],
                    vec![],
                ),
            ],
        );
        self.emu.set_applications(
            TEST_TENANT,
            vec![app(
                4,
                "Test app",
                vec![secret("k-t1", "t1", None, now + Duration::days(3))],
                vec![],
            )],
        );
    }

    fn db_url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("credwatch.db").display())
    }

    fn config(&self, email: &str) -> Config {
        let text = format!(
            r#"
[server]
public_url = "https://credwatch.example.com/"
[database]
url = "{db}"
[reminders]
days_before = [60, 30, 14, 7, 1]
expired_notice = true
{email}
[[environments]]
name = "prod"
tenant_id = "{PROD_TENANT}"
client_id = "{CLIENT}"
client_secret_env = "SECRET"
authority_host = "{emu}"
graph_url = "{emu}"
notify = ["Prod On-call <prod-oncall@example.com>"]
[[environments]]
name = "test"
tenant_id = "{TEST_TENANT}"
client_id = "{CLIENT}"
client_secret_env = "SECRET"
authority_host = "{emu}"
graph_url = "{emu}"
notify = ["test-oncall@example.com", "OPS@example.com"]
"#,
            db = self.db_url(),
            emu = self.emu.url(),
        );
        Config::from_toml(&text, None, &|k| (k == "SECRET").then(|| SECRET.to_string())).unwrap()
    }

    fn smtp_config(&self, url: &str) -> Config {
        self.config(&format!("[email]\ntransport = \"smtp\"\nurl = \"{url}\"\nfrom = \"credwatch <credwatch@example.com>\"\nto = [\"Ops <ops@example.com>\"]\n"))
    }

    async fn sync(&self, config: &Config) -> Store {
        let store = open_store(config).await.unwrap();
        let reports = Syncer::new(config, store.clone())
            .sync_all(None, &CancellationToken::new(), |_| {})
            .await;
        assert!(reports.iter().all(|r| r.succeeded()), "{reports:?}");
        store
    }
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
    let world = World::new().await;
    world.seed();
    let server = SmtpServer::start();
    let config = world.smtp_config(&server.url());
    let store = world.sync(&config).await;

    let report = try_remind(&store, &config, world.now, false).await.unwrap();
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
    let order: Vec<usize> = ["== prod ==", "CN=payroll", "ci-deploy", "main", "== test ==", "t1"]
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
    let end = (world.now + Duration::days(10) + Duration::hours(1))
        .format("%Y-%m-%d %H:%M UTC")
        .to_string();
    assert!(text.contains(&end), "end date in UTC: {text}");

    let prod = one(&messages, "prod-oncall@example.com");
    let prod_text = prod.parsed().body_text(0).unwrap().into_owned();
    assert_eq!(
        prod.parsed().subject(),
        Some("[credwatch] 1 credential has expired, 2 expire within 60 days (prod)")
    );
    assert!(prod_text.contains("ci-deploy") && !prod_text.contains("t1"), "{prod_text}");
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
    let world = World::new().await;
    world.seed();
    let server = SmtpServer::start();
    let config = world.smtp_config(&server.url());
    let store = world.sync(&config).await;

    try_remind(&store, &config, world.now, false).await.unwrap();
    assert_eq!(server.take().len(), 3);
    let report = try_remind(&store, &config, world.now + Duration::hours(1), false).await.unwrap();
    assert!(report.digests.is_empty(), "{report}");
    assert!(server.take().is_empty());

    // A restart: a new process opens the same database file (and syncs again).
    drop(store);
    let store = world.sync(&config).await;
    let report = try_remind(&store, &config, world.now + Duration::hours(2), false).await.unwrap();
    assert!(report.digests.is_empty(), "{report}");
    assert!(server.take().is_empty());
    let before = ledger(&store).await;

    // The next rung for ci-deploy (7 days) is crossed 3 days and 2 hours later; only that goes out.
    let later = world.now + Duration::days(3) + Duration::hours(2);
    let report = try_remind(&store, &config, later, false).await.unwrap();
    assert!(report.succeeded());
    let messages = server.take();
    let ops = one(&messages, "ops@example.com").parsed().body_text(0).unwrap().into_owned();
    assert!(
        ops.contains("ci-deploy") && !ops.contains("CN=payroll") && !ops.contains("main"),
        "{ops}"
    );
    let after = ledger(&store).await;
    assert!(before.iter().all(|r| after.contains(r)));
    assert!(after.contains(&("k-ci".into(), Rung::DaysBefore(7), "ops@example.com".into(), "sent".into())));
}

#[tokio::test]
async fn after_downtime_only_the_most_urgent_rung_is_sent() {
    let world = World::new().await;
    let now = world.now;
    world.emu.set_applications(
        PROD_TENANT,
        vec![app(
            1,
            "Payroll API",
            vec![secret("k-ci", "ci-deploy", None, now + Duration::days(70))],
            vec![],
        )],
    );
    world.emu.set_applications(TEST_TENANT, vec![]);
    let server = SmtpServer::start();
    let config = world.smtp_config(&server.url());
    let store = world.sync(&config).await;

    // 60-day rung at day 10; then credwatch is down until 5 days before the end.
    try_remind(&store, &config, now + Duration::days(10), false).await.unwrap();
    assert_eq!(server.take().len(), 2);
    try_remind(&store, &config, now + Duration::days(65), false).await.unwrap();
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
    assert!(
        try_remind(&store, &config, now + Duration::days(66), false)
            .await
            .unwrap()
            .digests
            .is_empty()
    );
    try_remind(&store, &config, now + Duration::days(71), false).await.unwrap();
    let messages = server.take();
    assert_eq!(
        one(&messages, "ops@example.com").parsed().subject(),
        Some("[credwatch] 1 credential has expired (prod)")
    );
    assert!(
        try_remind(&store, &config, now + Duration::days(90), false)
            .await
            .unwrap()
            .digests
            .is_empty()
    );
}

#[tokio::test]
async fn a_server_down_leaves_reminders_due_and_they_go_out_once_it_is_up() {
    let world = World::new().await;
    world.seed();
    let port = closed_port();
    let config = world.smtp_config(&format!("smtp://127.0.0.1:{port}"));
    let store = world.sync(&config).await;

    let report = try_remind(&store, &config, world.now, false).await.unwrap();
    assert!(!report.succeeded());
    assert_eq!(report.failed(), 3, "{report}");
    assert!(report.digests.iter().all(|d| matches!(&d.outcome, DigestOutcome::Failed(_))));
    assert!(ledger(&store).await.is_empty(), "nothing recorded while the server is down");

    let server = SmtpServer::start_on(port);
    let report = try_remind(&store, &config, world.now + Duration::minutes(5), false).await.unwrap();
    assert!(report.succeeded(), "{report}");
    assert_eq!(server.take().len(), 3);
    assert_eq!(sent_to(&ledger(&store).await, "ops@example.com").len(), 4);
}

#[tokio::test]
async fn a_refused_recipient_is_retried_without_resending_to_the_others() {
    let world = World::new().await;
    world.seed();
    let server = SmtpServer::start();
    let config = world.smtp_config(&server.url());
    let store = world.sync(&config).await;

    server.refuse_recipient("prod-oncall@example.com");
    let report = try_remind(&store, &config, world.now, false).await.unwrap();
    assert_eq!((report.sent(), report.failed()), (2, 1), "{report}");
    assert!(format!("{report}").contains("550"), "the server's answer is reported: {report}");
    let messages = server.take();
    assert_eq!(messages.len(), 2);
    assert!(sent_to(&ledger(&store).await, "prod-oncall@example.com").is_empty());

    // 451 at DATA for everyone: nothing accepted, nothing recorded.
    server.accept_everyone();
    server.refuse_data(true);
    let report = try_remind(&store, &config, world.now + Duration::minutes(1), false).await.unwrap();
    assert_eq!(report.failed(), 1);
    assert!(format!("{report}").contains("451"), "{report}");
    assert!(sent_to(&ledger(&store).await, "prod-oncall@example.com").is_empty());

    server.refuse_data(false);
    let report = try_remind(&store, &config, world.now + Duration::minutes(2), false).await.unwrap();
    assert!(report.succeeded());
    let messages = server.take();
    assert_eq!(messages.len(), 1, "only the one who missed it");
    assert_eq!(messages[0].to, vec!["prod-oncall@example.com".to_string()]);
    assert_eq!(sent_to(&ledger(&store).await, "prod-oncall@example.com").len(), 3);
}

#[tokio::test]
async fn hostile_names_add_no_header_and_no_line() {
    let world = World::new().await;
    world.emu.set_applications(PROD_TENANT, hostile_applications());
    world.emu.set_applications(TEST_TENANT, vec![]);
    let server = SmtpServer::start();
    let config = world.smtp_config(&server.url());
    let store = world.sync(&config).await;

    // The hostile apps' secrets end on the 15th of each month of 2026: late 2026 has them due.
    let now = DateTime::parse_from_rfc3339("2026-11-01T00:00:00Z").unwrap().with_timezone(&Utc);
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
    let world = World::new().await;
    world.seed();
    let outbox = world.dir.path().join("outbox");
    let config = world.config(&format!(
        "[email]\ntransport = \"file\"\ndir = \"{}\"\nfrom = \"credwatch@example.com\"\nto = [\"ops@example.com\"]\n",
        outbox.display()
    ));
    let store = world.sync(&config).await;
    let report = try_remind(&store, &config, world.now, false).await.unwrap();
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
    let world = World::new().await;
    world.seed();
    let config = world.config("[email]\ntransport = \"none\"\nto = [\"ops@example.com\"]\n");
    let store = world.sync(&config).await;
    let report = try_remind(&store, &config, world.now, false).await.unwrap();
    assert!(report.transport_none && report.succeeded());
    assert!(report.digests.iter().all(|d| d.outcome == DigestOutcome::NotSent));
    assert!(ledger(&store).await.is_empty());
}

/// `credwatch remind` through the real binary: `--dry-run` prints the plan and changes nothing;
/// a real run sends and exits 0; with the server down it exits 1.
#[tokio::test]
async fn the_remind_command() {
    let world = World::new().await;
    world.seed();
    let server = SmtpServer::start();
    let config = world.smtp_config(&server.url());
    world.sync(&config).await;
    let write_config = |smtp: &str| {
        let path = world.dir.path().join("credwatch.toml");
        let text = format!(
            r#"
[database]
url = "{db}"
[email]
url = "{smtp}"
from = "credwatch@example.com"
to = ["ops@example.com"]
[[environments]]
name = "prod"
tenant_id = "{PROD_TENANT}"
client_id = "{CLIENT}"
client_secret_env = "SECRET"
authority_host = "{emu}"
graph_url = "{emu}"
[[environments]]
name = "test"
tenant_id = "{TEST_TENANT}"
client_id = "{CLIENT}"
client_secret_env = "SECRET"
authority_host = "{emu}"
graph_url = "{emu}"
"#,
            db = world.db_url(),
            emu = world.emu.url()
        );
        std::fs::write(&path, text).unwrap();
        path
    };
    let run = |path: &std::path::Path, args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_credwatch"))
            .arg("remind")
            .arg("--config")
            .arg(path)
            .args(args)
            .env("SECRET", SECRET)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let path = write_config(&server.url());
    let now = rfc(world.now);

    let out = run(&path, &["--dry-run", "--now", &now]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("dry run: nothing sent or recorded"), "{stdout}");
    assert!(stdout.contains("Ops") || stdout.contains("ops@example.com"), "{stdout}");
    assert!(stdout.contains("[prod] Payroll API: secret \"ci-deploy\" (abc…)"), "{stdout}");
    assert!(stdout.contains("14-day reminder") && stdout.contains("expiry notice"), "{stdout}");
    assert!(server.take().is_empty(), "a dry run sends nothing");
    let store = Store::connect(&world.db_url()).await.unwrap();
    assert!(ledger(&store).await.is_empty(), "a dry run records nothing");

    // --now in the future shows the plan for that day.
    let future = rfc(world.now + Duration::days(190));
    let stdout = String::from_utf8_lossy(&run(&path, &["--dry-run", "--now", &future]).stdout).into_owned();
    assert!(stdout.contains("\"later\""), "{stdout}");

    let down = write_config(&format!("smtp://127.0.0.1:{}", closed_port()));
    let out = run(&down, &["--now", &now]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAILED"));
    assert!(ledger(&store).await.is_empty());

    let path = write_config(&server.url());
    let out = run(&path, &["--now", &now]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(server.take().len(), 1);
    assert_eq!(sent_to(&ledger(&store).await, "ops@example.com").len(), 4);

    let out = run(&path, &["--now", "yesterday"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--now"));
}

/// `serve` runs reminders on `schedule.remind`: here every second, so the digests arrive soon.
#[tokio::test]
async fn serve_sends_reminders_on_its_schedule() {
    let world = World::new().await;
    world.seed();
    let server = SmtpServer::start();
    let email = format!(
        "[schedule]\nsync = \"\"\nremind = \"* * * * * *\"\n[email]\nurl = \"{}\"\nfrom = \"credwatch@example.com\"\nto = [\"ops@example.com\"]\n",
        server.url()
    );
    let config = world.config(&email);
    world.sync(&config).await;
    let app = credwatch::startup::Application::build(config, Some(std::net::TcpListener::bind("127.0.0.1:0").unwrap()))
        .await
        .unwrap();
    let store = app.store().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut received = Vec::new();
    while received.len() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        received.extend(server.take());
    }
    // A few more scheduled runs: nothing is sent twice.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    received.extend(server.take());
    let _ = stop.send(());
    running.await.unwrap().unwrap();
    assert_eq!(received.len(), 3, "{:?}", received.iter().map(|m| &m.to).collect::<Vec<_>>());
    assert_eq!(sent_to(&ledger(&store).await, "ops@example.com").len(), 4);
}

#[tokio::test]
async fn sigkill_during_a_reminder_run_loses_nothing() {
    let world = World::new().await;
    world.seed();
    let server = SmtpServer::start();
    let recipients = [
        "ops@example.com",
        "a@example.com",
        "b@example.com",
        "c@example.com",
        "d@example.com",
    ];
    let list = recipients.iter().map(|r| format!("\"{r}\"")).collect::<Vec<_>>().join(", ");
    let email = format!(
        "[email]\ntransport = \"smtp\"\nurl = \"{}\"\nfrom = \"credwatch@example.com\"\nto = [{list}]\n",
        server.url()
    );
    let config = world.config(&email);
    world.sync(&config).await;
    let path = world.dir.path().join("credwatch.toml");
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = \"{}\"\n{email}\n[[environments]]\nname = \"prod\"\ntenant_id = \"{PROD_TENANT}\"\nclient_id = \"{CLIENT}\"\nclient_secret_env = \"SECRET\"\nauthority_host = \"{emu}\"\ngraph_url = \"{emu}\"\n[[environments]]\nname = \"test\"\ntenant_id = \"{TEST_TENANT}\"\nclient_id = \"{CLIENT}\"\nclient_secret_env = \"SECRET\"\nauthority_host = \"{emu}\"\ngraph_url = \"{emu}\"\n",
            world.db_url(),
            emu = world.emu.url()
        ),
    )
    .unwrap();
    let remind = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_credwatch"))
            .args(["remind", "--config"])
            .arg(&path)
            .env("SECRET", SECRET)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };

    // A slow server: the run is killed while it is sending, after one or two acceptances.
    server.accept_delay(Some(std::time::Duration::from_millis(400)));
    let mut child = remind();
    let started = std::time::Instant::now();
    while server.count() == 0 {
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "no message accepted");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL, while the next digest is in flight
    let _ = child.wait();
    // A message in flight at the kill may still be accepted by the (slow) server: let it land.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let before_kill = server.take();
    assert!(
        !before_kill.is_empty() && before_kill.len() < recipients.len(),
        "the kill fell mid-run ({} sent)",
        before_kill.len()
    );

    server.accept_delay(None);
    let out = remind().wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let after = server.take();
    for r in recipients {
        let got = SmtpServer::for_recipient(&before_kill, r).len() + SmtpServer::for_recipient(&after, r).len();
        assert!(got >= 1, "{r} never got its digest: a reminder was lost");
        assert!(got <= 2, "{r} got {got} digests");
    }
    // A duplicate is possible only for the message accepted just before the kill, unrecorded.
    let duplicates = recipients
        .iter()
        .filter(|r| SmtpServer::for_recipient(&before_kill, r).len() + SmtpServer::for_recipient(&after, r).len() == 2)
        .count();
    assert!(duplicates <= 1, "{duplicates} recipients got a digest twice");

    // Everything is recorded now: a third run sends nothing.
    let out = remind().wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(server.take().is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    let store = open_store(&config).await.unwrap();
    let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check").fetch_one(store.pool()).await.unwrap();
    assert_eq!(check, "ok");
    let rows = ledger(&store).await;
    for r in recipients {
        assert!(!sent_to(&rows, r).is_empty(), "{r} has no ledger row");
    }
}
