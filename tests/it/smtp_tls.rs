//! The SMTP password never travels in clear off the machine (issue 13 §3): refused at config load
//! unless TLS is certain, while a plain server on loopback keeps working.

use crate::support::config::{ConfigFile, Email};
use crate::support::smtp::SmtpServer;
use credwatch::config::Config;
use credwatch::reminders::mail::{Mailer, build_message};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

fn email(url: &str, password: bool) -> Result<Config, String> {
    let mut email = Email::smtp(url, &["ops@example.com"]);
    if password {
        email.username = Some("credwatch".into());
        email.password_env = Some("SMTP_PASSWORD".into());
    }
    let file = ConfigFile {
        email: Some(email),
        ..ConfigFile::default()
    };
    Config::from_toml(&file.to_toml(), None, &|k| {
        (k == "SMTP_PASSWORD").then(|| "hunter2-smtp".to_string())
    })
    .map_err(|e| e.to_string())
}

#[test]
fn a_password_to_a_remote_server_needs_certain_tls() {
    for url in [
        "smtp://mail.example.com:587",
        "smtp://mail.example.com:587?tls=opportunistic",
        "smtp://mail.example.com:25?tls=none",
        "smtp://10.0.0.5:25",
    ] {
        let err = email(url, true).expect_err(url);
        assert!(err.contains("email.url"), "{url}: {err}");
        assert!(
            err.contains("tls=required") && err.contains("smtps://"),
            "{url}: the fix is named: {err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }
    for url in [
        "smtps://mail.example.com",
        "smtp://mail.example.com:587?tls=required",
        "smtp://127.0.0.1:25",
        "smtp://localhost:2525?tls=none",
        "smtp://[::1]:25",
    ] {
        assert!(email(url, true).is_ok(), "{url}: {:?}", email(url, true).err());
    }
    // Without a password there is nothing to protect: a relay on the network may stay plain.
    assert!(email("smtp://relay.internal:25?tls=none", false).is_ok());
}

#[tokio::test]
async fn a_plain_loopback_server_without_starttls_still_gets_the_mail() {
    let server = SmtpServer::start();
    let config = email(&server.url(), false).unwrap();
    let mailer = Mailer::from_config(&config.email).unwrap().unwrap();
    let from = config.email.from.clone().unwrap();
    let message = build_message(&from, &config.email.to[0], "plain", "text".into(), "<p>html</p>".into()).unwrap();
    mailer.send(message).await.unwrap();
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn a_password_goes_to_a_plain_loopback_server() {
    let server = AuthServer::start();
    let config = email(&format!("smtp://127.0.0.1:{}", server.port), true).unwrap();
    let mailer = Mailer::from_config(&config.email).unwrap().unwrap();
    let from = config.email.from.clone().unwrap();
    let message = build_message(&from, &config.email.to[0], "with auth", "text".into(), "<p>html</p>".into()).unwrap();
    mailer.send(message).await.expect("delivered");
    let seen = server.seen.lock().unwrap().clone();
    assert!(seen.iter().any(|l| l == "AUTH credwatch hunter2-smtp"), "{seen:?}");
    assert!(seen.iter().any(|l| l == "DATA"), "{seen:?}");
}

/// A minimal SMTP server on loopback that offers AUTH without TLS (mailin offers AUTH only after
/// STARTTLS) and records the commands it got, the credentials decoded.
struct AuthServer {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl AuthServer {
    fn start() -> AuthServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let log = log.clone();
                std::thread::spawn(move || {
                    let _ = converse(stream, &log);
                });
            }
        });
        AuthServer { port, seen }
    }
}

fn converse(stream: std::net::TcpStream, log: &Mutex<Vec<String>>) -> std::io::Result<()> {
    use base64::Engine;
    let mut out = stream.try_clone()?;
    let mut lines = BufReader::new(stream).lines();
    out.write_all(b"220 auth.test ESMTP\r\n")?;
    while let Some(line) = lines.next() {
        let line = line?;
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-auth.test\r\n250 AUTH PLAIN\r\n"
        } else if let Some(initial) = line.strip_prefix("AUTH PLAIN ") {
            let decoded = base64::engine::general_purpose::STANDARD.decode(initial.trim()).unwrap_or_default();
            let parts: Vec<String> = decoded
                .split(|b| *b == 0)
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            log.lock().unwrap().push(format!("AUTH {}", parts[1..].join(" ")));
            b"235 2.7.0 accepted\r\n"
        } else if upper == "DATA" {
            log.lock().unwrap().push("DATA".into());
            out.write_all(b"354 go on\r\n")?;
            for body in lines.by_ref() {
                if body? == "." {
                    break;
                }
            }
            b"250 2.0.0 queued\r\n"
        } else if upper == "QUIT" {
            out.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else {
            b"250 ok\r\n"
        };
        out.write_all(reply)?;
    }
    Ok(())
}
