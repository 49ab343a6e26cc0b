//! A real SMTP server on a loopback port, in process, that records what it accepted. Tests talk
//! to it over TCP with lettre, the client credwatch ships, so the whole conversation (EHLO and its
//! extensions, AUTH, the envelope, dot-stuffing, the replies and their codes) is exercised for
//! real rather than behind a stub transport.
//!
//! It is our own, a subset of RFC 5321 on std threads, because the crate it replaces pulled a
//! second TLS stack (aws-lc, a minute and a half of C) into every cold build for a server that
//! never speaks TLS. It can refuse recipients (550 at RCPT) or whole messages (451 at DATA), hold
//! one message inside DATA until the test lets it go, so a test knows exactly where a client
//! stands, and offer AUTH and record the credentials it was given.

use base64::Engine;
use std::collections::HashSet;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

const NAME: &str = "smtp.test";
/// The largest message accepted, announced in EHLO (RFC 1870) so a client can tell beforehand.
const MAX_MESSAGE: usize = 10 * 1024 * 1024;
/// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets, its CRLF included.
const MAX_COMMAND_LINE: usize = 512;
/// A client that goes silent (or a test that broke mid-conversation) ends its connection instead
/// of keeping a thread forever; longer than any wait in the tests, so it never cuts a slow client.
const IDLE: Duration = Duration::from_secs(60);

/// One message the server accepted.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope's reverse path, without its angle brackets (empty for `<>`).
    pub from: String,
    /// The envelope's accepted recipients, lower-cased.
    pub to: Vec<String>,
    /// The message as the client meant it: dot-stuffing undone, CRLF line ends kept.
    pub data: Vec<u8>,
}

impl Received {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default().parse(&self.data).expect("a parsable message")
    }

    /// The plain-text body.
    pub fn body_text(&self) -> String {
        self.parsed().body_text(0).expect("a text part").into_owned()
    }

    pub fn subject(&self) -> String {
        self.parsed().subject().expect("a subject").to_string()
    }
}

/// Credentials a client gave with AUTH, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub username: String,
    pub password: String,
}

/// A message held at the end of DATA: the client has sent it all and waits for the answer.
struct Hold {
    /// Which message to hold, counting from 0 in the order their DATA ended.
    index: usize,
    entered: tokio::sync::oneshot::Sender<Vec<String>>,
    /// `true` delivers the held message, `false` drops it; either way the client is answered 250.
    release: mpsc::Receiver<bool>,
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    refused_recipients: HashSet<String>,
    refuse_data: bool,
    ended: usize,
    hold: Option<Hold>,
    logins: Vec<Login>,
}

/// What every connection of one server shares.
struct Shared {
    state: Mutex<State>,
    /// Counts accepted messages, so a test can wait for the next one instead of sleeping.
    accepted: tokio::sync::watch::Sender<usize>,
    /// Offer AUTH, and refuse MAIL until the client has authenticated.
    auth: bool,
}

/// The server; it serves until the test process ends.
pub struct SmtpServer {
    pub port: u16,
    shared: Arc<Shared>,
    accepted: tokio::sync::watch::Receiver<usize>,
}

/// The test's side of a held message: learn that it arrived, then let it go.
pub struct Held {
    entered: tokio::sync::oneshot::Receiver<Vec<String>>,
    release: mpsc::Sender<bool>,
}

impl Held {
    /// Waits until the client has sent the whole held message; returns its recipients.
    pub async fn arrived(&mut self) -> Vec<String> {
        tokio::time::timeout(Duration::from_secs(60), &mut self.entered)
            .await
            .expect("the held message never arrived")
            .expect("the server dropped the hold")
    }

    /// Answers the held message; `deliver` records it as accepted (the client may never know).
    pub fn release(self, deliver: bool) {
        let _ = self.release.send(deliver);
    }
}

impl SmtpServer {
    /// Starts on a free loopback port.
    pub fn start() -> SmtpServer {
        SmtpServer::start_with(TcpListener::bind("127.0.0.1:0").expect("bind a loopback port"), false)
    }

    /// Starts on `port`, e.g. one a test first left closed.
    pub fn start_on(port: u16) -> SmtpServer {
        SmtpServer::start_with(TcpListener::bind(("127.0.0.1", port)).expect("bind the given port"), false)
    }

    /// Starts on a free loopback port offering `AUTH PLAIN LOGIN` without TLS, as a relay on the
    /// same machine may; MAIL is refused (530) until the client authenticated, so a message
    /// accepted proves its credentials came first. Any credentials are accepted and recorded
    /// ([`SmtpServer::logins`]).
    pub fn start_with_auth() -> SmtpServer {
        SmtpServer::start_with(TcpListener::bind("127.0.0.1:0").expect("bind a loopback port"), true)
    }

    fn start_with(listener: TcpListener, auth: bool) -> SmtpServer {
        let port = listener.local_addr().unwrap().port();
        let (accepted, watch) = tokio::sync::watch::channel(0);
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            accepted,
            auth,
        });
        let serving = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let shared = serving.clone();
                // A thread per connection: a message held inside DATA blocks only its own client.
                std::thread::spawn(move || {
                    let _ = Session::new(stream, &shared).and_then(Session::converse);
                });
            }
        });
        SmtpServer {
            port,
            shared,
            accepted: watch,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap()
    }

    /// 550 at RCPT for this address from now on.
    pub fn refuse_recipient(&self, address: &str) {
        self.state().refused_recipients.insert(address.to_ascii_lowercase());
    }

    /// 451 at DATA for every message (or stop doing so).
    pub fn refuse_data(&self, refuse: bool) {
        self.state().refuse_data = refuse;
    }

    pub fn accept_everyone(&self) {
        let mut state = self.state();
        state.refused_recipients.clear();
        state.refuse_data = false;
    }

    /// Holds the message whose DATA ends `index`-th (from 0, counting from the server's start)
    /// until [`Held::release`]: the client has sent it and waits for the server's answer.
    pub fn hold(&self, index: usize) -> Held {
        let (entered_tx, entered) = tokio::sync::oneshot::channel();
        let (release, release_rx) = mpsc::channel();
        self.state().hold = Some(Hold {
            index,
            entered: entered_tx,
            release: release_rx,
        });
        Held { entered, release }
    }

    /// How many messages were accepted so far.
    pub fn count(&self) -> usize {
        self.state().received.len()
    }

    /// Everything accepted so far, and forget it.
    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut self.state().received)
    }

    /// The credentials clients authenticated with, in order.
    pub fn logins(&self) -> Vec<Login> {
        self.state().logins.clone()
    }

    /// Waits until `n` messages in all were accepted since the server started (bounded, so a
    /// missing message fails the test rather than hanging it).
    pub async fn accepted(&self, n: usize) {
        let mut watch = self.accepted.clone();
        let waited = tokio::time::timeout(Duration::from_secs(60), watch.wait_for(|count| *count >= n))
            .await
            .is_ok();
        assert!(waited, "{n} messages were never accepted (got {})", *watch.borrow());
    }

    /// The accepted messages addressed to `address`.
    pub fn for_recipient(messages: &[Received], address: &str) -> Vec<Received> {
        messages.iter().filter(|m| m.to.iter().any(|t| t == address)).cloned().collect()
    }
}

/// A loopback port with nothing listening on it (bound, then released).
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One client's conversation.
struct Session<'a> {
    shared: &'a Shared,
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    /// EHLO or HELO came; MAIL before it is out of order.
    greeted: bool,
    authenticated: bool,
    /// The transaction under way: its reverse path once MAIL was accepted, and its recipients.
    from: Option<String>,
    to: Vec<String>,
}

impl<'a> Session<'a> {
    fn new(stream: TcpStream, shared: &'a Shared) -> io::Result<Session<'a>> {
        stream.set_read_timeout(Some(IDLE))?;
        stream.set_write_timeout(Some(IDLE))?;
        Ok(Session {
            shared,
            writer: stream.try_clone()?,
            reader: BufReader::new(stream),
            greeted: false,
            authenticated: false,
            from: None,
            to: Vec::new(),
        })
    }

    fn reply(&mut self, line: &str) -> io::Result<()> {
        self.writer.write_all(format!("{line}\r\n").as_bytes())
    }

    fn reset(&mut self) {
        self.from = None;
        self.to.clear();
    }

    /// The next command line without its CRLF; `None` once the client is gone or the stream can
    /// no longer be read as commands (the client was told why).
    fn command_line(&mut self) -> io::Result<Option<String>> {
        loop {
            let raw = read_line(&mut self.reader, MAX_COMMAND_LINE)?;
            if !raw.ends_with(b"\n") {
                if raw.len() == MAX_COMMAND_LINE {
                    // The rest of the line would be read as another command: stop here.
                    self.reply("500 command line too long")?;
                }
                return Ok(None);
            }
            match raw.strip_suffix(b"\r\n").map(std::str::from_utf8) {
                Some(Ok(line)) => return Ok(Some(line.to_string())),
                Some(Err(_)) => self.reply("500 a command is ASCII text")?,
                None => self.reply("500 a line ends with CRLF")?,
            }
        }
    }

    fn converse(mut self) -> io::Result<()> {
        self.reply(&format!("220 {NAME} ESMTP credwatch's test server"))?;
        while let Some(line) = self.command_line()? {
            let (verb, arg) = line.split_once(' ').unwrap_or((&line, ""));
            match verb.to_ascii_uppercase().as_str() {
                "EHLO" | "HELO" if arg.trim().is_empty() => self.reply("501 say who you are")?,
                "EHLO" => {
                    self.reset();
                    self.greeted = true;
                    let mut lines = vec![format!("{NAME} greets {arg}"), "8BITMIME".into(), format!("SIZE {MAX_MESSAGE}")];
                    if self.shared.auth {
                        lines.push("AUTH PLAIN LOGIN".into());
                    }
                    let last = lines.len() - 1;
                    for (i, l) in lines.iter().enumerate() {
                        self.reply(&format!("250{}{l}", if i == last { ' ' } else { '-' }))?;
                    }
                }
                "HELO" => {
                    self.reset();
                    self.greeted = true;
                    self.reply(&format!("250 {NAME}"))?;
                }
                "MAIL" => self.mail(arg)?,
                "RCPT" => self.rcpt(arg)?,
                "DATA" => self.data(arg)?,
                "RSET" if !arg.is_empty() => self.reply("501 RSET takes no argument")?,
                "RSET" => {
                    self.reset();
                    self.reply("250 reset")?;
                }
                "NOOP" => self.reply("250 ok")?,
                "QUIT" => return self.reply("221 bye"),
                "AUTH" if self.shared.auth => self.auth(arg)?,
                // Known commands this server does not offer (AUTH only when asked to).
                "AUTH" | "STARTTLS" | "VRFY" | "EXPN" | "HELP" | "TURN" | "ETRN" | "BDAT" => self.reply("502 command not implemented")?,
                _ => self.reply("500 command unrecognized")?,
            }
        }
        Ok(())
    }

    fn mail(&mut self, arg: &str) -> io::Result<()> {
        if !self.greeted {
            return self.reply("503 EHLO or HELO first");
        }
        if self.from.is_some() {
            return self.reply("503 a transaction is already under way");
        }
        if self.shared.auth && !self.authenticated {
            return self.reply("530 authentication required");
        }
        let Some((from, params)) = envelope_path(arg, "FROM:") else {
            return self.reply("501 MAIL FROM:<address> expected");
        };
        for param in params.split_whitespace() {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            match (key.to_ascii_uppercase().as_str(), value.to_ascii_uppercase().as_str()) {
                ("BODY", "7BIT" | "8BITMIME") => {}
                ("SIZE", size) => match size.parse::<usize>() {
                    Ok(size) if size > MAX_MESSAGE => return self.reply("552 message size exceeds fixed limit"),
                    Ok(_) => {}
                    Err(_) => return self.reply("501 SIZE=<octets> expected"),
                },
                _ => return self.reply(&format!("555 parameter {param} not recognized")),
            }
        }
        self.from = Some(from);
        self.reply("250 ok")
    }

    fn rcpt(&mut self, arg: &str) -> io::Result<()> {
        if self.from.is_none() {
            return self.reply("503 MAIL first");
        }
        let Some((to, params)) = envelope_path(arg, "TO:") else {
            return self.reply("501 RCPT TO:<address> expected");
        };
        if !params.trim().is_empty() {
            return self.reply(&format!("555 parameters {} not recognized", params.trim()));
        }
        let to = to.to_ascii_lowercase();
        if to.is_empty() {
            return self.reply("501 RCPT TO:<address> expected");
        }
        if self.shared.state.lock().unwrap().refused_recipients.contains(&to) {
            return self.reply("550 mailbox unavailable");
        }
        self.to.push(to);
        self.reply("250 ok")
    }

    fn data(&mut self, arg: &str) -> io::Result<()> {
        if !arg.is_empty() {
            return self.reply("501 DATA takes no argument");
        }
        if self.from.is_none() || self.to.is_empty() {
            return self.reply("503 MAIL and RCPT first");
        }
        // Refused at the DATA command: the client has sent no message, so nothing can be held
        // against it, and it learns before sending that the whole envelope failed.
        if self.shared.state.lock().unwrap().refuse_data {
            return self.reply("451 requested action aborted: local error in processing");
        }
        self.reply("354 end data with <CR><LF>.<CR><LF>")?;
        let message = self.read_message()?;
        let (from, to) = (self.from.take().unwrap_or_default(), std::mem::take(&mut self.to));
        let Some(data) = message else {
            return self.reply("552 message size exceeds fixed limit");
        };
        self.deliver(Received { from, to, data });
        self.reply("250 ok: queued")
    }

    /// Reads the message after 354 up to the line holding only a dot, undoing the client's
    /// dot-stuffing (RFC 5321 §4.5.2). `None` if it outgrew [`MAX_MESSAGE`]: the rest is read and
    /// dropped, so the conversation stays in step for the 552.
    fn read_message(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut data = Vec::new();
        let mut too_big = false;
        // A line, and so the end mark or a stuffed dot, starts only after a CRLF; DATA's ended one.
        let mut line_start = true;
        loop {
            let line = read_line(&mut self.reader, 64 * 1024)?;
            if line.is_empty() {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            if line_start && line == b".\r\n" {
                return Ok((!too_big).then_some(data));
            }
            let content = match line.strip_prefix(b".") {
                Some(rest) if line_start => rest,
                _ => &line[..],
            };
            line_start = line.ends_with(b"\r\n");
            if data.len() + content.len() > MAX_MESSAGE {
                too_big = true;
                data = Vec::new();
            }
            if !too_big {
                data.extend_from_slice(content);
            }
        }
    }

    /// Records the message unless the test holds it and then drops it. Runs before the client is
    /// answered: once a client reads 250, the test sees the message too.
    fn deliver(&self, message: Received) {
        let hold = {
            let mut state = self.shared.state.lock().unwrap();
            let index = state.ended;
            state.ended += 1;
            match state.hold.take() {
                Some(h) if h.index == index => Some(h),
                other => {
                    state.hold = other;
                    None
                }
            }
        };
        let deliver = match hold {
            Some(h) => {
                let _ = h.entered.send(message.to.clone());
                // A test that fails before releasing drops its side: the message is dropped too.
                h.release.recv().unwrap_or(false)
            }
            None => true,
        };
        if deliver {
            self.shared.state.lock().unwrap().received.push(message);
            self.shared.accepted.send_modify(|n| *n += 1);
        }
    }

    fn auth(&mut self, arg: &str) -> io::Result<()> {
        if !self.greeted {
            return self.reply("503 EHLO first");
        }
        if self.authenticated || self.from.is_some() {
            return self.reply("503 AUTH once, before MAIL");
        }
        if arg.trim().is_empty() {
            return self.reply("501 AUTH <mechanism> expected");
        }
        let (mechanism, initial) = arg.split_once(' ').map_or((arg, None), |(m, i)| (m, Some(i)));
        let login = match mechanism.to_ascii_uppercase().as_str() {
            // RFC 4616: [authzid] NUL authcid NUL passwd, possibly with the AUTH command itself.
            "PLAIN" => match self.auth_response(initial, "")? {
                Err(reply) => Err(reply),
                Ok(response) => match response.split(|b| *b == 0).collect::<Vec<_>>()[..] {
                    [_, username, password] => Ok((username.to_vec(), password.to_vec())),
                    _ => Err("501 PLAIN wants authzid NUL username NUL password"),
                },
            },
            // The obsolete LOGIN: username and password, each asked for on its own.
            "LOGIN" => match self.auth_response(initial, "VXNlcm5hbWU6")? {
                Err(reply) => Err(reply),
                Ok(username) => match self.auth_response(None, "UGFzc3dvcmQ6")? {
                    Err(reply) => Err(reply),
                    Ok(password) => Ok((username, password)),
                },
            },
            _ => return self.reply("504 unrecognized authentication mechanism"),
        };
        match login {
            Ok((username, password)) => {
                let login = Login {
                    username: String::from_utf8_lossy(&username).into_owned(),
                    password: String::from_utf8_lossy(&password).into_owned(),
                };
                self.shared.state.lock().unwrap().logins.push(login);
                self.authenticated = true;
                self.reply("235 authentication succeeded")
            }
            Err(reply) => self.reply(reply),
        }
    }

    /// The client's next base64 answer in an AUTH exchange, given with the command (`initial`)
    /// or asked for with a 334 carrying `challenge`. `Err` is the reply that ends the exchange.
    fn auth_response(&mut self, initial: Option<&str>, challenge: &str) -> io::Result<Result<Vec<u8>, &'static str>> {
        let line = match initial {
            Some(line) => line.to_string(),
            None => {
                self.reply(&format!("334 {challenge}"))?;
                match self.command_line()? {
                    Some(line) => line,
                    None => return Err(io::ErrorKind::UnexpectedEof.into()),
                }
            }
        };
        Ok(match line.trim() {
            "*" => Err("501 authentication cancelled"),
            // RFC 4954 §4: "=" is an empty initial response.
            "=" => Ok(Vec::new()),
            encoded => base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| "501 not base64"),
        })
    }
}

/// Splits `FROM:<path> params` (or `TO:`), the keyword case-insensitive, into the path without
/// its brackets and the parameters; `None` if it is not of that shape.
fn envelope_path<'s>(arg: &'s str, keyword: &str) -> Option<(String, &'s str)> {
    let (head, rest) = arg.split_at_checked(keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let (path, params) = rest.trim_start().strip_prefix('<')?.split_once('>')?;
    Some((path.to_string(), params))
}

/// Reads up to and including the next LF, at most `limit` octets; empty at the end of the stream.
fn read_line(reader: &mut impl BufRead, limit: usize) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    reader.by_ref().take(limit as u64).read_until(b'\n', &mut line)?;
    Ok(line)
}
