//! The `credwatch` binary as a process. `serve` is followed through its JSON log on stderr, so a
//! test waits for what the process says it did (listening, a sync finished, Graph throttled)
//! instead of polling or sleeping.

use super::World;
use serde_json::Value;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The binary with the world's variables, in the world's directory, and nothing else of the
/// test's environment.
pub fn command(w: &World) -> Command {
    let mut cmd = Command::new(binary());
    in_world(&mut cmd, w);
    cmd
}

/// [`command`] run by `sh` under `umask` (umask is per process; setting it in the test process
/// would leak into the tests running beside it).
pub fn command_with_umask(w: &World, umask: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!("umask {umask} && exec \"$0\" \"$@\"")).arg(binary());
    in_world(&mut cmd, w);
    cmd
}

/// Runs `cmd` to the end; returns (exit code, stdout, stderr).
pub async fn output(mut cmd: Command) -> (i32, String, String) {
    // Blocking wait on a worker thread: the emulator keeps serving on the runtime meanwhile.
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// Cargo names the binary to integration tests only; the browser fixture example, which shares
// this file, never runs it: the panic can only come from a misuse there.
#[allow(clippy::option_env_unwrap)]
fn binary() -> &'static str {
    option_env!("CARGO_BIN_EXE_credwatch").expect("the credwatch binary (integration tests only)")
}

fn in_world(cmd: &mut Command, w: &World) {
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(&w.vars)
        .current_dir(w.dir.path());
}

/// Sends SIGTERM, as systemd and `docker stop` do.
pub fn sigterm(child: &Child) {
    let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(status.success(), "kill -TERM {}", child.id());
}

/// A `credwatch` command running with `--log-format json`, followed through its stderr.
pub struct Running {
    child: Option<Child>,
    /// Every stderr line so far (log lines and anything else).
    stderr: Arc<Mutex<Vec<String>>>,
    lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Running {
    /// Starts `credwatch ARGS --log-format json --config FILE` on the world's written config.
    pub fn start(w: &World, args: &[&str]) -> Running {
        let path = w.write_config();
        let mut cmd = command(w);
        cmd.args(args)
            .args(["--log-format", "json", "--config"])
            .arg(path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("credwatch starts");
        let stderr = child.stderr.take().unwrap();
        let all: Arc<Mutex<Vec<String>>> = Arc::default();
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        let keep = all.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                keep.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        Running {
            child: Some(child),
            stderr: all,
            lines,
        }
    }

    /// Waits (bounded) for the next JSON log line matching `matches`; returns it.
    pub async fn wait_for_log(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let found = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = self.lines.recv().await {
                if let Ok(json) = serde_json::from_str::<Value>(&line)
                    && matches(&json)
                {
                    return Some(json);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            Ok(None) => panic!("credwatch exited before {what}:\n{}", self.stderr()),
            Err(_) => panic!("no log line for {what} within a minute:\n{}", self.stderr()),
        }
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// SIGKILL, then waits for the process to be gone.
    pub async fn kill(mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().expect("SIGKILL");
        tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .expect("waiting for credwatch");
    }

    /// Waits (bounded) for the process to exit by itself; returns the status and all of stderr.
    pub async fn exit(mut self, within: Duration) -> (ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        let pid = child.id().to_string();
        let exited = tokio::time::timeout(within, tokio::task::spawn_blocking(move || child.wait())).await;
        let Ok(status) = exited else {
            let _ = Command::new("kill").arg("-KILL").arg(&pid).status();
            panic!("credwatch did not exit within {within:?}:\n{}", self.stderr());
        };
        let status = status.unwrap().expect("waiting for credwatch");
        // The reader thread sees the end of the pipe once the process is gone.
        while self.lines.recv().await.is_some() {}
        (status, self.stderr())
    }

    /// Sends SIGTERM and waits for the exit, failing if it takes `within` or longer.
    pub async fn terminate(self, within: Duration) -> (ExitStatus, String) {
        sigterm(self.child.as_ref().unwrap());
        self.exit(within).await
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `credwatch serve`, listening: the config's `server.listen` should be `127.0.0.1:0`, the port
/// comes from its log.
pub struct Serve {
    pub process: Running,
    pub port: u16,
}

impl Serve {
    pub async fn start(w: &World) -> Serve {
        let mut process = Running::start(w, &["serve"]);
        let listening = process.wait_for_log("the server listening", |l| l["message"] == "serving").await;
        let port = listening["port"].as_u64().expect("the port in the log") as u16;
        Serve { process, port }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}
