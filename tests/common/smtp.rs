//! A real SMTP server on a loopback port (mailin-embedded, in process) that records what it
//! accepted and can be told to refuse recipients (550 at RCPT) or whole messages (451 at DATA).

#![allow(dead_code)]

use mailin_embedded::{Handler, Response, Server, SslConfig, response};
use std::collections::HashSet;
use std::net::{IpAddr, TcpListener};
use std::sync::{Arc, Mutex};

/// One message the server accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

impl Received {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }

    pub fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default().parse(&self.data).expect("a parsable message")
    }
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    refused_recipients: HashSet<String>,
    refuse_data: bool,
    /// How long the server takes to accept a message at the end of DATA.
    accept_delay: Option<std::time::Duration>,
}

#[derive(Clone)]
struct Recorder {
    state: Arc<Mutex<State>>,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Recorder {
    fn mail(&mut self, _ip: IpAddr, _domain: &str, from: &str) -> Response {
        self.from = from.to_string();
        self.to.clear();
        self.data.clear();
        response::OK
    }

    fn rcpt(&mut self, to: &str) -> Response {
        let address = to.trim_matches(|c| c == '<' || c == '>').to_ascii_lowercase();
        if self.state.lock().unwrap().refused_recipients.contains(&address) {
            return response::NO_MAILBOX;
        }
        self.to.push(address);
        response::OK
    }

    // Refusing at the DATA command rather than after the message: mailin stays in its data state
    // after a refusal at the end of data and never answers the client's QUIT.
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, _to: &[String]) -> Response {
        if self.state.lock().unwrap().refuse_data {
            return response::INTERNAL_ERROR;
        }
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let delay = self.state.lock().unwrap().accept_delay;
        if let Some(delay) = delay {
            std::thread::sleep(delay);
        }
        let mut state = self.state.lock().unwrap();
        state.received.push(Received {
            from: self.from.clone(),
            to: self.to.clone(),
            data: std::mem::take(&mut self.data),
        });
        response::OK
    }
}

/// The server; it serves until the test process ends.
pub struct SmtpServer {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl SmtpServer {
    /// Starts on a free loopback port.
    pub fn start() -> SmtpServer {
        SmtpServer::start_with(TcpListener::bind("127.0.0.1:0").expect("bind a loopback port"))
    }

    /// Starts on `port`, e.g. one a test first left closed.
    pub fn start_on(port: u16) -> SmtpServer {
        SmtpServer::start_with(TcpListener::bind(("127.0.0.1", port)).expect("bind the given port"))
    }

    fn start_with(listener: TcpListener) -> SmtpServer {
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let handler = Recorder {
            state: state.clone(),
            from: String::new(),
            to: Vec::new(),
            data: Vec::new(),
        };
        let mut server = Server::new(handler);
        server
            .with_name("smtp.test")
            .with_ssl(SslConfig::None)
            .expect("no TLS")
            .with_tcp_listener(listener)
            .with_num_threads(16);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        SmtpServer { port, state }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// 550 at RCPT for this address from now on.
    pub fn refuse_recipient(&self, address: &str) {
        self.state.lock().unwrap().refused_recipients.insert(address.to_ascii_lowercase());
    }

    /// 451 at DATA for every message (or stop doing so).
    pub fn refuse_data(&self, refuse: bool) {
        self.state.lock().unwrap().refuse_data = refuse;
    }

    /// Take this long to accept each message (a slow server), or answer at once with `None`.
    pub fn accept_delay(&self, delay: Option<std::time::Duration>) {
        self.state.lock().unwrap().accept_delay = delay;
    }

    pub fn accept_everyone(&self) {
        let mut state = self.state.lock().unwrap();
        state.refused_recipients.clear();
        state.refuse_data = false;
    }

    /// How many messages were accepted so far.
    pub fn count(&self) -> usize {
        self.state.lock().unwrap().received.len()
    }

    /// Everything accepted so far, and forget it.
    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut self.state.lock().unwrap().received)
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
