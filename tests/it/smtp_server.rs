//! The test SMTP server itself (`tests/support/smtp.rs`) on what lettre never sends: commands out
//! of order, a dot-stuffed lone dot, AUTH LOGIN. A raw conversation over TCP, line by line.

use crate::support::smtp::{Login, SmtpServer};
use base64::Engine;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

struct Client(BufReader<TcpStream>);

impl Client {
    fn connect(server: &SmtpServer) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        // A server that never answers fails the test instead of hanging it.
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut client = Client(BufReader::new(stream));
        assert_eq!(client.reply().0, 220);
        client
    }

    /// Sends `lines` and a CRLF; returns the reply's code and all its lines.
    fn send(&mut self, lines: &str) -> (u16, String) {
        self.0.get_mut().write_all(format!("{lines}\r\n").as_bytes()).unwrap();
        self.reply()
    }

    fn reply(&mut self) -> (u16, String) {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            assert_ne!(self.0.read_line(&mut line).unwrap(), 0, "the server hung up: {all}");
            all.push_str(&line);
            // The last line of a reply has a space after its code, the others a hyphen.
            if line.as_bytes()[3] == b' ' {
                return (line[..3].parse().unwrap(), all);
            }
        }
    }
}

#[test]
fn commands_out_of_order_are_refused_and_dot_stuffing_is_undone() {
    let server = SmtpServer::start();
    let mut c = Client::connect(&server);
    assert_eq!(c.send("MAIL FROM:<a@example.com>").0, 503, "before EHLO");
    assert_eq!(c.send("FROB").0, 500);
    assert_eq!(c.send("AUTH PLAIN AHUAcA==").0, 502, "not offered");
    let (code, ehlo) = c.send("EHLO client.test");
    assert_eq!(code, 250);
    assert!(ehlo.contains("8BITMIME") && !ehlo.contains("AUTH"), "{ehlo}");
    assert_eq!(c.send("RCPT TO:<b@example.com>").0, 503, "before MAIL");
    assert_eq!(c.send("MAIL FROM:<a@example.com> BODY=8BITMIME").0, 250);
    assert_eq!(c.send("MAIL FROM:<a@example.com>").0, 503, "twice");
    assert_eq!(c.send("DATA").0, 503, "before any recipient");
    assert_eq!(c.send("RCPT TO:<B@Example.com>").0, 250);
    assert_eq!(c.send("DATA").0, 354);
    // "..\r\n" is a lone dot in the message, not its end.
    assert_eq!(c.send("Subject: dots\r\n\r\n..hidden\r\n..\r\nlast\r\n.").0, 250);
    let received = server.take();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].from, "a@example.com");
    assert_eq!(received[0].to, ["b@example.com"], "lower-cased");
    assert_eq!(received[0].text(), "Subject: dots\r\n\r\n.hidden\r\n.\r\nlast\r\n");
    assert_eq!(c.send("RSET").0, 250);
    assert_eq!(c.send("QUIT").0, 221);
}

#[test]
fn when_auth_is_offered_mail_waits_for_it() {
    let server = SmtpServer::start_with_auth();
    let mut c = Client::connect(&server);
    assert!(c.send("EHLO client.test").1.contains("250 AUTH PLAIN LOGIN"));
    assert_eq!(c.send("MAIL FROM:<a@example.com>").0, 530);
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    assert_eq!(c.send("AUTH LOGIN").0, 334);
    assert_eq!(c.send(&b64("user")).0, 334);
    assert_eq!(c.send(&b64("pass word")).0, 235);
    assert_eq!(c.send("AUTH PLAIN AHUAcA==").0, 503, "once only");
    assert_eq!(c.send("MAIL FROM:<a@example.com>").0, 250);
    let login = Login {
        username: "user".into(),
        password: "pass word".into(),
    };
    assert_eq!(server.logins(), [login]);
}
