//! A credwatch with realistic data for the web tests, the browser check and the page benchmark:
//! three environments served by the Graph emulator (dev, prod with hostile names and credwatch's
//! own app, test whose second sync fails), synced through the real `Syncer`.
#![allow(dead_code)]

use chrono::Utc;
use credwatch::config::Config;
use credwatch_emulator::{Application, ClientAuth, Emulator, PasswordCredential, generate_applications, hostile_applications};
use credwatch::store::Store;
use credwatch::sync::Syncer;
use tokio_util::sync::CancellationToken;

pub const SECRET: &str = "emulated-secret-value";
pub const CALENDAR_TOKEN: &str = "cal token/with+chars";
pub const PROD_CLIENT: &str = "c0ffee00-0000-4000-8000-000000000003";
pub const ENVIRONMENTS: [(&str, &str, &str); 3] = [
    ("dev", "tenant-dev", "c0ffee00-0000-4000-8000-000000000001"),
    ("prod", "tenant-prod", PROD_CLIENT),
    ("test", "tenant-test", "c0ffee00-0000-4000-8000-000000000002"),
];

/// The config of the three environments, pointing at `emulator_url`, with syncing and
/// reminders left to the caller.
pub fn config(emulator_url: &str, database_url: &str, listen: &str) -> Config {
    let mut text = format!(
        r#"
[server]
listen = "{listen}"
public_url = "https://credwatch.example.com/"
[database]
url = "{database_url}"
[schedule]
sync = ""
remind = ""
[email]
transport = "none"
[calendar]
token_env = "CAL_TOKEN"
[sync]
max_attempts = 1
request_timeout_secs = 10
"#
    );
    for (name, tenant, client) in ENVIRONMENTS {
        text.push_str(&format!(
            "[[environments]]\nname = \"{name}\"\ntenant_id = \"{tenant}\"\nclient_id = \"{client}\"\nclient_secret_env = \"SECRET\"\nauthority_host = \"{emulator_url}\"\ngraph_url = \"{emulator_url}\"\n"
        ));
    }
    let lookup = |k: &str| match k {
        "SECRET" => Some(SECRET.to_string()),
        "CAL_TOKEN" => Some(CALENDAR_TOKEN.to_string()),
        _ => None,
    };
    Config::from_toml(&text, None, &lookup).expect("the fixture's config is valid")
}

/// credwatch's own app registration in prod, with a secret expiring in 5 days.
pub fn own_application() -> Application {
    let end = Utc::now() + chrono::Duration::days(5) + chrono::Duration::hours(3);
    Application {
        id: "0b0b0b0b-0000-4000-8000-00000000c0de".into(),
        app_id: PROD_CLIENT.into(),
        display_name: Some("credwatch (prod)".into()),
        password_credentials: vec![PasswordCredential {
            key_id: "5ec7e700-0000-4000-8000-000000000001".into(),
            display_name: Some("credwatch-2025".into()),
            hint: Some("Qx7".into()),
            start_date_time: Some("2025-01-01T00:00:00Z".into()),
            end_date_time: Some(end.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            custom_key_identifier: None,
        }],
        ..Default::default()
    }
}

/// Starts the emulator with the three tenants: `apps` generated applications in each, hostile ones
/// and credwatch's own in prod.
pub async fn emulator(apps: usize) -> anyhow::Result<Emulator> {
    let emu = Emulator::start().await?;
    let now = Utc::now();
    for (i, (_, tenant, client)) in ENVIRONMENTS.iter().enumerate() {
        emu.add_tenant(tenant);
        emu.register_client(
            tenant,
            client,
            ClientAuth::Secret {
                value: SECRET.into(),
                expired: false,
            },
        );
        let mut listed = generate_applications(100 + i as u64, apps, now);
        if *tenant == "tenant-prod" {
            listed.extend(hostile_applications());
            listed.push(own_application());
        }
        emu.set_applications(tenant, listed);
    }
    Ok(emu)
}

/// Syncs every environment once, then `test` again while the emulator fails, so `test` shows a
/// failing state with its data from the first sync.
pub async fn sync(config: &Config, store: &Store, emu: &Emulator) {
    let syncer = Syncer::new(config, store.clone());
    let cancel = CancellationToken::new();
    let reports = syncer.sync_all(None, &cancel, |_| {}).await;
    for r in &reports {
        assert!(r.succeeded(), "{r}");
    }
    emu.fail_requests(50, 503);
    let reports = syncer.sync_all(Some("test"), &cancel, |_| {}).await;
    assert!(!reports[0].succeeded(), "the second sync of test was meant to fail");
    emu.fail_requests(0, 503);
}
