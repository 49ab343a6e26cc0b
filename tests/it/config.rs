//! Config loading: every error names the file, the key and the problem; the binary exits
//! non-zero before doing anything.

use crate::support::config::{ConfigFile, Environment};
use credwatch::config::{ClientCredential, Config, EmailTransport};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    move |k| map.get(k).cloned()
}

fn load(text: &str, pairs: &[(&str, &str)]) -> Result<Config, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credwatch.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(Some(&path), &env_of(pairs)).map_err(|e| e.to_string().replace(&dir.path().display().to_string(), "DIR"))
}

const PROD: &str = r#"
[[environments]]
name = "prod"
tenant_id = "11111111-1111-1111-1111-111111111111"
client_id = "22222222-2222-2222-2222-222222222222"
client_secret_env = "PROD_SECRET"
"#;

#[test]
fn a_full_config_loads() {
    let text = format!(
        r#"
[server]
listen = "0.0.0.0:9090"
public_url = "https://credwatch.example.com"
[server.auth]
mode = "proxy"
trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]
[database]
url = "sqlite:///var/lib/credwatch/credwatch.db"
[schedule]
sync = "0 */15 * * * *"
remind = ""
[status]
critical_days = 5
warning_days = 20
[reminders]
days_before = [30, 7, 60]
expired_notice = false
[email]
transport = "smtp"
url = "smtps://mail.example.com:465"
username = "credwatch"
password_env = "SMTP_PASSWORD"
from = "credwatch <credwatch@example.com>"
to = ["ops@example.com"]
[calendar]
token_env = "CAL_TOKEN"
{PROD}
notify = ["prod-oncall@example.com"]
authority_host = "https://login.microsoftonline.us"
graph_url = "https://graph.microsoft.us"
"#
    );
    let c = load(
        &text,
        &[("PROD_SECRET", "s3cr3t-value"), ("SMTP_PASSWORD", "pw"), ("CAL_TOKEN", "tok")],
    )
    .unwrap();
    assert_eq!(c.server.listen.port(), 9090);
    assert_eq!(c.server.public_url.as_str(), "https://credwatch.example.com/");
    assert!(c.schedule.sync.schedule.is_some());
    assert!(c.schedule.remind.schedule.is_none(), "an empty cron string turns the job off");
    assert_eq!(c.status.critical_days, 5);
    assert_eq!(c.reminders.days_before(), &[7, 30, 60]);
    assert!(!c.reminders.expired_notice());
    assert!(matches!(c.email.transport, EmailTransport::Smtp { ref username, .. } if username.as_deref() == Some("credwatch")));
    let env = &c.environments[0];
    assert_eq!(env.notify.len(), 1);
    assert_eq!(env.portal_url.as_str(), "https://portal.azure.us/");
    assert!(matches!(env.credential, ClientCredential::Secret(_)));
    // Secrets never show in Debug output.
    let debug = format!("{c:?}");
    for secret in ["s3cr3t-value", "\"pw\"", "\"tok\""] {
        assert!(!debug.contains(secret), "{secret} leaked into Debug: {debug}");
    }
}

#[test]
fn defaults_need_no_file() {
    let c = Config::load(None, &env_of(&[])).unwrap();
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.database.url, "sqlite://credwatch.db");
    assert!(c.environments.is_empty());
    assert!(matches!(c.email.transport, EmailTransport::None));
}

#[test]
fn errors_name_the_file_the_key_and_the_problem() {
    /// (config text, environment variables, what the error must mention)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: &[Case] = &[
        (
            PROD,
            &[],
            &["credwatch.toml", "environments[0].client_secret_env", "PROD_SECRET is not set"],
        ),
        (
            "[schedule]\nsync = \"every five minutes\"\n",
            &[],
            &["credwatch.toml", "schedule.sync", "not a cron expression"],
        ),
        ("[schedule]\nremind = \"0 0 8 * *\"\n", &[], &["schedule.remind"]),
        (
            "[server]\nlisten = \"localhost\"\n",
            &[],
            &["server.listen", "not an address with a port"],
        ),
        ("[server]\npublic_url = \"not a url\"\n", &[], &["server.public_url", "not a URL"]),
        ("[server]\nlisten = \"127.0.0.1:80\"\ntypo = 1\n", &[], &["credwatch.toml", "typo"]),
        ("[status]\ncritical_days = 40\nwarning_days = 30\n", &[], &["status.critical_days"]),
        ("[reminders]\ndays_before = [7, -1]\n", &[], &["reminders.days_before", "negative"]),
        ("[email]\ntransport = \"pigeon\"\n", &[], &["email.transport", "pigeon"]),
        (
            "[sync]\nowners_refresh_hours = 100000\n",
            &[],
            &["sync.owners_refresh_hours", "more than a year"],
        ),
        (
            "[email]\ntransport = \"smtp\"\nto = [\"ops@example.com\"]\n",
            &[],
            &["email.from", "required"],
        ),
        (
            "[email]\nfrom = \"not an address\"\n",
            &[],
            &["email.from", "not an e-mail address"],
        ),
        ("[email]\nfrom = \"a@example.com\"\nurl = \"http://mail\"\n", &[], &["email.url"]),
        ("[calendar]\ntoken_env = \"NOPE\"\n", &[], &["calendar.token_env", "NOPE"]),
        (
            "[[environments]]\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\n",
            &[("S", "x")],
            &["environments[0].name", "required"],
        ),
        (
            "[[environments]]\nname = \"Prod!\"\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\n",
            &[("S", "x")],
            &["environments[0].name", "a-z"],
        ),
        (
            "[[environments]]\nname = \"p\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\n",
            &[("S", "x")],
            &["environments[0].tenant_id", "required"],
        ),
        (
            "[[environments]]\nname = \"p\"\ntenant_id = \"t\"\nclient_id = \"c\"\n",
            &[],
            &["environments[0]", "no secret source"],
        ),
        (
            "[[environments]]\nname = \"p\"\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\nclient_secret_file = \"/x\"\n",
            &[("S", "x")],
            &["environments[0]", "more than one secret source"],
        ),
        (
            "[[environments]]\nname = \"p\"\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\n[[environments]]\nname = \"p\"\ntenant_id = \"t2\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\n",
            &[("S", "x")],
            &["environments[1].name", "used by another environment"],
        ),
        (
            "[[environments]]\nname = \"p\"\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\ngraph_url = \"http://graph.example.com\"\n",
            &[("S", "x")],
            &["environments[0].graph_url", "plain http"],
        ),
        (
            "[[environments]]\nname = \"p\"\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\nauthority_host = \"http://login.example.com\"\n",
            &[("S", "x")],
            &["environments[0].authority_host", "plain http"],
        ),
        (
            "[[environments]]\nname = \"p\"\ntenant_id = \"t\"\nclient_id = \"c\"\ncertificate_path = \"missing.pem\"\n",
            &[],
            &["environments[0].certificate_path", "missing.pem"],
        ),
        (
            "[[environments]]\nname = \"p\"\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_file = \"missing-secret\"\n",
            &[],
            &["environments[0].client_secret_file", "cannot read"],
        ),
    ];
    for (text, env, wanted) in cases {
        let err = load(text, env).expect_err(text);
        for w in *wanted {
            assert!(err.contains(w), "error for {text:?} should mention {w:?}: {err}");
        }
    }
}

#[test]
fn http_is_allowed_to_loopback_only() {
    let text = "[[environments]]\nname = \"p\"\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret_env = \"S\"\ngraph_url = \"http://127.0.0.1:9999\"\nauthority_host = \"http://localhost:9999\"\n";
    let c = load(text, &[("S", "x")]).unwrap();
    assert_eq!(c.environments[0].graph_url.as_str(), "http://127.0.0.1:9999/");
}

#[test]
fn zero_config_environment_from_azure_variables() {
    let vars = [
        ("AZURE_TENANT_ID", "contoso.onmicrosoft.com"),
        ("AZURE_CLIENT_ID", "33333333-3333-3333-3333-333333333333"),
        ("AZURE_CLIENT_SECRET", "zero-config-secret"),
        ("AZURE_AUTHORITY_HOST", "login.microsoftonline.us"),
        ("CREDWATCH_ENVIRONMENT", "onprem"),
        ("CREDWATCH_LISTEN", "127.0.0.1:9999"),
        ("CREDWATCH_DATABASE_URL", "sqlite://other.db"),
    ];
    let c = Config::load(None, &env_of(&vars)).unwrap();
    assert_eq!(c.environments.len(), 1);
    let e = &c.environments[0];
    assert_eq!(e.name, "onprem");
    assert_eq!(e.tenant_id, "contoso.onmicrosoft.com");
    assert_eq!(e.authority_host.as_str(), "https://login.microsoftonline.us/");
    assert_eq!(c.server.listen.port(), 9999);
    assert_eq!(c.database.url, "sqlite://other.db");
    assert!(!format!("{c:?}").contains("zero-config-secret"));

    let cert = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/client-cert.pem");
    let vars = [
        ("AZURE_TENANT_ID", "t"),
        ("AZURE_CLIENT_ID", "c"),
        ("AZURE_CLIENT_CERTIFICATE_PATH", cert.to_str().unwrap()),
    ];
    let c = Config::load(None, &env_of(&vars)).unwrap();
    assert_eq!(c.environments[0].name, "default");
    assert!(matches!(c.environments[0].credential, ClientCredential::Certificate(_)));

    let err = Config::load(None, &env_of(&[("AZURE_TENANT_ID", "t"), ("AZURE_CLIENT_ID", "c")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("AZURE_CLIENT_SECRET"), "{err}");
    let err = Config::load(
        None,
        &env_of(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "c"),
            ("AZURE_CLIENT_SECRET", "s"),
            ("AZURE_AUTHORITY_HOST", "http://login.example.com"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("AZURE_AUTHORITY_HOST"), "{err}");
}

#[test]
fn the_binary_exits_non_zero_on_a_broken_config_before_touching_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    let db = dir.path().join("should-not-exist.db");
    std::fs::write(
        &path,
        format!("[database]\nurl = \"sqlite://{}\"\n[schedule]\nsync = \"nonsense\"\n", db.display()),
    )
    .unwrap();
    for args in [&["sync"][..], &["serve"], &["check"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_credwatch"))
            .args(args)
            .arg("--config")
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("broken.toml") && stderr.contains("schedule.sync"), "{stderr}");
        assert!(!db.exists(), "{args:?} created the database despite the broken config");
    }
}

#[test]
fn the_example_config_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("credwatch.example.toml")).unwrap();
    // Point the file-based secret at a real file; everything else loads as written.
    let secret = dir.path().join("test-secret");
    std::fs::write(&secret, "s").unwrap();
    let text = text.replace("/run/credentials/credwatch/test-secret", secret.to_str().unwrap());
    let c = Config::from_toml(
        &text,
        Some(&dir.path().join("credwatch.toml")),
        &env_of(&[("PROD_AZURE_CLIENT_SECRET", "x"), ("CREDWATCH_CALENDAR_TOKEN", "t")]),
    )
    .unwrap();
    assert_eq!(c.environments.len(), 2);
    assert!(c.calendar.token.is_some());
}

#[test]
fn help_and_version_explain_every_command() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_credwatch")).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(run(&["--version"]).starts_with(&format!("credwatch {}", env!("CARGO_PKG_VERSION"))));
    let help = run(&["--help"]);
    for command in ["serve", "sync", "remind", "check", "demo", "hash-password"] {
        assert!(help.contains(command), "--help lists {command}");
    }
    assert!(!help.contains("emulate"), "the emulator stays hidden");
    let sync = run(&["sync", "--help"]);
    assert!(
        sync.contains("--env") && sync.contains("--config") && sync.contains("exit 1"),
        "{sync}"
    );
    let remind = run(&["remind", "--help"]);
    assert!(remind.contains("--now") && remind.contains("--dry-run"), "{remind}");
    assert!(run(&["demo", "--help"]).contains("--listen"));
}

#[test]
fn exclusion_and_webhook_errors_name_the_key() {
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

/// Entra would refuse such a pair only at the first sign-in (AADSTS700027); load refuses it first.
#[test]
fn a_certificate_whose_private_key_belongs_to_another_certificate_is_refused_at_load() {
    let fixture = |name: &str| std::fs::read_to_string(crate::support::World::fixture(name)).unwrap();
    let block = |pem: &str, label: &str| -> String {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        let from = pem.find(&begin).expect("block present");
        let to = pem.find(&end).expect("block closed") + end.len();
        pem[from..to].to_string()
    };
    let (client, other) = (fixture("client-cert.pem"), fixture("other-cert.pem"));
    let key = block(&client, "PRIVATE KEY");
    let dir = tempfile::tempdir().unwrap();
    let file = ConfigFile {
        environments: vec![Environment {
            name: Some("prod".into()),
            tenant_id: Some("t".into()),
            client_id: Some("c".into()),
            certificate_path: Some("pair.pem".into()),
            ..Environment::default()
        }],
        ..ConfigFile::default()
    };
    let config = |pem: &str| {
        std::fs::write(dir.path().join("pair.pem"), pem).unwrap();
        std::fs::write(dir.path().join("credwatch.toml"), file.to_toml()).unwrap();
        Config::load(Some(&dir.path().join("credwatch.toml")), &env_of(&[]))
    };

    let mismatched = format!("{key}\n{}\n", block(&other, "CERTIFICATE"));
    let err = config(&mismatched).unwrap_err();
    assert_eq!(err.key, "environments[0].certificate_path");
    assert!(
        err.problem.contains("pair.pem") && err.problem.contains("does not match the certificate"),
        "{err}"
    );
    let body = key.lines().nth(1).expect("a line of the key");
    assert!(!err.to_string().contains(body), "the error shows key material: {err}");

    // The same key with its own certificate loads, whichever block comes first.
    let matched = format!("{}\n{key}\n", block(&client, "CERTIFICATE"));
    let loaded = config(&matched).expect("a matching pair loads");
    assert!(matches!(loaded.environments[0].credential, ClientCredential::Certificate(_)));
    // So does the other fixture as it is, so the mismatch above is the pair's, not a broken file's.
    assert!(config(&other).is_ok());
}
