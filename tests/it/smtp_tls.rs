//! The SMTP password never travels in clear off the machine (issue 13 §3): refused at config load
//! unless TLS is certain, while a plain server on loopback keeps working.

use crate::support::config::{ConfigFile, Email};
use crate::support::smtp::{Login, SmtpServer};
use credwatch::config::Config;
use credwatch::reminders::mail::{Mailer, build_message};

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
    // The server refuses MAIL until AUTH succeeded: the message accepted proves the order.
    let server = SmtpServer::start_with_auth();
    let config = email(&server.url(), true).unwrap();
    let mailer = Mailer::from_config(&config.email).unwrap().unwrap();
    let from = config.email.from.clone().unwrap();
    let message = build_message(&from, &config.email.to[0], "with auth", "text".into(), "<p>html</p>".into()).unwrap();
    mailer.send(message).await.expect("delivered");
    assert_eq!(
        server.logins(),
        [Login {
            username: "credwatch".into(),
            password: "hunter2-smtp".into()
        }]
    );
    assert_eq!(server.take()[0].subject(), "with auth");
}
