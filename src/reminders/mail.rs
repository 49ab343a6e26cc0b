//! Sending digests with lettre: SMTP (plain, STARTTLS when offered, STARTTLS required, implicit
//! TLS; optional authentication) or one `.eml` file per message, readable by its owner only.

use crate::config::{EmailConfig, EmailTransport, SmtpTls};
use crate::domain::EmailAddress;
use lettre::Address;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// How long connecting to the SMTP server may take.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long handing over one message may take in all. lettre's async client bounds only the
/// connect; a server that accepts the connection and then never answers would hang the run.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a message was not delivered to the mail server.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The server answered and refused (4xx or 5xx): other recipients may still be accepted.
    #[error("the mail server refused the message: {0}")]
    Refused(String),
    /// No conversation was possible (connection refused, timeout, TLS): trying other recipients
    /// now would fail the same way.
    #[error("the mail server could not be reached: {0}")]
    Unreachable(String),
    #[error("cannot write the message file: {0}")]
    File(String),
    #[error("cannot build the message: {0}")]
    Message(String),
    #[error("e-mail is misconfigured: {0}")]
    Config(String),
}

impl MailError {
    /// True when later messages of the same run would fail the same way.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, MailError::Unreachable(_) | MailError::File(_) | MailError::Config(_))
    }
}

/// Where digests go.
pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// The outbox directory: reminders name credentials and apps, so the directory is created
    /// 0700 and each message 0600, whatever the umask.
    File(PathBuf),
}

impl Mailer {
    /// The mailer of `[email]`, or `None` for `transport = "none"`.
    pub fn from_config(email: &EmailConfig) -> Result<Option<Mailer>, MailError> {
        match &email.transport {
            EmailTransport::None => Ok(None),
            EmailTransport::File { dir } => Ok(Some(Mailer::File(dir.clone()))),
            EmailTransport::Smtp {
                url,
                tls,
                username,
                password,
            } => {
                let creds = username.as_ref().map(|u| {
                    Credentials::new(
                        u.clone(),
                        password.as_ref().map(|p| p.expose_secret().to_string()).unwrap_or_default(),
                    )
                });
                Ok(Some(Mailer::Smtp(smtp_transport(url, *tls, creds, SMTP_TIMEOUT)?)))
            }
        }
    }

    /// Hands `message` to the server (or writes its file); `Ok` means it was accepted.
    #[tracing::instrument(name = "mail_send", skip_all)]
    pub async fn send(&self, message: Message) -> Result<(), MailError> {
        match self {
            Mailer::Smtp(t) => match tokio::time::timeout(SEND_TIMEOUT, t.send(message)).await {
                Err(_) => Err(MailError::Unreachable(format!("no answer within {} s", SEND_TIMEOUT.as_secs()))),
                Ok(result) => result.map(|_| ()).map_err(|e| {
                    let text = error_chain(&e);
                    if e.is_permanent() || e.is_transient() {
                        MailError::Refused(text)
                    } else {
                        MailError::Unreachable(text)
                    }
                }),
            },
            Mailer::File(dir) => {
                let (dir, message) = (dir.clone(), message.formatted());
                tokio::task::spawn_blocking(move || {
                    write_private(&dir, &message).map_err(|e| MailError::File(format!("{}: {e}", dir.display())))
                })
                .await
                .map_err(|e| MailError::File(e.to_string()))?
            }
        }
    }
}

/// Writes one message as `{uuid}.eml` in `dir`, created owner-only; the file is created 0600
/// rather than narrowed after writing, so no other user can open it in between.
fn write_private(dir: &std::path::Path, message: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(dir.join(format!("{}.eml", uuid::Uuid::new_v4())))?;
    file.write_all(message)?;
    file.sync_all()
}

/// The error with its causes, each said once.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let cause = s.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = s.source();
    }
    text
}

/// An SMTP transport for `url` with the TLS the config parsed from it: `smtps://` is implicit
/// TLS (port 465 by default), `?tls=required` insists on STARTTLS, `smtp://` uses it when the
/// server offers it, `?tls=none` never does. (The config refuses the last two with a password to
/// a server off this machine.)
pub fn smtp_transport(
    url: &Url,
    tls: SmtpTls,
    credentials: Option<Credentials>,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let host = url.host_str().ok_or_else(|| MailError::Config(format!("{url} has no host")))?;
    // IPv6 literals come bracketed from the URL; the socket address and the TLS name want them bare.
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = url.port().unwrap_or(if tls == SmtpTls::Implicit { 465 } else { 25 });
    let params = || TlsParameters::new(host.clone()).map_err(|e| MailError::Config(format!("TLS for {host}: {e}")));
    let tls = match tls {
        SmtpTls::Implicit => Tls::Wrapper(params()?),
        SmtpTls::Required => Tls::Required(params()?),
        SmtpTls::Opportunistic => Tls::Opportunistic(params()?),
        SmtpTls::None => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
        .port(port)
        .tls(tls)
        .timeout(Some(timeout));
    if let Some(c) = credentials {
        builder = builder.credentials(c);
    }
    Ok(builder.build())
}

/// A plain address from the directory as a recipient, without a display name.
impl From<EmailAddress> for Mailbox {
    fn from(address: EmailAddress) -> Mailbox {
        // Unchecked on purpose: `EmailAddress` admits only dot-atom local parts and dotted
        // domain names, a subset of what lettre checks for (tested below).
        Mailbox::new(None, Address::new_dangerous(address.local_part(), address.domain()))
    }
}

const AUTO_SUBMITTED: HeaderName = HeaderName::new_from_ascii_str("Auto-Submitted");
const SUPPRESS_AUTO_REPLY: HeaderName = HeaderName::new_from_ascii_str("X-Auto-Response-Suppress");

/// One digest message: multipart/alternative (text, HTML), a fresh Message-ID on the sender's
/// domain, the current Date, and headers marking it automatic so out-of-office replies stay away.
/// lettre encodes every header value; `subject` is one line already ([`crate::domain::clean`]).
pub fn build_message(from: &Mailbox, to: &Mailbox, subject: &str, text: String, html: String) -> Result<Message, MailError> {
    let domain = from.email.domain();
    Message::builder()
        .from(from.clone())
        .to(to.clone())
        .subject(subject)
        .message_id(Some(format!("<{}@{}>", uuid::Uuid::new_v4(), domain)))
        .date_now()
        .raw_header(HeaderValue::new(AUTO_SUBMITTED, "auto-generated".into()))
        .raw_header(HeaderValue::new(SUPPRESS_AUTO_REPLY, "All".into()))
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| MailError::Message(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plain_address_is_one_lettre_accepts() {
        for text in [
            "a@example.com",
            "First.Last+tag@mail.example.co.uk",
            "o'brien@example.ie",
            "x!#$%&'*+-/=?^_`{|}~@a-b.c9",
            "1@2.3",
        ] {
            let address = EmailAddress::parse(text).expect(text);
            let checked: Address = text.parse().expect(text);
            assert_eq!(Mailbox::from(address), Mailbox::new(None, checked), "{text}");
        }
    }
}
