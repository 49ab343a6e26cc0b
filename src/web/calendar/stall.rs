//! Readers that stop reading are cut off. actix-web has timeouts for a request's head and for
//! idle keep-alive, but none while a response is being written: a client that requests a large
//! answer and never reads keeps its connection (and what is buffered for it) as long as it likes.
//!
//! [`guard`] wraps a streamed body. Each chunk it hands over starts a clock, and the server asking
//! for the next chunk stops it; the server asks only once the socket took the previous ones, so a
//! clock that runs past the limit means the reader took nothing for that long. Time spent
//! producing a chunk (reading the store) never counts against the reader. A reader cut off gets a
//! reset: a FIN would wait behind the data it does not take, and keep the connection half alive.
//!
//! The guard needs the connection's socket, which a handler cannot see: [`remember_socket`],
//! installed with `HttpServer::on_connect`, keeps a second descriptor of it with the connection.

use actix_web::dev::Extensions;
use futures_util::Stream;
use std::any::Any;
use std::cell::Cell;
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// A connection's socket: a second descriptor of the one the server reads and writes, closed
/// with the connection.
#[derive(Clone, Debug)]
pub struct ConnectionSocket(Rc<std::net::TcpStream>);

/// For `HttpServer::on_connect`: remembers each TCP connection's socket in its connection data.
pub fn remember_socket(connection: &dyn Any, data: &mut Extensions) {
    if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>()
        && let Ok(fd) = tcp.as_fd().try_clone_to_owned()
    {
        data.insert(ConnectionSocket(Rc::new(std::net::TcpStream::from(fd))));
    }
}

/// What the body and its watchdog share.
#[derive(Default)]
struct Shared {
    /// When the last chunk was handed over and the next is not yet asked for.
    handed_at: Cell<Option<Instant>>,
    /// The body ended or was dropped.
    over: Cell<bool>,
    wake: Notify,
}

/// A body whose reader is cut off after taking nothing for `limit`.
pub struct Guarded<S> {
    inner: Pin<Box<S>>,
    shared: Rc<Shared>,
}

/// Wraps `body`; without a socket (a connection that is not TCP) it is passed through unwatched.
/// Must be called on the worker that serves the request (it spawns the watchdog there).
pub fn guard<S>(body: S, socket: Option<ConnectionSocket>, limit: Duration) -> Guarded<S> {
    let shared = Rc::new(Shared::default());
    if let Some(socket) = socket {
        actix_web::rt::spawn(watch(shared.clone(), socket, limit));
    }
    Guarded {
        inner: Box::pin(body),
        shared,
    }
}

async fn watch(shared: Rc<Shared>, socket: ConnectionSocket, limit: Duration) {
    loop {
        let deadline = shared.handed_at.get().map_or_else(|| Instant::now() + limit, |t| t + limit);
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
        if shared.over.get() {
            return;
        }
        if shared.handed_at.get().is_some_and(|t| t.elapsed() >= limit) {
            tracing::warn!(
                peer = ?socket.0.peer_addr().ok(),
                seconds = limit.as_secs_f64(),
                "a reader took nothing of its answer for too long; its connection is reset"
            );
            cut(&socket.0);
            return;
        }
    }
}

/// Resets the connection: zero linger makes the last close send RST and drop what is queued;
/// the shutdown wakes the server's pending write, which fails, so it closes its side now.
fn cut(socket: &std::net::TcpStream) {
    let _ = socket2::SockRef::from(socket).set_linger(Some(Duration::ZERO));
    let _ = socket.shutdown(Shutdown::Both);
}

impl<S: Stream> Stream for Guarded<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        self.shared.handed_at.set(None);
        let polled = self.inner.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(_)) => {
                self.shared.handed_at.set(Some(Instant::now()));
                // The watchdog re-arms for this chunk.
                self.shared.wake.notify_one();
            }
            Poll::Ready(None) => {
                self.shared.over.set(true);
                self.shared.wake.notify_one();
            }
            Poll::Pending => {}
        }
        polled
    }
}

impl<S> Drop for Guarded<S> {
    fn drop(&mut self) {
        self.shared.over.set(true);
        self.shared.wake.notify_one();
    }
}
