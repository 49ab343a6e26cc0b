//! Shared test setup: a Graph emulator with tenants, and configs pointing credwatch at it.
#![allow(dead_code)]

use credwatch::config::Config;
use credwatch_emulator::{ClientAuth, Emulator};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const SECRET: &str = "Abc8Q~test-secret-value";

/// A test's world: an emulator, a temp directory with the database, and the env variables the
/// config refers to.
pub struct World {
    pub emu: Emulator,
    pub dir: tempfile::TempDir,
    pub vars: HashMap<String, String>,
    /// The `[sync]` table of the config: quick, bounded retries by default.
    pub sync_table: String,
    /// The `[schedule]` table: jobs off by default, tests drive them.
    pub schedule_table: String,
}

/// One environment of the config under test.
pub struct Env<'a> {
    pub name: &'a str,
    pub tenant: &'a str,
    pub client: &'a str,
    /// The TOML line(s) naming the secret source, e.g. `client_secret_env = "X"`.
    pub source: String,
}

impl<'a> Env<'a> {
    pub fn secret(name: &'a str, tenant: &'a str, client: &'a str) -> Env<'a> {
        Env {
            name,
            tenant,
            client,
            source: format!("client_secret_env = \"{}_SECRET\"", name.to_uppercase().replace('-', "_")),
        }
    }
}

impl World {
    pub async fn new() -> World {
        World {
            emu: Emulator::start().await.expect("emulator starts"),
            dir: tempfile::tempdir().unwrap(),
            vars: HashMap::new(),
            sync_table: "[sync]\nmax_attempts = 3\nrequest_timeout_secs = 5\nmax_backoff_secs = 1\n".into(),
            schedule_table: "[schedule]\nsync = \"\"\nremind = \"\"\n".into(),
        }
    }

    /// Registers a tenant and a client with a secret in the emulator, and the secret in the env.
    pub fn tenant_with_secret(&mut self, env_name: &str, tenant: &str, client: &str) {
        self.emu.add_tenant(tenant);
        self.emu.register_client(
            tenant,
            client,
            ClientAuth::Secret {
                value: SECRET.into(),
                expired: false,
            },
        );
        self.vars
            .insert(format!("{}_SECRET", env_name.to_uppercase().replace('-', "_")), SECRET.into());
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("credwatch.db")
    }

    pub fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
    }

    /// The config file text: environments pointed at the emulator, quick retries, jobs off.
    pub fn config_text(&self, envs: &[Env], extra: &str) -> String {
        let url = self.emu.url();
        let mut text = format!(
            "[database]\nurl = \"sqlite://{}\"\n{}{}{extra}\n",
            self.db_path().display(),
            self.schedule_table,
            self.sync_table
        );
        for e in envs {
            text.push_str(&format!(
                "[[environments]]\nname = \"{}\"\ntenant_id = \"{}\"\nclient_id = \"{}\"\n{}\nauthority_host = \"{url}\"\ngraph_url = \"{url}\"\n",
                e.name, e.tenant, e.client, e.source
            ));
        }
        text
    }

    /// Parses the config with this world's env variables; backoff shortened for tests.
    pub fn config(&self, envs: &[Env], extra: &str) -> Config {
        let vars = self.vars.clone();
        let mut config =
            Config::from_toml(&self.config_text(envs, extra), None, &move |k| vars.get(k).cloned()).expect("test config is valid");
        config.sync.backoff_base = Duration::from_millis(20);
        config
    }

    /// Writes the config to a file for the binary.
    pub fn write_config(&self, envs: &[Env], extra: &str) -> PathBuf {
        let path = self.dir.path().join("credwatch.toml");
        std::fs::write(&path, self.config_text(envs, extra)).unwrap();
        path
    }

    /// Runs the real binary with this world's env variables; returns (exit code, stdout, stderr).
    pub async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_credwatch"));
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .current_dir(self.dir.path());
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
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
}
