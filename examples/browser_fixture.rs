//! Serves credwatch with realistic data for the browser check and the page benchmark: the Graph
//! emulator with three tenants, synced once, then the real server until Ctrl-C.
//!
//! ```text
//! cargo run --example browser_fixture -- [--listen 127.0.0.1:8088] [--apps 40] [--db PATH] [--no-sync]
//! ```
//! Prints `READY http://ADDR` once it serves, after `LINK /act/…`: a signed "I'm on it" link as
//! a reminder carries it, for the browser check to follow. `--no-sync` serves an existing
//! database as it is (the benchmark seeds its own). Dashboard actions are on
//! (`anonymous_actions`), so the application page shows its forms.

#[path = "../tests/support/mod.rs"]
mod support;

use credwatch::startup::{Application, shutdown_signal};
use support::{World, fixture};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut listen = "127.0.0.1:8088".to_string();
    let mut apps = 40usize;
    let mut db: Option<String> = None;
    let mut sync = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next().expect("--listen ADDR"),
            "--apps" => apps = args.next().expect("--apps N").parse()?,
            "--db" => db = Some(args.next().expect("--db PATH")),
            "--no-sync" => sync = false,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        // stdout carries only the READY line the scripts wait for.
        .with_writer(std::io::stderr)
        .init();
    let mut w = World::new().await;
    fixture::three_environments(&mut w, apps);
    if let Some(db) = db {
        w.file.database.get_or_insert_default().url = Some(format!("sqlite://{db}"));
    }
    w.file.server().auth.get_or_insert_default().anonymous_actions = Some(true);
    let config = w.config();
    let listener = std::net::TcpListener::bind(&listen)?;
    let addr = listener.local_addr()?;
    let app = Application::build(config.clone(), Some(listener)).await?;
    if sync {
        fixture::sync(&w, &config, app.store()).await;
        println!("LINK {}", acknowledge_link(app.store()).await?);
    }
    println!("READY http://{addr}");
    app.run_until_stopped(shutdown_signal()).await?;
    Ok(())
}

/// An "I'm on it" link for prod's first live credential, signed as a digest to ops@ signs it.
async fn acknowledge_link(store: &credwatch::store::Store) -> anyhow::Result<String> {
    use credwatch::domain::{LINK_VALID_DAYS, LinkAction, LinkClaims, Timestamp};
    let credentials = store.credentials(&Default::default()).await?;
    let c = credentials
        .iter()
        .find(|c| c.environment == "prod")
        .ok_or_else(|| anyhow::anyhow!("prod has no credential"))?;
    let claims = LinkClaims {
        credential_id: c.id,
        action: LinkAction::Acknowledge,
        recipient: "ops@example.com".into(),
        expires: Timestamp::from(chrono::Utc::now()).plus_days(LINK_VALID_DAYS).unix_seconds(),
        id: uuid::Uuid::new_v4().simple().to_string(),
    };
    Ok(format!("/act/{}", store.link_signer(None).await?.sign(&claims)))
}
