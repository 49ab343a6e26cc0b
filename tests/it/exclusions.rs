//! Exclusions silence reminders for the credentials they match, until their date; built-in ones
//! can be turned off. Credentials already rotated say "remove the old one" instead.

use crate::support::config::{Email, Exclusion, Reminders};
use crate::support::graph::{AppBuilder, app, days, now, secret_between};
use crate::support::smtp::SmtpServer;
use crate::support::{CLIENT, PROD_TENANT, World};
use chrono::{DateTime, Duration, Utc};
use credwatch::reminders::try_remind;
use credwatch::store::CredentialFilter;

#[tokio::test]
async fn exclusions_silence_and_superseded_credentials_say_remove() {
    let mut w = World::new().await;
    w.tenant("prod", PROD_TENANT, CLIENT);
    w.file.reminders = Some(Reminders::ladder(&[30, 14, 7]));
    let now = now();
    w.emu.set_applications(
        PROD_TENANT,
        vec![
            app(1, "Rotated").secrets(vec![
                secret_between("k-old", "old", now - days(700), now + days(10)),
                secret_between("k-new", "new", now - days(3), now + days(360)),
            ]),
            app(2, "legacy-batch-dev").secrets(vec![secret_between("k-legacy", "x", now - days(100), now + days(10))]),
            app(3, "Proxy app").secrets(vec![secret_between("k-cwap", "CWAP_AuthSecret", now - days(100), now + days(10))]),
            app(4, "Lapsed exclusion").secrets(vec![secret_between("k-lapsed", "y", now - days(100), now + days(10))]),
        ],
    );
    let smtp = SmtpServer::start();
    w.file.email = Some(Email::smtp(&smtp.url(), &["ops@example.com"]));
    let date = |t: DateTime<Utc>| t.format("%Y-%m-%d").to_string().parse().expect("a TOML date");
    w.file.exclusions = vec![
        Exclusion {
            name: Some("legacy".into()),
            app_name: Some("*-DEV".into()),
            reason: Some("decommissioned in Q3".into()),
            until: Some(date(now + days(30))),
            ..Exclusion::default()
        },
        Exclusion {
            app_name: Some("Lapsed*".into()),
            reason: Some("was fine last year".into()),
            until: Some(date(now - days(1))),
            ..Exclusion::default()
        },
    ];
    let config = w.config();
    let store = w.sync_with(&config).await;
    // The new secret was first seen two days ago: long enough to count as deployed.
    sqlx::query("UPDATE credentials SET first_seen_at = first_seen_at - ?")
        .bind(2 * credwatch::domain::Timestamp::TICKS_PER_DAY)
        .execute(store.pool())
        .await
        .unwrap();

    let report = try_remind(&store, &config, now, false).await.unwrap();
    assert!(report.succeeded(), "{report}");
    let lines = report.digests[0].lines.join("\n");
    assert!(lines.contains("Rotated") && lines.contains("Lapsed exclusion"), "{lines}");
    assert!(
        !lines.contains("legacy-batch-dev") && !lines.contains("Proxy app"),
        "excluded credentials get no reminder: {lines}"
    );
    let text = smtp.take()[0].text();
    assert!(
        text.contains("already rotated: remove the old secret once nothing uses it"),
        "{text}"
    );
    assert!(text.contains("replaced by: \"new\""), "{text}");
    // Nothing is recorded for excluded credentials: they would be reminded once the rule lapses.
    let creds = store.credentials(&CredentialFilter::default()).await.unwrap();
    let legacy = creds.iter().find(|c| c.key_id == "k-legacy").unwrap();
    assert!(store.reminders_of(legacy.id).await.unwrap().is_empty());
    let rule = config.exclusions.find(legacy, now.into()).unwrap();
    assert_eq!((rule.name.as_str(), rule.reason.as_str()), ("legacy", "decommissioned in Q3"));
    assert!(
        config.exclusions.find(legacy, (now + days(31)).into()).is_none(),
        "the rule stops applying after its date"
    );
    let cwap = creds.iter().find(|c| c.key_id == "k-cwap").unwrap();
    assert_eq!(config.exclusions.find(cwap, now.into()).unwrap().name, "application-proxy");

    // Built-ins are overridable: turned off, the proxy secret is reminded.
    let mut config2 = w.config();
    config2.exclusions.rules.retain(|r| !r.builtin);
    let report = try_remind(&store, &config2, now + Duration::hours(1), true).await.unwrap();
    assert!(report.digests[0].lines.join("\n").contains("Proxy app"));
}
