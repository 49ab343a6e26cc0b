//! No client secret, assertion, access token, SMTP password or calendar token appears in logs
//! at any level, in error messages, or in Debug output.

mod common;

use common::{Env, World};
use credwatch_emulator::{ClientAuth, generate_applications};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
        common::SECRET.to_string(),
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
    w.tenant_with_secret("prod", "tenant-prod", "client-prod");
    w.emu
        .set_applications("tenant-prod", generate_applications(31, 50, chrono::Utc::now()));
    let pem = std::fs::read_to_string(World::fixture("client-cert.pem")).unwrap();
    w.emu.add_tenant("tenant-cert");
    w.emu.register_client("tenant-cert", "client-cert", ClientAuth::Certificate { pem });
    w.emu
        .set_applications("tenant-cert", generate_applications(32, 20, chrono::Utc::now()));
    w.vars.insert("SMTP_PASSWORD".into(), SMTP_PASSWORD.into());
    w.vars.insert("CAL_TOKEN".into(), CALENDAR_TOKEN.into());
    w.vars.insert("RUST_LOG".into(), "trace".into());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dead_smtp = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let envs = [
        Env::secret("prod", "tenant-prod", "client-prod"),
        Env {
            name: "certs",
            tenant: "tenant-cert",
            client: "client-cert",
            source: format!("certificate_path = \"{}\"", World::fixture("client-cert.pem").display()),
        },
    ];
    let extra = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[email]\ntransport = \"smtp\"\nurl = \"smtp://127.0.0.1:{dead_smtp}\"\nusername = \"credwatch\"\npassword_env = \"SMTP_PASSWORD\"\nfrom = \"credwatch@example.com\"\nto = [\"ops@example.com\"]\n[calendar]\ntoken_env = \"CAL_TOKEN\"\n"
    );
    let path = w.write_config(&envs, &extra);
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
    w.vars.insert("PROD_SECRET".into(), "wrong-secret-value".into());
    let (code, out, err) = w.run(&["sync", "--config", cfg, "--env", "prod"]).await;
    assert_eq!(code, 1);
    assert!(out.contains("AADSTS7000215"));
    transcript.push_str(&out);
    transcript.push_str(&err);
    w.vars.insert("PROD_SECRET".into(), common::SECRET.into());

    // serve, with the calendar fetched through its token URL.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_credwatch"));
    cmd.args(["serve", "--config", cfg])
        .env_clear()
        .envs(w.vars.iter())
        .current_dir(w.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    credwatch::tls::install();
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let r = http
            .get(format!("http://127.0.0.1:{port}/calendar.ics?token={CALENDAR_TOKEN}"))
            .send()
            .await;
        if r.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "serve did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = http
        .get(format!("http://127.0.0.1:{port}/calendar.ics?token=wrong-{CALENDAR_TOKEN}"))
        .send()
        .await;
    Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    transcript.push_str(&String::from_utf8_lossy(&out.stdout));
    transcript.push_str(&String::from_utf8_lossy(&out.stderr));

    assert!(!w.emu.issued_tokens().is_empty());
    assert_clean(&w, "the logs and output", &transcript);
}
