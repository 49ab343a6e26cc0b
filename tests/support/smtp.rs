//! A real SMTP server on a loopback port (mailin-embedded, in process) that records what it
//! accepted. It can refuse recipients (550 at RCPT) or whole messages (451 at DATA), and hold one
//! message inside DATA until the test lets it go, so a test knows exactly where a client stands.

use mailin_embedded::{Handler, Response, Server, SslConfig, response};
use std::collections::HashSet;
use std::net::{IpAddr, TcpListener};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

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

    /// The plain-text body.
    pub fn body_text(&self) -> String {
        self.parsed().body_text(0).expect("a text part").into_owned()
    }

    pub fn subject(&self) -> String {
        self.parsed().subject().expect("a subject").to_string()
    }
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
}

#[derive(Clone)]
struct Recorder {
    state: Arc<Mutex<State>>,
    /// Counts accepted messages, so a test can wait for the next one instead of sleeping.
    accepted: Arc<tokio::sync::watch::Sender<usize>>,
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
        let message = Received {
            from: self.from.clone(),
            to: self.to.clone(),
            data: std::mem::take(&mut self.data),
        };
        let hold = {
            let mut state = self.state.lock().unwrap();
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
        // This runs on one of mailin's own threads: blocking it blocks only this connection.
        let deliver = match hold {
            Some(h) => {
                let _ = h.entered.send(message.to.clone());
                h.release.recv().unwrap_or(false)
            }
            None => true,
        };
        if deliver {
            self.state.lock().unwrap().received.push(message);
            self.accepted.send_modify(|n| *n += 1);
        }
        response::OK
    }
}

/// The server; it serves until the test process ends.
pub struct SmtpServer {
    pub port: u16,
    state: Arc<Mutex<State>>,
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
        SmtpServer::start_with(TcpListener::bind("127.0.0.1:0").expect("bind a loopback port"))
    }

    /// Starts on `port`, e.g. one a test first left closed.
    pub fn start_on(port: u16) -> SmtpServer {
        SmtpServer::start_with(TcpListener::bind(("127.0.0.1", port)).expect("bind the given port"))
    }

    fn start_with(listener: TcpListener) -> SmtpServer {
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let (accepted, watch) = tokio::sync::watch::channel(0);
        let handler = Recorder {
            state: state.clone(),
            accepted: Arc::new(accepted),
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
        SmtpServer {
            port,
            state,
            accepted: watch,
        }
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

    pub fn accept_everyone(&self) {
        let mut state = self.state.lock().unwrap();
        state.refused_recipients.clear();
        state.refuse_data = false;
    }

    /// Holds the message whose DATA ends `index`-th (from 0, counting from the server's start)
    /// until [`Held::release`]: the client has sent it and waits for the server's answer.
    pub fn hold(&self, index: usize) -> Held {
        let (entered_tx, entered) = tokio::sync::oneshot::channel();
        let (release, release_rx) = mpsc::channel();
        self.state.lock().unwrap().hold = Some(Hold {
            index,
            entered: entered_tx,
            release: release_rx,
        });
        Held { entered, release }
    }

    /// How many messages were accepted so far.
    pub fn count(&self) -> usize {
        self.state.lock().unwrap().received.len()
    }

    /// Everything accepted so far, and forget it.
    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut self.state.lock().unwrap().received)
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
