//! Realistic data for the web tests, the browser check and the page benchmark: three
//! environments served by the Graph emulator (dev; prod with hostile names and credwatch's own
//! app; test, whose second sync fails), synced through the real `Syncer`.

use super::config::{Calendar, Email};
use super::emu::{Application, PasswordCredential, generate_applications, hostile_applications};
use super::{World, graph};
use chrono::Utc;
use credwatch::config::Config;
use credwatch::store::Store;
use credwatch::sync::Syncer;
use tokio_util::sync::CancellationToken;

pub const CALENDAR_TOKEN: &str = "cal token/with+chars";
pub const PROD_CLIENT: &str = "c0ffee00-0000-4000-8000-000000000003";
pub const ENVIRONMENTS: [(&str, &str, &str); 3] = [
    ("dev", "tenant-dev", "c0ffee00-0000-4000-8000-000000000001"),
    ("prod", "tenant-prod", PROD_CLIENT),
    ("test", "tenant-test", "c0ffee00-0000-4000-8000-000000000002"),
];

/// credwatch's own app registration in prod, with a secret expiring in 5 days.
pub fn own_application() -> Application {
    let end = Utc::now() + graph::days(5) + chrono::Duration::hours(3);
    Application {
        id: "0b0b0b0b-0000-4000-8000-00000000c0de".into(),
        app_id: PROD_CLIENT.into(),
        display_name: Some("credwatch (prod)".into()),
        password_credentials: vec![PasswordCredential {
            hint: Some("Qx7".into()),
            start_date_time: Some("2025-01-01T00:00:00Z".into()),
            ..graph::secret("5ec7e700-0000-4000-8000-000000000001", "credwatch-2025", end)
        }],
        ..Default::default()
    }
}

/// Adds the three environments to `w`: `apps` generated applications in each, hostile ones and
/// credwatch's own in prod; one attempt per request (so a failure shows at once), the calendar
/// token set, no e-mail.
pub fn three_environments(w: &mut World, apps: usize) {
    let now = Utc::now();
    for (i, (name, tenant, client)) in ENVIRONMENTS.iter().enumerate() {
        w.tenant(name, tenant, client);
        let mut listed = generate_applications(100 + i as u64, apps, now);
        if *tenant == "tenant-prod" {
            listed.extend(hostile_applications());
            listed.push(own_application());
        }
        w.emu.set_applications(tenant, listed);
    }
    w.vars.insert("CAL_TOKEN".into(), CALENDAR_TOKEN.into());
    w.file.calendar = Some(Calendar {
        token_env: Some("CAL_TOKEN".into()),
        ..Calendar::default()
    });
    w.file.email = Some(Email {
        transport: Some("none".into()),
        ..Email::default()
    });
    w.file.sync().max_attempts = Some(1);
    w.file.sync().request_timeout_secs = Some(10);
}

/// Syncs every environment once, then `test` again while the emulator fails, so `test` shows a
/// failing state with its data from the first sync.
pub async fn sync(w: &World, config: &Config, store: &Store) {
    let syncer = Syncer::new(config, store.clone());
    let cancel = CancellationToken::new();
    let reports = syncer.sync_all(None, &cancel, |_| {}).await;
    for r in &reports {
        assert!(r.succeeded(), "{r}");
    }
    w.emu.fail_requests(50, 503);
    let reports = syncer.sync_all(Some("test"), &cancel, |_| {}).await;
    assert!(!reports[0].succeeded(), "the second sync of test was meant to fail");
    w.emu.fail_requests(0, 503);
}

/// The app over the three environments with `apps` generated applications each; `synced` runs
/// [`sync`] first (dev and prod fine, test failing on its second sync).
pub async fn serve(apps: usize, synced: bool) -> (World, super::app::TestApp) {
    let mut w = World::new().await;
    three_environments(&mut w, apps);
    let app = super::app::TestApp::start(w.config()).await;
    if synced {
        sync(&w, &app.config, &app.store).await;
    }
    (w, app)
}
