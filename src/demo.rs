//! `credwatch demo`: no config, no Azure account. The built-in Graph emulator plays three tenants
//! (dev, test, prod) of realistic applications; credwatch syncs them through the real pipeline
//! over HTTP, writes reminder e-mails to an outbox folder and serves the dashboard.

use crate::config::Config;
use crate::config::raw::{RawAuth, RawCalendar, RawConfig, RawDatabase, RawEmail, RawEnvironment, RawSchedule, RawServer};
use crate::startup::Application as Service;
use chrono::{Duration, Utc};
use credwatch_emulator::{
    Application, ClientAuth, Emulator, PasswordCredential, TestUser, UsageDenial, generate_applications, generate_sign_ins,
    hostile_applications,
};
use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// The sign-in app of `demo --sign-in`, registered in prod's tenant.
const SIGN_IN_CLIENT: &str = "0d1e2f3a-0000-4000-8000-0000000051c0";
/// The people on the emulator's sign-in page with `demo --sign-in`: one per role, and one without.
const DEMO_USERS: [(&str, &str, Option<&str>); 4] = [
    ("Ada Admin", "ada@demo.invalid", Some("credwatch.admin")),
    ("Otto Operator", "otto@demo.invalid", Some("credwatch.operate")),
    ("Rita Reader", "rita@demo.invalid", Some("credwatch.read")),
    ("Nora No-Role", "nora@demo.invalid", None),
];

/// The simulated environments: name, tenant, credwatch's own client ID, applications, data seed.
const TENANTS: [(&str, &str, &str, usize, u64); 3] = [
    ("dev", "contoso-dev.onmicrosoft.com", "0d1e2f3a-0000-4000-8000-00000000de01", 45, 11),
    (
        "test",
        "contoso-test.onmicrosoft.com",
        "0d1e2f3a-0000-4000-8000-00000000de02",
        60,
        12,
    ),
    ("prod", "contoso.onmicrosoft.com", "0d1e2f3a-0000-4000-8000-00000000de03", 90, 13),
];

/// Where the demo keeps its database and outbox.
pub fn demo_dir() -> PathBuf {
    PathBuf::from("demo")
}

/// A running demo: the emulator and the service built on top of it.
pub struct Demo {
    pub emulator: Emulator,
    pub service: Service,
    pub config: Config,
    pub outbox: PathBuf,
    pub calendar_token: String,
}

impl Demo {
    /// Starts the emulator, syncs every simulated environment, sends the due reminders to the
    /// outbox, and builds the service on `listen`. The dashboard is populated when this returns.
    /// With `sign_in`, the dashboard asks for a sign-in (`mode = "oidc"`) against the emulator,
    /// whose sign-in page lists [`DEMO_USERS`].
    pub async fn start(listen: &str, dir: &Path, sign_in: bool) -> anyhow::Result<Demo> {
        let listener = TcpListener::bind(listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}; pass --listen 127.0.0.1:PORT with a free port"))?;
        let addr = listener.local_addr()?;
        fresh_dir(dir)?;
        let emulator = Emulator::start().await?;
        let now = Utc::now();
        let mut secrets = HashMap::new();
        for (i, (name, tenant, client, count, seed)) in TENANTS.iter().enumerate() {
            let secret = format!("demo-{name}-{}", uuid::Uuid::new_v4().simple());
            emulator.add_tenant(tenant);
            emulator.register_client(
                tenant,
                client,
                ClientAuth::Secret {
                    value: secret.clone(),
                    expired: false,
                },
            );
            let mut apps = generate_applications(*seed, *count, now);
            // credwatch's own registration is listed too, so the dashboard can warn before the
            // monitor's own secret expires (in prod, soon).
            apps.push(own_registration(client, now + Duration::days([200, 95, 12][i])));
            if *name == "dev" {
                apps.extend(hostile_applications());
            }
            // Usage: test and prod have the licence and sign-ins (generated ones, and in prod one
            // of each case); dev has no Entra ID P1/P2, so its usage is unknown.
            let (credentials, applications) = generate_sign_ins(*seed, &apps, now);
            if *name == "prod" {
                apps.extend(usage_cases(now));
            }
            emulator.set_applications(tenant, apps);
            emulator.set_credential_sign_ins(tenant, credentials);
            emulator.set_app_sign_ins(tenant, applications);
            if *name == "prod" {
                for (key, ago) in USAGE_SIGN_INS {
                    emulator.record_sign_in(tenant, key, &stamp(now - ago));
                }
            }
            if *name == "dev" {
                emulator.deny_usage(tenant, Some(UsageDenial::NoLicense));
            }
            secrets.insert(format!("DEMO_{}_SECRET", name.to_uppercase()), secret);
        }
        if sign_in {
            let (_, prod_tenant, ..) = TENANTS[2];
            let secret = format!("demo-sign-in-{}", uuid::Uuid::new_v4().simple());
            emulator.register_client(
                prod_tenant,
                SIGN_IN_CLIENT,
                ClientAuth::Secret {
                    value: secret.clone(),
                    expired: false,
                },
            );
            for (i, (name, username, role)) in DEMO_USERS.iter().enumerate() {
                emulator.add_user(
                    prod_tenant,
                    TestUser {
                        oid: format!("de5e0000-0000-4000-8000-{i:012}"),
                        username: username.to_string(),
                        name: name.to_string(),
                        roles: role.iter().map(|r| r.to_string()).collect(),
                    },
                );
            }
            emulator.add_redirect_uri(prod_tenant, SIGN_IN_CLIENT, &format!("http://{addr}/auth/callback"));
            secrets.insert("DEMO_SIGN_IN_SECRET".into(), secret);
        }
        let calendar_token = uuid::Uuid::new_v4().simple().to_string();
        secrets.insert("DEMO_CALENDAR_TOKEN".into(), calendar_token.clone());
        let outbox = dir.join("outbox");
        // Through TOML text, so the demo's config takes the path of any user's file.
        let mut raw = demo_config(&emulator.url(), &addr.to_string(), dir, &outbox);
        if sign_in {
            raw.server.auth = Some(RawAuth {
                mode: Some("oidc".into()),
                tenant_id: Some(TENANTS[2].1.to_string()),
                client_id: Some(SIGN_IN_CLIENT.into()),
                client_secret_env: Some("DEMO_SIGN_IN_SECRET".into()),
                authority_host: Some(emulator.url()),
                ..Default::default()
            });
        }
        let text = toml::to_string(&raw)?;
        let config = Config::from_toml(&text, None, &|k| secrets.get(k).cloned()).map_err(|e| anyhow::anyhow!("demo config: {e}"))?;

        let service = Service::build(config.clone(), Some(listener)).await?;
        let syncer = crate::sync::Syncer::new(&config, service.store().clone());
        for report in syncer.sync_all(None, &CancellationToken::new(), |_| {}).await {
            println!("  synced {report}");
        }
        let reminders = crate::reminders::try_remind(service.store(), &config, Utc::now(), false).await?;
        println!("  reminders: {} message(s) written to the outbox", reminders.sent());
        Ok(Demo {
            emulator,
            service,
            config,
            outbox,
            calendar_token,
        })
    }
}

/// The demo's config: emulator URLs for every environment, file transport into the outbox.
fn demo_config(emulator: &str, listen: &str, dir: &Path, outbox: &Path) -> RawConfig {
    RawConfig {
        server: RawServer {
            listen: Some(listen.to_string()),
            public_url: Some(format!("http://{listen}")),
            ..Default::default()
        },
        database: RawDatabase {
            url: Some(format!("sqlite://{}", dir.join("credwatch.db").display())),
        },
        schedule: RawSchedule {
            sync: Some("0 */10 * * * *".into()),
            ..Default::default()
        },
        email: Some(RawEmail {
            transport: Some("file".into()),
            dir: Some(outbox.to_path_buf()),
            from: Some("credwatch demo <credwatch@demo.invalid>".into()),
            to: vec!["ops@demo.invalid".into()],
            ..Default::default()
        }),
        calendar: RawCalendar {
            token_env: Some("DEMO_CALENDAR_TOKEN".into()),
            ..Default::default()
        },
        environments: TENANTS
            .iter()
            .map(|(name, tenant, client, _, _)| RawEnvironment {
                name: Some(name.to_string()),
                tenant_id: Some(tenant.to_string()),
                client_id: Some(client.to_string()),
                client_secret_env: Some(format!("DEMO_{}_SECRET", name.to_uppercase())),
                authority_host: Some(emulator.to_string()),
                graph_url: Some(emulator.to_string()),
                notify: vec![format!("{name}-oncall@demo.invalid")],
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// Key ids of the demo's usage cases in prod.
const INCIDENT: &str = "de110000-0000-4000-8000-000000000001";
const ROTATED_OLD: &str = "de110000-0000-4000-8000-000000000002";
const ROTATED_NEW: &str = "de110000-0000-4000-8000-000000000003";
const ROTATING_OLD: &str = "de110000-0000-4000-8000-000000000004";
const ROTATING_NEW: &str = "de110000-0000-4000-8000-000000000005";
const NEVER_USED: &str = "de110000-0000-4000-8000-000000000006";

/// Sign-ins of the usage cases: key id and how long ago.
const USAGE_SIGN_INS: [(&str, Duration); 5] = [
    // Expired two days ago, used the day before: an app probably fails now.
    (INCIDENT, Duration::days(3)),
    // The new secret took over 20 days ago; the old one was last used before that.
    (ROTATED_OLD, Duration::days(25)),
    (ROTATED_NEW, Duration::hours(1)),
    // Both in use: something still signs in with the old one.
    (ROTATING_OLD, Duration::hours(5)),
    (ROTATING_NEW, Duration::hours(2)),
];

/// prod's applications that show every usage case: an incident, a rotation complete, one in
/// progress, and a secret never used that expires soon (delete instead of rotating).
fn usage_cases(now: chrono::DateTime<Utc>) -> Vec<Application> {
    let secret = |key: &str, name: &str, start: Duration, end: Duration| PasswordCredential {
        key_id: key.into(),
        display_name: Some(name.into()),
        hint: Some("Xy7".into()),
        start_date_time: Some(stamp(now + start)),
        end_date_time: Some(stamp(now + end)),
        custom_key_identifier: None,
    };
    let app = |n: u32, name: &str, secrets: Vec<PasswordCredential>| Application {
        id: format!("de11{n:04}-0000-4000-8000-0000000000a0"),
        app_id: format!("de11{n:04}-0000-4000-8000-0000000000b0"),
        display_name: Some(name.into()),
        password_credentials: secrets,
        ..Default::default()
    };
    vec![
        app(
            1,
            "orders-api",
            vec![secret(INCIDENT, "orders-api prod", Duration::days(-367), Duration::days(-2))],
        ),
        app(
            2,
            "billing-worker",
            vec![
                secret(ROTATED_OLD, "billing 2025", Duration::days(-360), Duration::days(5)),
                secret(ROTATED_NEW, "billing 2026", Duration::days(-20), Duration::days(700)),
            ],
        ),
        app(
            3,
            "shipping-gateway",
            vec![
                secret(ROTATING_OLD, "gateway 2025", Duration::days(-350), Duration::days(9)),
                secret(ROTATING_NEW, "gateway 2026", Duration::days(-6), Duration::days(720)),
            ],
        ),
        app(
            4,
            "legacy-export",
            vec![secret(NEVER_USED, "export job", Duration::days(-700), Duration::days(10))],
        ),
    ]
}

/// An instant as Graph writes it: whole seconds, `Z`.
fn stamp(t: chrono::DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn own_registration(client_id: &str, end: chrono::DateTime<Utc>) -> Application {
    Application {
        id: uuid::Uuid::new_v4().to_string(),
        app_id: client_id.to_string(),
        display_name: Some("credwatch".into()),
        password_credentials: vec![PasswordCredential {
            key_id: uuid::Uuid::new_v4().to_string(),
            display_name: Some("credwatch sign-in".into()),
            hint: Some("Cw7".into()),
            start_date_time: Some((end - Duration::days(365)).format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            end_date_time: Some(end.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            custom_key_identifier: None,
        }],
        ..Default::default()
    }
}

/// Each demo starts from scratch: the previous demo's database and outbox go.
fn fresh_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir.join("outbox"))?;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.starts_with("credwatch.db") {
            std::fs::remove_file(&path)?;
        }
    }
    for entry in std::fs::read_dir(dir.join("outbox"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "eml") {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}
