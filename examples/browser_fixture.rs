//! Serves credwatch with realistic data for the browser check and the page benchmark: the Graph
//! emulator with three tenants, synced once, then the real server until Ctrl-C.
//!
//! ```text
//! cargo run --example browser_fixture -- [--listen 127.0.0.1:8088] [--apps 40] [--db PATH] [--no-sync]
//! ```
//! Prints `READY http://ADDR` once it serves. `--no-sync` serves an existing database as it is
//! (the benchmark seeds its own).

#[path = "../tests/common/web.rs"]
mod fixture;

use credwatch::startup::{Application, shutdown_signal};

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
        .init();
    let dir = tempfile::tempdir()?;
    let db = db.unwrap_or_else(|| dir.path().join("credwatch.db").display().to_string());
    let emu = fixture::emulator(apps).await?;
    let config = fixture::config(&emu.url(), &format!("sqlite://{db}"), &listen);
    let listener = std::net::TcpListener::bind(&listen)?;
    let addr = listener.local_addr()?;
    let app = Application::build(config.clone(), Some(listener)).await?;
    if sync {
        fixture::sync(&config, app.store(), &emu).await;
    }
    println!("READY http://{addr}");
    app.run_until_stopped(shutdown_signal()).await?;
    emu.stop().await;
    Ok(())
}
