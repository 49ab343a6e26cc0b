//! The real app as `serve` builds it, on a port of its own, stopped when the test drops it.

use super::parse::Page;
use credwatch::config::Config;
use credwatch::startup::Application;
use credwatch::store::Store;
use credwatch::sync::Syncer;
use credwatch::web::auth::AuthGuard;
use serde_json::Value;
use std::net::TcpListener;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    port: u16,
    pub http: reqwest::Client,
    pub store: Store,
    pub config: Config,
    /// The access guard, to count password checks.
    pub guard: Arc<AuthGuard>,
    stop: CancellationToken,
    running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    /// Builds the app on 127.0.0.1:0 and runs it (web server and the scheduled jobs `config`
    /// turns on) until [`TestApp::stop`] or drop.
    pub async fn start(config: Config) -> TestApp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let app = Application::build(config.clone(), Some(listener)).await.expect("the app builds");
        let port = app.port();
        let store = app.store().clone();
        let guard = app.auth_guard();
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let running = tokio::spawn(app.run_until_stopped(async move { stopped.cancelled().await }));
        TestApp {
            port,
            http: super::http(),
            store,
            config,
            guard,
            stop,
            running: Some(running),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// An HTML page that must answer 200, parsed.
    pub async fn page(&self, path: &str) -> Page {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8", "GET {path}");
        Page::parse(&r.text().await.unwrap())
    }

    /// A JSON answer that must be 200.
    pub async fn json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap_or_else(|e| panic!("GET {path}: not JSON: {e}"))
    }

    /// `/api/v1/credentials{query}`'s list.
    pub async fn credentials(&self, query: &str) -> Vec<Value> {
        let body = self.json(&format!("/api/v1/credentials{query}")).await;
        body["credentials"].as_array().expect("a credentials array").clone()
    }

    /// Syncs `only` (or every environment) into the app's store, asserting success.
    pub async fn sync(&self, only: Option<&str>) {
        let reports = Syncer::new(&self.config, self.store.clone())
            .sync_all(only, &CancellationToken::new(), |_| {})
            .await;
        assert!(reports.iter().all(|r| r.succeeded()), "{reports:?}");
    }

    /// Stops the app as SIGTERM would and waits for it to finish.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(running) = self.running.take() {
            running.await.expect("the app task").expect("the app stops cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The task then finishes on its own; a test that cares about how awaits `stop`.
        self.stop.cancel();
    }
}
