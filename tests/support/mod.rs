//! The one test harness: a [`World`] (the Graph emulator, a temp dir with the database, the
//! config file as a struct and the environment variables it names), the real app on a port
//! ([`app::TestApp`]), builders for what tenants list ([`graph`]), a real SMTP server
//! ([`smtp`]), a webhook receiver ([`webhook`]), the binary as a process ([`process`]), and real
//! parsers for what credwatch answers ([`parse`]).
//!
//! Also compiled into `examples/browser_fixture.rs`, which uses only part of it.
#![allow(dead_code)]

pub mod app;
pub mod config;
pub mod fixture;
pub mod graph;
pub mod logs;
pub mod parse;
pub mod process;
pub mod smtp;
pub mod webhook;

/// The Graph emulator, imported here only: when it moves to a crate of its own, this line is
/// the one to change.
pub use credwatch_emulator as emu;

use config::{ConfigFile, Database, Environment, Schedule, Server, Sync};
use credwatch::config::Config;
use credwatch::domain::Credential;
use credwatch::startup::open_store;
use credwatch::store::{CredentialFilter, Store};
use credwatch::sync::{EnvironmentReport, Syncer};
use emu::{ClientAuth, Emulator};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The client secret every emulated app registration accepts.
pub const SECRET: &str = "Abc8Q~test-secret-value";

/// The tenants and the client (credwatch's app registration) most tests watch.
pub const PROD_TENANT: &str = "11111111-1111-4111-8111-111111111111";
pub const TEST_TENANT: &str = "22222222-2222-4222-8222-222222222222";
pub const CLIENT: &str = "cccccccc-cccc-4ccc-8ccc-cccccccccccc";

/// A test's world. The config file starts with the database in the temp dir, both jobs off
/// (tests drive them), quick bounded retries and a public URL; tests add environments and
/// change fields before asking for [`World::config`].
pub struct World {
    pub emu: Emulator,
    pub dir: tempfile::TempDir,
    /// The environment variables the config refers to (secrets, tokens, webhook URLs).
    pub vars: BTreeMap<String, String>,
    pub file: ConfigFile,
}

impl World {
    pub async fn new() -> World {
        let emu = Emulator::start().await.expect("the emulator starts");
        let dir = tempfile::tempdir().expect("a temp dir");
        let file = ConfigFile {
            server: Some(Server {
                public_url: Some("https://credwatch.example.com/".into()),
                ..Server::default()
            }),
            database: Some(Database {
                url: Some(format!("sqlite://{}", dir.path().join("credwatch.db").display())),
            }),
            schedule: Some(Schedule {
                sync: Some(String::new()),
                remind: Some(String::new()),
            }),
            sync: Some(Sync {
                max_attempts: Some(3),
                request_timeout_secs: Some(5),
                max_backoff_secs: Some(1),
                ..Sync::default()
            }),
            ..ConfigFile::default()
        };
        World {
            emu,
            dir,
            vars: BTreeMap::new(),
            file,
        }
    }

    /// A tenant in the emulator where `client` signs in with [`SECRET`], and the environment
    /// `name` watching it (secret in `NAME_SECRET`). Returns the config entry to adjust.
    pub fn tenant(&mut self, name: &str, tenant: &str, client: &str) -> &mut Environment {
        self.emu.add_tenant(tenant);
        self.emu.register_client(
            tenant,
            client,
            ClientAuth::Secret {
                value: SECRET.into(),
                expired: false,
            },
        );
        let entry = self.environment(name, tenant, client);
        self.file.environments.push(entry);
        self.file.environments.last_mut().unwrap()
    }

    /// A config entry for `name` pointed at the emulator, its secret in `NAME_SECRET` (set to
    /// [`SECRET`]); nothing registered in the emulator. Usage is off: an emulated tenant has no
    /// sign-ins unless a test records them, so every credential would be idle and get a cleanup
    /// notice instead of the ladder; tests of usage turn it on (`usage = Some(true)`).
    pub fn environment(&mut self, name: &str, tenant: &str, client: &str) -> Environment {
        let var = secret_var(name);
        self.vars.entry(var.clone()).or_insert_with(|| SECRET.into());
        let mut entry = Environment {
            name: Some(name.into()),
            tenant_id: Some(tenant.into()),
            client_id: Some(client.into()),
            client_secret_env: Some(var),
            usage: Some(false),
            ..Environment::default()
        };
        entry.served_by(&self.emu.url());
        entry
    }

    /// A world watching `prod`, which notifies oncall@example.com; its tenant lists one app,
    /// `payments`, with one secret ending in `days_left` days.
    pub async fn with_one_secret(days_left: i64) -> World {
        use graph::AppBuilder;
        let mut w = World::new().await;
        w.tenant("prod", PROD_TENANT, CLIENT).notify = vec!["oncall@example.com".into()];
        let secret = emu::PasswordCredential {
            hint: Some("abc".into()),
            ..graph::secret(
                "5ec7e700-0000-4000-8000-000000000001",
                "prod secret",
                graph::now() + graph::days(days_left),
            )
        };
        w.emu
            .set_applications(PROD_TENANT, vec![graph::app(1, "payments").secrets(vec![secret])]);
        w
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("credwatch.db")
    }

    /// A file under `tests/fixtures/`.
    pub fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
    }

    /// The config as credwatch loads it from the file and this world's variables; retry
    /// backoff shortened, which no config key offers.
    pub fn config(&self) -> Config {
        let vars = self.vars.clone();
        let text = self.file.to_toml();
        let mut config = Config::from_toml(&text, None, &move |k| vars.get(k).cloned())
            .unwrap_or_else(|e| panic!("the test config does not load: {e}\n{text}"));
        config.sync.backoff_base = Duration::from_millis(20);
        config
    }

    /// Writes the config file for the binary; returns its path.
    pub fn write_config(&self) -> PathBuf {
        let path = self.dir.path().join("credwatch.toml");
        std::fs::write(&path, self.file.to_toml()).expect("the config file is written");
        path
    }

    /// Opens the store of `config` as every command does.
    pub async fn store(&self, config: &Config) -> Store {
        open_store(config).await.expect("the store opens")
    }

    /// One sync of every environment of this world's config, as `credwatch sync` runs it.
    pub async fn try_sync(&self) -> Vec<EnvironmentReport> {
        self.try_sync_with(&self.config()).await
    }

    pub async fn try_sync_with(&self, config: &Config) -> Vec<EnvironmentReport> {
        let store = self.store(config).await;
        Syncer::new(config, store).sync_all(None, &CancellationToken::new(), |_| {}).await
    }

    /// Syncs every environment of `config`, asserting each succeeded; returns the store.
    pub async fn sync_with(&self, config: &Config) -> Store {
        let store = self.store(config).await;
        let reports = Syncer::new(config, store.clone())
            .sync_all(None, &CancellationToken::new(), |_| {})
            .await;
        assert!(reports.iter().all(|r| r.succeeded()), "{reports:?}");
        store
    }

    /// The live credentials in the store.
    pub async fn live(&self) -> Vec<Credential> {
        self.store(&self.config())
            .await
            .credentials(&CredentialFilter::default())
            .await
            .expect("credentials are read")
    }

    /// Runs the real binary with this world's variables and nothing else of the test's
    /// environment; returns (exit code, stdout, stderr).
    pub async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut cmd = process::command(self);
        cmd.args(args);
        process::output(cmd).await
    }
}

/// An HTTP client for talking to the app, the emulator or anything else a test starts. reqwest is
/// built without a crypto provider of its own, so the process-wide one is installed first, as
/// `main` does.
pub fn http() -> reqwest::Client {
    http_builder().build().expect("an HTTP client")
}

/// [`http`]'s builder, for a client with settings of its own.
pub fn http_builder() -> reqwest::ClientBuilder {
    credwatch::tls::install();
    reqwest::Client::builder()
}

/// The variable holding environment `name`'s client secret.
pub fn secret_var(name: &str) -> String {
    format!("{}_SECRET", name.to_uppercase().replace('-', "_"))
}
