//! Reminders beyond the configured recipients: application owners, contacts named in an app's
//! notes, and webhooks (a real HTTP receiver that can answer 500), with the ledger proving no
//! duplicate across channels and restarts.

use crate::support::config::{Email, Reminders, Webhook};
use crate::support::graph::{AppBuilder, app, days, now, secret_between, user};
use crate::support::smtp::SmtpServer;
use crate::support::webhook::Receiver;
use crate::support::{CLIENT, PROD_TENANT, World};
use chrono::Duration;
use credwatch::reminders::{DigestOutcome, try_remind};

const HOOK_SECRET_PATH: &str = "/hooks/secret-signature-abc";

#[tokio::test]
async fn reminders_reach_owners_note_contacts_and_webhooks_once_across_restarts() {
    let mut w = World::new().await;
    w.tenant("prod", PROD_TENANT, CLIENT);
    w.file.reminders = Some(Reminders::ladder(&[30, 14, 7]));
    let now = now();
    w.emu.set_applications(
        PROD_TENANT,
        vec![
            app(1, "Payroll [API](https://evil.example) *x*")
                .secrets(vec![secret_between("k-pay", "ci", now - days(100), now + days(10))])
                .owners(vec![user("u1", "Alice", Some("alice@example.com")), user("u2", "No Mail", None)])
                .notes("Team payroll\ncredwatch-notify: team-pay@example.com, not an address, evil@example.com\r\nBcc: x@example.com"),
            app(2, "Quiet")
                .secrets(vec![secret_between("k-quiet", "q", now - days(100), now + days(12))])
                .owners(vec![user("u3", "Bob", Some("bob@example.com"))]),
        ],
    );
    let smtp = SmtpServer::start();
    let hooks = Receiver::start().await;
    w.file.email = Some(Email::smtp(&smtp.url(), &["ops@example.com"]));
    w.file.webhooks = vec![
        Webhook {
            name: Some("teams".into()),
            kind: Some("teams".into()),
            url_env: Some("TEAMS_URL".into()),
            ..Webhook::default()
        },
        Webhook {
            name: Some("siem".into()),
            kind: Some("json".into()),
            url_env: Some("JSON_URL".into()),
            ..Webhook::default()
        },
    ];
    w.vars.insert("TEAMS_URL".into(), hooks.url(&format!("{HOOK_SECRET_PATH}/teams")));
    w.vars.insert("JSON_URL".into(), hooks.url("/json"));
    w.file.environment("prod").notify_owners = Some(true);
    let config = w.config();
    let store = w.sync_with(&config).await;

    // The Teams webhook fails the first time: its reminders stay due, the others are recorded.
    hooks.answer(500);
    let report = try_remind(&store, &config, now, false).await.unwrap();
    assert!(!report.succeeded(), "{report}");
    let failed: Vec<&str> = report
        .digests
        .iter()
        .filter(|d| matches!(d.outcome, DigestOutcome::Failed(_)))
        .map(|d| d.recipient.as_str())
        .collect();
    assert_eq!(failed, vec!["webhook siem", "webhook teams"]);
    assert!(
        !format!("{report}").contains("secret-signature"),
        "the webhook URL is a secret: {report}"
    );
    let received = smtp.take();
    let mut to: Vec<String> = received.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(
        to,
        vec![
            "alice@example.com",
            "bob@example.com",
            "evil@example.com",
            "ops@example.com",
            "team-pay@example.com"
        ]
    );
    assert_eq!(hooks.take().len(), 2);

    // Next run (a new process: a fresh store handle): only the webhooks get theirs.
    hooks.answer(200);
    let store = w.store(&config).await;
    let report = try_remind(&store, &config, now + Duration::hours(1), false).await.unwrap();
    assert!(report.succeeded(), "{report}");
    assert_eq!(smtp.count(), 0, "no e-mail twice");
    let bodies = hooks.take();
    assert_eq!(bodies.len(), 2);
    let teams = &bodies.iter().find(|(p, _)| p.ends_with("/teams")).unwrap().1;
    assert_eq!(teams["type"], "message");
    let card = &teams["attachments"][0];
    assert_eq!(card["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(card["content"]["type"], "AdaptiveCard");
    let texts: Vec<String> = card["content"]["body"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["text"].as_str().map(str::to_string))
        .collect();
    let hostile = texts.iter().find(|t| t.contains("Payroll")).unwrap();
    assert!(
        hostile.contains("\\[API\\]\\(https://evil\\.example\\) \\*x\\*"),
        "markdown escaped: {hostile}"
    );
    let json = &bodies.iter().find(|(p, _)| p == "/json").unwrap().1;
    let reminders = json["reminders"].as_array().unwrap();
    assert_eq!(reminders.len(), 2);
    assert_eq!(reminders[0]["app_display_name"], "Payroll [API](https://evil.example) *x*");
    assert_eq!(reminders[0]["rung"], 14);
    assert_eq!(reminders[0]["action"], "rotate");

    // The ledger: one row per (credential, rung, recipient), nothing more on a third run.
    let report = try_remind(&store, &config, now + Duration::hours(2), false).await.unwrap();
    assert!(report.digests.is_empty(), "{report}");
    let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM reminders WHERE outcome = 'sent'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    // k-pay: ops, alice, team-pay, evil, 2 webhooks = 6; k-quiet: ops, bob, 2 webhooks = 4.
    assert_eq!(rows, 10);
    let (dupes,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM (SELECT credential_id, rung, recipient FROM reminders GROUP BY 1, 2, 3 HAVING count(*) > 1)")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(dupes, 0);
}
