//! Issue 8 end to end against the emulator: owners (expanded, and read in full past Graph's 20),
//! enterprise applications with a SAML triple counted once, note contacts, exclusions, rotation
//! awareness, findings, and webhooks (a real HTTP receiver that can answer 500), with the ledger
//! proving no duplicate across channels and restarts.

#[path = "common/smtp.rs"]
mod smtp;

use actix_web::{App, HttpResponse, HttpServer, web};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use credwatch::config::Config;
use credwatch_emulator::{Application, ClientAuth, DirectoryObject, Emulator, PasswordCredential, ServicePrincipal};
use credwatch::reminders::{DigestOutcome, try_remind};
use credwatch::startup::open_store;
use credwatch::store::{CredentialFilter, Store};
use credwatch::sync::Syncer;
use serde_json::Value;
use smtp::SmtpServer;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

const TENANT: &str = "11111111-1111-4111-8111-111111111111";
const CLIENT: &str = "cccccccc-cccc-4ccc-8ccc-cccccccccccc";
const SECRET: &str = "emulator-secret";
const HOOK_SECRET_PATH: &str = "/hooks/secret-signature-abc";

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn secret(key: &str, name: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> PasswordCredential {
    PasswordCredential {
        key_id: key.into(),
        display_name: Some(name.into()),
        hint: Some("abc".into()),
        start_date_time: Some(rfc(start)),
        end_date_time: Some(rfc(end)),
        custom_key_identifier: None,
    }
}

fn app(n: u32, name: &str, secrets: Vec<PasswordCredential>, owners: Vec<DirectoryObject>, notes: Option<&str>) -> Application {
    Application {
        id: format!("0000{n:04}-0000-4000-8000-000000000000"),
        app_id: format!("aaaa{n:04}-0000-4000-8000-000000000000"),
        display_name: Some(name.into()),
        password_credentials: secrets,
        owners,
        notes: notes.map(str::to_string),
        ..Default::default()
    }
}

/// A webhook receiver on 127.0.0.1:0: records every body, answers `status`.
#[derive(Clone)]
struct Receiver {
    bodies: Arc<Mutex<Vec<(String, Value)>>>,
    status: Arc<Mutex<u16>>,
    port: u16,
}

impl Receiver {
    async fn start() -> Receiver {
        let bodies: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let status = Arc::new(Mutex::new(200u16));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (b, s) = (bodies.clone(), status.clone());
        let server = HttpServer::new(move || {
            let (b, s) = (b.clone(), s.clone());
            App::new().default_service(web::to(move |req: actix_web::HttpRequest, body: web::Bytes| {
                let (b, s) = (b.clone(), s.clone());
                async move {
                    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    b.lock().unwrap().push((req.path().to_string(), json));
                    let code = *s.lock().unwrap();
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap()).finish()
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Receiver { bodies, status, port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn take(&self) -> Vec<(String, Value)> {
        std::mem::take(&mut *self.bodies.lock().unwrap())
    }
}

struct World {
    emu: Emulator,
    dir: tempfile::TempDir,
    now: DateTime<Utc>,
}

impl World {
    async fn new() -> World {
        let emu = Emulator::start().await.unwrap();
        emu.add_tenant(TENANT);
        emu.register_client(
            TENANT,
            CLIENT,
            ClientAuth::Secret {
                value: SECRET.into(),
                expired: false,
            },
        );
        let now = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
        World {
            emu,
            dir: tempfile::tempdir().unwrap(),
            now,
        }
    }

    fn config(&self, extra: &str, env_extra: &str, vars: &[(&str, String)]) -> Config {
        let text = format!(
            r#"
[server]
public_url = "https://credwatch.example.com/"
[database]
url = "sqlite://{db}"
[reminders]
days_before = [30, 14, 7]
expired_notice = true
{extra}
[[environments]]
name = "prod"
tenant_id = "{TENANT}"
client_id = "{CLIENT}"
client_secret_env = "SECRET"
authority_host = "{emu}"
graph_url = "{emu}"
{env_extra}
"#,
            db = self.dir.path().join("credwatch.db").display(),
            emu = self.emu.url(),
        );
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        Config::from_toml(&text, None, &move |k| {
            if k == "SECRET" {
                return Some(SECRET.to_string());
            }
            vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
        .unwrap()
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

fn many_owners(n: usize) -> Vec<DirectoryObject> {
    (0..n)
        .map(|i| {
            DirectoryObject::user(
                &format!("user-{i:02}"),
                &format!("Owner {i}"),
                Some(&format!("owner{i}@example.com")),
            )
        })
        .collect()
}

fn saml_sp(now: DateTime<Utc>) -> ServicePrincipal {
    let mut sp = ServicePrincipal {
        id: "sp-saml-0001".into(),
        app_id: "bbbb0001-0000-4000-8000-000000000000".into(),
        display_name: Some("Salesforce [SSO](https://evil.example) **now**".into()),
        service_principal_type: Some("Application".into()),
        owners: vec![DirectoryObject::user("u-sso", "SSO Admin", Some("sso-admin@example.com"))],
        ..Default::default()
    };
    sp.add_saml_certificate(
        "k-saml-sign",
        "k-saml-verify",
        "2iD8ppbE+D6Kmu1ZvjM2jtQh88E=",
        &rfc(now - Duration::days(1000)),
        &rfc(now + Duration::days(10)),
    );
    sp
}

#[tokio::test]
async fn owners_enterprise_apps_and_saml_certificates_sync_once() {
    let w = World::new().await;
    let now = w.now;
    let mut apps = vec![
        app(
            1,
            "Payroll API",
            vec![secret("k-pay", "ci", now - Duration::days(100), now + Duration::days(10))],
            many_owners(25),
            None,
        ),
        app(
            2,
            "Orphan",
            vec![secret("k-orphan", "x", now - Duration::days(100), now + Duration::days(100))],
            vec![],
            None,
        ),
    ];
    apps[0].owners.push(DirectoryObject::service_principal(
        "sp-owner",
        "Deploy bot",
        "dddd0000-0000-4000-8000-000000000000",
    ));
    w.emu.set_applications(TENANT, apps);
    let managed = ServicePrincipal {
        id: "sp-mi".into(),
        app_id: "mi-app".into(),
        service_principal_type: Some("ManagedIdentity".into()),
        key_credentials: vec![credwatch_emulator::KeyCredential {
            key_id: "k-mi".into(),
            end_date_time: Some(rfc(now + Duration::days(5))),
            r#type: "AsymmetricX509Cert".into(),
            usage: "Verify".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let empty = ServicePrincipal {
        id: "sp-ms".into(),
        app_id: "00000003-0000-0000-c000-000000000000".into(),
        display_name: Some("Microsoft Graph".into()),
        ..Default::default()
    };
    w.emu.set_service_principals(TENANT, vec![saml_sp(now), managed, empty]);

    let config = w.config("", "include_service_principals = true", &[]);
    let store = w.sync(&config).await;
    let creds = store.credentials(&CredentialFilter::default()).await.unwrap();
    let mut ids: Vec<(String, String, String)> = creds
        .iter()
        .map(|c| (c.key_id.clone(), c.kind.to_string(), c.app_source.as_str().to_string()))
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        vec![
            ("k-orphan".into(), "secret".into(), "application".into()),
            ("k-pay".into(), "secret".into(), "application".into()),
            ("k-saml-sign".into(), "certificate".into(), "service_principal".into()),
        ],
        "the SAML Sign/Verify/password triple is one certificate; the managed identity and the credential-less SP are left out"
    );
    let saml = creds.iter().find(|c| c.key_id == "k-saml-sign").unwrap();
    assert!(
        saml.portal_link()
            .contains("ManagedAppMenuBlade/~/SignOnV2/objectId/sp-saml-0001/appId/bbbb0001"),
        "{}",
        saml.portal_link()
    );

    // Owners: expanded with the listing; the app showing Graph's 20 had its full list read.
    let pay = creds.iter().find(|c| c.key_id == "k-pay").unwrap();
    let owners = pay.app_owners.clone().unwrap();
    assert_eq!(owners.len(), 26);
    assert!(
        owners
            .iter()
            .any(|o| o.kind == "servicePrincipal" && o.app_id.as_deref() == Some("dddd0000-0000-4000-8000-000000000000"))
    );
    assert_eq!(creds.iter().find(|c| c.key_id == "k-orphan").unwrap().app_owners, Some(vec![]));
    let requests = w.emu.requests();
    let owner_calls: Vec<&str> = requests
        .iter()
        .filter(|r| r.path.ends_with("/owners"))
        .map(|r| r.path.as_str())
        .collect();
    assert_eq!(
        owner_calls,
        vec!["/v1.0/applications/00000001-0000-4000-8000-000000000000/owners"],
        "one extra call, for the app past 20 owners only"
    );
    assert!(
        requests
            .iter()
            .filter(|r| r.path == "/v1.0/applications" || r.path == "/v1.0/servicePrincipals")
            .all(|r| r.query.contains("expand") && r.status == 200)
    );

    // Findings: no owner, and the SAML certificate valid for > 24 months.
    let findings = credwatch::domain::findings(&creds, now.into());
    let kinds: Vec<(&str, String)> = findings.iter().map(|f| (f.kind.as_str(), f.app_id.clone())).collect();
    assert!(
        kinds.contains(&("no_owner", "aaaa0002-0000-4000-8000-000000000000".into())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("long_lived", "bbbb0001-0000-4000-8000-000000000000".into())),
        "{kinds:?}"
    );

    // A second sync changes nothing.
    let reports = Syncer::new(&config, store.clone())
        .sync_all(None, &CancellationToken::new(), |_| {})
        .await;
    let c = reports[0].result.as_ref().unwrap();
    assert_eq!((c.added, c.removed), (0, 0));
}

#[tokio::test]
async fn reminders_reach_owners_note_contacts_and_webhooks_once_across_restarts() {
    let w = World::new().await;
    let now = w.now;
    w.emu.set_applications(
        TENANT,
        vec![
            app(
                1,
                "Payroll [API](https://evil.example) *x*",
                vec![secret("k-pay", "ci", now - Duration::days(100), now + Duration::days(10))],
                vec![
                    DirectoryObject::user("u1", "Alice", Some("alice@example.com")),
                    DirectoryObject::user("u2", "No Mail", None),
                ],
                Some("Team payroll\ncredwatch-notify: team-pay@example.com, not an address, evil@example.com\r\nBcc: x@example.com"),
            ),
            app(
                2,
                "Quiet",
                vec![secret("k-quiet", "q", now - Duration::days(100), now + Duration::days(12))],
                vec![DirectoryObject::user("u3", "Bob", Some("bob@example.com"))],
                None,
            ),
        ],
    );
    let smtp = SmtpServer::start();
    let hooks = Receiver::start().await;
    let email = format!(
        "[email]\ntransport = \"smtp\"\nurl = \"{}\"\nfrom = \"credwatch <credwatch@example.com>\"\nto = [\"ops@example.com\"]\n",
        smtp.url()
    );
    let webhooks = "[[webhooks]]\nname = \"teams\"\nkind = \"teams\"\nurl_env = \"TEAMS_URL\"\n[[webhooks]]\nname = \"siem\"\nkind = \"json\"\nurl_env = \"JSON_URL\"\n";
    let vars = [
        ("TEAMS_URL", hooks.url(&format!("{HOOK_SECRET_PATH}/teams"))),
        ("JSON_URL", hooks.url("/json")),
    ];
    let config = w.config(&format!("{email}{webhooks}"), "notify_owners = true", &vars);
    let store = w.sync(&config).await;

    // The Teams webhook fails the first time: its reminders stay due, the others are recorded.
    *hooks.status.lock().unwrap() = 500;
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
    *hooks.status.lock().unwrap() = 200;
    let store = open_store(&config).await.unwrap();
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

#[tokio::test]
async fn exclusions_silence_and_superseded_credentials_say_remove() {
    let w = World::new().await;
    let now = w.now;
    w.emu.set_applications(
        TENANT,
        vec![
            app(
                1,
                "Rotated",
                vec![
                    secret("k-old", "old", now - Duration::days(700), now + Duration::days(10)),
                    secret("k-new", "new", now - Duration::days(3), now + Duration::days(360)),
                ],
                vec![],
                None,
            ),
            app(
                2,
                "legacy-batch-dev",
                vec![secret("k-legacy", "x", now - Duration::days(100), now + Duration::days(10))],
                vec![],
                None,
            ),
            app(
                3,
                "Proxy app",
                vec![secret(
                    "k-cwap",
                    "CWAP_AuthSecret",
                    now - Duration::days(100),
                    now + Duration::days(10),
                )],
                vec![],
                None,
            ),
            app(
                4,
                "Lapsed exclusion",
                vec![secret("k-lapsed", "y", now - Duration::days(100), now + Duration::days(10))],
                vec![],
                None,
            ),
        ],
    );
    let smtp = SmtpServer::start();
    let extra = format!(
        "[email]\ntransport = \"smtp\"\nurl = \"{}\"\nfrom = \"credwatch <credwatch@example.com>\"\nto = [\"ops@example.com\"]\n\
         [[exclusions]]\nname = \"legacy\"\napp_name = \"*-DEV\"\nreason = \"decommissioned in Q3\"\nuntil = {}\n\
         [[exclusions]]\napp_name = \"Lapsed*\"\nreason = \"was fine last year\"\nuntil = {}\n",
        smtp.url(),
        (now + Duration::days(30)).format("%Y-%m-%d"),
        (now - Duration::days(1)).format("%Y-%m-%d"),
    );
    let config = w.config(&extra, "", &[]);
    let store = w.sync(&config).await;
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
        config.exclusions.find(legacy, (now + Duration::days(31)).into()).is_none(),
        "the rule stops applying after its date"
    );
    let cwap = creds.iter().find(|c| c.key_id == "k-cwap").unwrap();
    assert_eq!(config.exclusions.find(cwap, now.into()).unwrap().name, "application-proxy");

    // Built-ins are overridable: turned off, the proxy secret is reminded.
    let mut config2 = w.config(&extra, "", &[]);
    config2.exclusions.rules.retain(|r| !r.builtin);
    let report = try_remind(&store, &config2, now + Duration::hours(1), true).await.unwrap();
    assert!(report.digests[0].lines.join("\n").contains("Proxy app"));
}

#[tokio::test]
async fn findings_owners_and_marks_are_served() {
    let w = World::new().await;
    let now = w.now;
    w.emu.set_applications(
        TENANT,
        vec![
            app(
                1,
                "<b>Never</b>",
                vec![
                    secret(
                        "k-never",
                        "forever",
                        now - Duration::days(100),
                        DateTime::parse_from_rfc3339("2299-12-31T00:00:00Z").unwrap().with_timezone(&Utc),
                    ),
                    secret("k-two", "second", now - Duration::days(10), now + Duration::days(100)),
                ],
                vec![],
                Some("credwatch-notify: a@example.com"),
            ),
            app(
                2,
                "Dead",
                vec![secret("k-dead", "gone", now - Duration::days(400), now - Duration::days(3))],
                vec![DirectoryObject::user("u1", "Carol <script>", Some("carol@example.com"))],
                None,
            ),
            app(
                3,
                "Proxy",
                vec![secret(
                    "k-cwap",
                    "CWAP_AuthSecret",
                    now - Duration::days(10),
                    now + Duration::days(50),
                )],
                vec![DirectoryObject::user("u2", "Dan", None)],
                None,
            ),
        ],
    );
    let mut config = w.config("", "", &[]);
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    w.sync(&config).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let app = credwatch::startup::Application::build(config, Some(listener)).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let stop = CancellationToken::new();
    let s = stop.clone();
    let task = tokio::spawn(app.run_until_stopped(async move { s.cancelled().await }));
    let http = reqwest::Client::new();

    let findings: Value = http
        .get(format!("{base}/api/v1/findings"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(findings["counts"]["never_expires"], 1);
    assert_eq!(findings["counts"]["expired_present"], 1);
    assert_eq!(findings["counts"]["several_secrets"], 1);
    assert_eq!(findings["counts"]["no_owner"], 1);
    assert!(
        findings["exclusions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "application-proxy" && r["builtin"] == true)
    );

    let creds: Value = http
        .get(format!("{base}/api/v1/credentials"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cwap = creds["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key_id"] == "k-cwap")
        .unwrap()
        .clone();
    assert_eq!(cwap["source"], "application");
    assert_eq!(cwap["excluded"]["rule"], "application-proxy");

    let page = http.get(format!("{base}/findings")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("&#60;b&#62;Never&#60;/b&#62;") && !html.contains("<b>Never</b>"),
        "names are escaped"
    );
    let app_page = http
        .get(format!(
            "{base}/environments/prod/applications/00000002-0000-4000-8000-000000000000"
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        app_page.contains("Carol &#60;script&#62;") && app_page.contains("carol@example.com"),
        "owners shown, escaped"
    );
    let orphan = http
        .get(format!(
            "{base}/environments/prod/applications/00000001-0000-4000-8000-000000000000"
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(orphan.contains("No owner") && orphan.contains("a@example.com"));
    let env_page = http
        .get(format!("{base}/environments/prod"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        env_page.contains("no reminders: application-proxy"),
        "excluded credentials stay visible, marked"
    );
    stop.cancel();
    task.await.unwrap().unwrap();
}

#[test]
fn config_errors_name_the_key() {
    let base = "[[environments]]\nname = \"prod\"\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\n";
    let env = |k: &str| match k {
        "S" => Some("x".to_string()),
        "PLAIN" => Some("http://hooks.example.com/x".to_string()),
        _ => None,
    };
    let err = |extra: &str| Config::from_toml(&format!("{extra}\n{base}"), None, &env).unwrap_err().to_string();
    assert!(err("[[exclusions]]\napp_id = \"a\"\n").contains("exclusions[0].reason: is required"));
    assert!(err("[[exclusions]]\nreason = \"r\"\n").contains("exclusions[0]: names no app_id"));
    assert!(err("[[exclusions]]\napp_id = \"a\"\nreason = \"r\"\nuntil = \"soon\"\n").contains("until"));
    assert!(err("[[exclusions]]\napp_id = \"a\"\nreason = \"r\"\nenvironment = \"nope\"\n").contains("exclusions[0].environment"));
    assert!(err("[reminders]\nbuiltin_exclusions = [\"nope\"]\n").contains("reminders.builtin_exclusions[0]"));
    assert!(err("[[webhooks]]\nname = \"t\"\nkind = \"slack\"\nurl_env = \"PLAIN\"\n").contains("webhooks[0].kind"));
    let e = err("[[webhooks]]\nname = \"t\"\nkind = \"json\"\nurl_env = \"PLAIN\"\n");
    assert!(
        e.contains("webhooks[0].url_env") && e.contains("https") && !e.contains("hooks.example.com"),
        "{e}"
    );
    assert!(err("[[webhooks]]\nname = \"t\"\nkind = \"json\"\n").contains("webhooks[0].url_env"));
}

#[tokio::test]
async fn owners_are_refreshed_on_their_own_cadence_and_kept_in_between() {
    let w = World::new().await;
    let now = w.now;
    let cred = |k: &str| secret(k, "ci", now - Duration::days(10), now + Duration::days(100));
    let alice = DirectoryObject::user("u-alice", "Alice", Some("alice@example.com"));
    let bob = DirectoryObject::user("u-bob", "Bob", Some("bob@example.com"));
    w.emu.set_applications(
        TENANT,
        vec![
            app(1, "Payroll", vec![cred("k-pay")], vec![alice.clone()], None),
            app(2, "Orphan", vec![cred("k-orphan")], vec![], None),
        ],
    );
    let owner_names = |store: Store| async move {
        let creds = store.credentials(&CredentialFilter::default()).await.unwrap();
        let mut out: Vec<(String, Option<Vec<String>>)> = creds
            .iter()
            .map(|c| {
                let names = c.app_owners.clone().map(|o| o.into_iter().filter_map(|o| o.display_name).collect());
                (c.key_id.clone(), names)
            })
            .collect();
        out.sort();
        out
    };
    let listings = |from: usize| -> Vec<String> {
        w.emu.requests()[from..]
            .iter()
            .filter(|r| r.path == "/v1.0/applications")
            .map(|r| r.query.clone())
            .collect()
    };
    let named = |k: &str, o: Option<&[&str]>| (k.to_string(), o.map(|o| o.iter().map(|s| s.to_string()).collect()));

    // First sync: owners listed ($expand, pages of 100).
    let config = w.config("", "", &[]);
    let store = w.sync(&config).await;
    let first = listings(0);
    assert!(first.iter().all(|q| q.contains("expand") && q.contains("top=100")), "{first:?}");
    assert_eq!(
        owner_names(store.clone()).await,
        vec![named("k-orphan", Some(&[])), named("k-pay", Some(&["Alice"]))]
    );

    // Within the refresh interval: credentials only, at 999 per page; stored owners are kept
    // (Payroll's change of owner waits), a new application's owners are unknown until the refresh.
    w.emu.update_applications(TENANT, |apps| {
        apps[0].owners = vec![bob.clone()];
        apps.push(app(3, "New", vec![cred("k-new")], vec![alice.clone()], None));
    });
    let seen = w.emu.requests().len();
    let store = w.sync(&config).await;
    let between = listings(seen);
    assert!(
        !between.is_empty() && between.iter().all(|q| !q.contains("expand") && q.contains("top=999")),
        "{between:?}"
    );
    assert_eq!(
        owner_names(store.clone()).await,
        vec![named("k-new", None), named("k-orphan", Some(&[])), named("k-pay", Some(&["Alice"]))]
    );

    // A day later the refresh is due: owners listed again, changes applied.
    sqlx::query("UPDATE environments SET owners_fetched_at = owners_fetched_at - ?")
        .bind(25 * 3600 * credwatch::domain::Timestamp::TICKS_PER_SECOND)
        .execute(store.pool())
        .await
        .unwrap();
    let seen = w.emu.requests().len();
    let store = w.sync(&config).await;
    assert!(listings(seen).iter().all(|q| q.contains("expand")));
    assert_eq!(
        owner_names(store.clone()).await,
        vec![
            named("k-new", Some(&["Alice"])),
            named("k-orphan", Some(&[])),
            named("k-pay", Some(&["Bob"]))
        ]
    );

    // `owners_refresh_hours = 0` lists them at every sync.
    let every = w.config("[sync]\nowners_refresh_hours = 0", "", &[]);
    let seen = w.emu.requests().len();
    w.sync(&every).await;
    assert!(listings(seen).iter().all(|q| q.contains("expand")));

    // Fetching turned off: owners become unknown rather than silently stale, and turning it on
    // again lists them at once.
    let off = w.config("[sync]\nfetch_owners = false", "", &[]);
    let store = w.sync(&off).await;
    assert!(owner_names(store.clone()).await.iter().all(|(_, o)| o.is_none()));
    let seen = w.emu.requests().len();
    let store = w.sync(&config).await;
    assert!(listings(seen).iter().all(|q| q.contains("expand")));
    assert_eq!(owner_names(store).await[2], named("k-pay", Some(&["Bob"])));
}
