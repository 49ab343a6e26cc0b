//! credwatch's log lines, captured in memory as the text formatter writes them, for tests that
//! check what a request or a failure logged.
//!
//! A tracing subscriber is process-wide and the app's worker threads log too, so the capture is
//! global: installed on first use, it keeps every line credwatch logs in this test binary from
//! then on. A test looks for a value its own request carries (a request id, a token).

use std::io::Write;
use std::sync::{Mutex, OnceLock};

fn buffer() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    static INIT: OnceLock<()> = OnceLock::new();
    let logs = LOGS.get_or_init(|| Mutex::new(Vec::new()));
    INIT.get_or_init(|| {
        tracing_subscriber::fmt()
            .with_env_filter("credwatch=debug")
            .with_ansi(false)
            .with_writer(|| Writer)
            .init();
    });
    logs
}

/// Starts capturing (if not yet): call before the app under test starts.
pub fn capture() {
    buffer();
}

struct Writer;

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        buffer().lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The captured lines containing `needle`.
pub fn lines_containing(needle: &str) -> Vec<String> {
    String::from_utf8_lossy(&buffer().lock().unwrap())
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}
