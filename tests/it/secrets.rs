//! No client secret, assertion, access token, SMTP password or calendar token appears in logs
//! at any level, in error messages, or in Debug output.

use crate::support::config::{Calendar, Email};
use crate::support::emu::{ClientAuth, generate_applications};
use crate::support::process::Serve;
use crate::support::smtp::closed_port;
use crate::support::{SECRET, World, secret_var};
use std::time::Duration;

const SMTP_PASSWORD: &str = "smtp-pa55word-do-not-leak";
const CALENDAR_TOKEN: &str = "calendar-token-do-not-leak-0123456789";

fn forbidden(w: &World) -> Vec<String> {
    let pem = std::fs::read_to_string(World::fixture("client-cert.pem")).unwrap();
    // Every line of the private key's base64 body.
    let key_lines: Vec<String> = pem
        .lines()
        .skip_while(|l| !l.contains("BEGIN PRIVATE KEY"))
        .skip(1)
        .take_while(|l| !l.contains("END PRIVATE KEY"))
        .map(str::to_string)
        .collect();
    let mut all = vec![
        SECRET.to_string(),
        SMTP_PASSWORD.to_string(),
        CALENDAR_TOKEN.to_string(),
        "wrong-secret-value".into(),
    ];
    all.extend(key_lines);
    all.extend(w.emu.issued_tokens());
    all
}

fn assert_clean(w: &World, what: &str, text: &str) {
    for secret in forbidden(w) {
        assert!(!text.contains(&secret), "{what} leaked {secret:?}:\n{text}");
    }
    // Signed JWTs (client assertions, tokens) all start with a base64url '{"'.
    assert!(!text.contains("eyJ"), "{what} contains a JWT:\n{text}");
}

#[tokio::test]
async fn secrets_stay_out_of_logs_errors_and_debug_output() {
    let mut w = World::new().await;
    w.tenant("prod", "tenant-prod", "client-prod");
    w.emu
        .set_applications("tenant-prod", generate_applications(31, 50, chrono::Utc::now()));
    let pem = std::fs::read_to_string(World::fixture("client-cert.pem")).unwrap();
    w.emu.add_tenant("tenant-cert");
    w.emu.register_client("tenant-cert", "client-cert", ClientAuth::Certificate { pem });
    let mut certs = w.environment("certs", "tenant-cert", "client-cert");
    certs.certificate(World::fixture("client-cert.pem"));
    w.file.environments.push(certs);
    w.emu
        .set_applications("tenant-cert", generate_applications(32, 20, chrono::Utc::now()));
    w.vars.insert("SMTP_PASSWORD".into(), SMTP_PASSWORD.into());
    w.vars.insert("CAL_TOKEN".into(), CALENDAR_TOKEN.into());
    w.vars.insert("RUST_LOG".into(), "trace".into());
    w.file.server().listen = Some("127.0.0.1:0".into());
    w.file.email = Some(Email {
        username: Some("credwatch".into()),
        password_env: Some("SMTP_PASSWORD".into()),
        ..Email::smtp(&format!("smtp://127.0.0.1:{}", closed_port()), &["ops@example.com"])
    });
    w.file.calendar = Some(Calendar {
        token_env: Some("CAL_TOKEN".into()),
        ..Calendar::default()
    });
    let path = w.write_config();
    let cfg = path.to_str().unwrap();

    // Debug output of the loaded config.
    let vars = w.vars.clone();
    let config =
        credwatch::config::Config::from_toml(&std::fs::read_to_string(&path).unwrap(), None, &move |k| vars.get(k).cloned()).unwrap();
    assert_clean(&w, "Debug of the config", &format!("{config:?}"));

    let mut transcript = String::new();
    for args in [
        &["sync", "--config", cfg][..],
        &["check", "--config", cfg],
        &["remind", "--config", cfg],
        &["sync", "--log-format", "json", "--config", cfg],
    ] {
        let (code, out, err) = w.run(args).await;
        assert!(
            err.contains("TRACE") || err.contains("\"level\":\"TRACE\""),
            "{args:?} logged at trace level"
        );
        transcript.push_str(&format!("$ {args:?} -> {code}\n{out}\n{err}\n"));
    }
    assert!(transcript.contains("certs: ok"), "{transcript}");
    assert!(
        transcript.contains("connection") || transcript.contains("refused") || transcript.contains("unreachable"),
        "the SMTP failure is reported"
    );

    // A wrong secret: the error names the problem, not the value.
    w.vars.insert(secret_var("prod"), "wrong-secret-value".into());
    let (code, out, err) = w.run(&["sync", "--config", cfg, "--env", "prod"]).await;
    assert_eq!(code, 1);
    assert!(out.contains("AADSTS7000215"));
    transcript.push_str(&out);
    transcript.push_str(&err);
    w.vars.insert(secret_var("prod"), SECRET.into());

    // serve, with the calendar fetched through its token URL.
    let serve = Serve::start(&w).await;
    let http = crate::support::http();
    let feed = http
        .get(serve.url(&format!("/calendar.ics?token={CALENDAR_TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 200);
    let refused = http
        .get(serve.url(&format!("/calendar.ics?token=wrong-{CALENDAR_TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let (_, stderr) = serve.process.terminate(Duration::from_secs(15)).await;
    transcript.push_str(&stderr);

    assert!(!w.emu.issued_tokens().is_empty());
    assert_clean(&w, "the logs and output", &transcript);
}
