//! The command line: `serve`, `sync`, `remind`, `check`, `demo`.

use crate::config::{Config, process_env};
use crate::graph::GraphClient;
use crate::startup::{Application, open_store, shutdown_signal};
use crate::sync::Syncer;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// credwatch keeps an ops team from being surprised by an expired Microsoft Entra ID
/// app-registration secret or certificate: it syncs every environment's credentials from
/// Microsoft Graph into SQLite, shows them on a dashboard, e-mails reminders before each expires
/// and publishes an ICS calendar feed.
#[derive(Debug, Parser)]
#[command(name = "credwatch", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Log format on stderr: human-readable text or one JSON object per line.
    #[arg(long, global = true, value_enum, env = "CREDWATCH_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// The TOML config file [default: $CREDWATCH_CONFIG, else ./credwatch.toml if it exists, else
    /// none: AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET define one environment]
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the dashboard, API, calendar feed and metrics, and run sync and reminders on their
    /// schedules, until SIGINT or SIGTERM.
    Serve(#[command(flatten)] ConfigArg),
    /// Sync every environment (or one) from Microsoft Graph now; exit 1 if any failed.
    Sync {
        #[command(flatten)]
        config: ConfigArg,
        /// Sync only this environment.
        #[arg(long, value_name = "NAME")]
        env: Option<String>,
    },
    /// Evaluate the reminder ladder and send the reminders due now; exit 1 if a send failed.
    Remind {
        #[command(flatten)]
        config: ConfigArg,
        /// Act as if it were this instant (RFC 3339), to see the plan for a future date.
        #[arg(long, value_name = "RFC3339")]
        now: Option<String>,
        /// Print who would get what; send and record nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Validate the config and sign in to each environment, reporting each; exit 1 if any failed.
    Check(#[command(flatten)] ConfigArg),
    /// A zero-config demo: simulated tenants (dev, test, prod) served by the built-in Graph
    /// emulator, synced through the real pipeline, with the dashboard on --listen.
    Demo {
        /// Where the dashboard listens.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Ask for a sign-in with Entra ID (`mode = "oidc"`), the emulator playing the authority:
        /// its sign-in page offers an admin, an operator, a reader and a user without a role.
        #[arg(long)]
        sign_in: bool,
    },
    /// Print an argon2 hash of a password for [[server.auth.users]]; reads the password from
    /// standard input (one line).
    HashPassword,
    /// Probe a running credwatch's /healthz and exit 0 when it answers 200 (for container
    /// health checks, where no curl is installed).
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:8080/healthz")]
        url: String,
    },
    /// Run the built-in Graph and token-endpoint emulator alone, for benchmarks and trials.
    #[command(hide = true)]
    Emulate {
        /// Where the emulator listens (loopback: it serves plain http).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
        listen: String,
        /// How many applications the tenant holds (about two credentials each).
        #[arg(long, default_value_t = 1000)]
        apps: usize,
        /// Seed of the generated data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value = "emulated-tenant")]
        tenant: String,
        #[arg(long, default_value = "emulated-client")]
        client: String,
        /// The client secret the emulator accepts, read from this environment variable.
        #[arg(long, value_name = "VAR", default_value = "EMULATOR_CLIENT_SECRET")]
        secret_env: String,
    },
}

/// Initialises logging: RUST_LOG wins; otherwise `default` (quieter for one-shot commands whose
/// own output tells the story).
pub fn init_tracing(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
    };
}

/// Loads the config or prints why not.
fn load_config(arg: &ConfigArg) -> Result<Config, ExitCode> {
    let path = Config::locate(arg.config.as_deref(), &process_env);
    let config = Config::load(path.as_deref(), &process_env).map_err(|e| {
        eprintln!("credwatch: configuration error: {e}");
        ExitCode::from(2)
    })?;
    for warning in &config.warnings {
        tracing::warn!("configuration: {warning}");
    }
    Ok(config)
}

/// Runs the parsed command; the exit code is the command's verdict.
pub async fn run(cli: Cli) -> ExitCode {
    let quiet = if matches!(cli.command, Command::Serve(_) | Command::Demo { .. }) {
        "info"
    } else {
        "warn"
    };
    init_tracing(cli.log_format, quiet);
    let result = match cli.command {
        Command::Serve(arg) => match load_config(&arg) {
            Ok(config) => serve(config).await,
            Err(code) => return code,
        },
        Command::Sync { config, env } => match load_config(&config) {
            Ok(config) => sync(config, env).await,
            Err(code) => return code,
        },
        Command::Check(arg) => match load_config(&arg) {
            Ok(config) => check(config).await,
            Err(code) => return code,
        },
        Command::Remind { config, now, dry_run } => match load_config(&config) {
            Ok(config) => remind(config, now, dry_run).await,
            Err(code) => return code,
        },
        Command::Demo { listen, sign_in } => demo(&listen, sign_in).await,
        Command::Healthcheck { url } => healthcheck(&url).await,
        Command::HashPassword => hash_password(),
        Command::Emulate {
            listen,
            apps,
            seed,
            tenant,
            client,
            secret_env,
        } => emulate(&listen, apps, seed, &tenant, &client, &secret_env).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("credwatch: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    if config.environments.is_empty() {
        tracing::warn!(
            "no environments configured: add [[environments]] to the config, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"
        );
    }
    let stop = shutdown_signal();
    let app = Application::build(config, None).await?;
    tracing::info!(port = app.port(), "serving");
    app.run_until_stopped(stop).await?;
    Ok(ExitCode::SUCCESS)
}

fn require_environments(config: &Config) -> anyhow::Result<()> {
    if config.environments.is_empty() {
        anyhow::bail!(
            "no environments configured: add [[environments]] to {}, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET",
            config
                .source
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "a config file".into())
        );
    }
    Ok(())
}

async fn sync(config: Config, only: Option<String>) -> anyhow::Result<ExitCode> {
    require_environments(&config)?;
    if let Some(name) = &only
        && config.environment(name).is_none()
    {
        let known: Vec<_> = config.environments.iter().map(|e| e.name.as_str()).collect();
        anyhow::bail!("--env {name:?}: no such environment (configured: {})", known.join(", "));
    }
    let store = open_store(&config).await?;
    let mut syncer = Syncer::new(&config, store);
    // On a terminal, one status line redrawn as pages arrive; elsewhere only the result lines.
    let terminal = std::io::stdout().is_terminal();
    let status: std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, (usize, usize)>>> = Default::default();
    if terminal {
        let status = status.clone();
        syncer = syncer.with_progress(std::sync::Arc::new(move |env: &str, pages, apps| {
            let mut status = status.lock().unwrap_or_else(|e| e.into_inner());
            status.insert(env.to_string(), (pages, apps));
            let line: Vec<String> = status.iter().map(|(e, (p, a))| format!("{e}: {a} apps, {p} pages")).collect();
            eprint!("\r\x1b[2Klisting … {}", line.join(" · "));
        }));
    }
    let cancel = CancellationToken::new();
    let stopper = cancel.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        stopper.cancel();
    });
    let reports = syncer
        .sync_all(only.as_deref(), &cancel, |r| {
            if terminal {
                eprint!("\r\x1b[2K");
            }
            println!("{r}");
        })
        .await;
    Ok(if reports.iter().all(|r| r.succeeded()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn check(config: Config) -> anyhow::Result<ExitCode> {
    let source = config
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "environment variables".into());
    println!("config: ok ({source}, {} environment(s))", config.environments.len());
    require_environments(&config)?;
    let mut failed = false;
    for env in &config.environments {
        let client = GraphClient::new(env, &config.sync);
        // Errors become words here: they are only printed.
        let outcome = match &client {
            Ok(client) => match client.sign_in().await {
                Ok(()) => client
                    .probe()
                    .await
                    .map(|_| "signed in; can list applications")
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(msg) => {
                println!(
                    "{}: ok: tenant {}, client {} ({}): {msg}",
                    env.name,
                    env.tenant_id,
                    env.client_id,
                    env.credential.describe()
                );
                if let Ok(client) = &client {
                    println!("{}: usage: {}", env.name, usage_check(env, client).await);
                }
            }
            Err(e) => {
                failed = true;
                println!(
                    "{}: FAILED: tenant {}, client {} ({}): {e}",
                    env.name,
                    env.tenant_id,
                    env.client_id,
                    env.credential.describe()
                );
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Whether usage can be read in `env`, and if not why and what to grant; usage is advice, so
/// this never fails the check.
async fn usage_check(env: &crate::config::EnvironmentConfig, client: &GraphClient) -> String {
    use crate::domain::UsageStatus;
    if !env.usage {
        return "off (usage = false, or a national cloud, which has no sign-in activity reports)".into();
    }
    match client.probe_usage().await {
        Ok(()) => "ok: can read the sign-in activity reports (AuditLog.Read.All, Entra ID P1/P2)".into(),
        Err(crate::graph::GraphError::Forbidden { code, .. }) => {
            let status = UsageStatus::of_forbidden(&code);
            format!(
                "{status}: HTTP 403 {code}: {}",
                status.explanation().unwrap_or("the reports are refused")
            )
        }
        Err(e) => format!("unavailable: {e}"),
    }
}

async fn remind(config: Config, now: Option<String>, dry_run: bool) -> anyhow::Result<ExitCode> {
    let now = match now.as_deref() {
        Some(text) => chrono::DateTime::parse_from_rfc3339(text)
            .map_err(|e| anyhow::anyhow!("--now {text:?} is not an RFC 3339 instant such as 2026-05-01T08:00:00Z: {e}"))?
            .with_timezone(&chrono::Utc),
        None => chrono::Utc::now(),
    };
    let store = open_store(&config).await?;
    let report = crate::reminders::try_remind(&store, &config, now, dry_run).await?;
    print!("{report}");
    Ok(if report.succeeded() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn demo(listen: &str, sign_in: bool) -> anyhow::Result<ExitCode> {
    println!("credwatch demo: three simulated tenants (dev, test, prod) served by the built-in Graph emulator");
    let stop = shutdown_signal();
    let demo = crate::demo::Demo::start(listen, &crate::demo::demo_dir(), sign_in).await?;
    let base = demo.config.server.public_url.as_str().trim_end_matches('/').to_string();
    let outbox = demo.outbox.canonicalize().unwrap_or(demo.outbox.clone());
    let webcal = base.replacen("http://", "webcal://", 1);
    println!();
    println!("  dashboard  {base}/");
    println!("  calendar   {base}/calendar.ics?token={}", demo.calendar_token);
    println!("             {webcal}/calendar.ics?token={}", demo.calendar_token);
    println!("  metrics    {base}/metrics");
    println!("  outbox     {}", outbox.display());
    if sign_in {
        println!("  sign-in    the emulator's page offers Ada (admin), Otto (operate), Rita (read), Nora (no role)");
    }
    println!();
    println!("Ctrl-C stops the demo.");
    demo.service.run_until_stopped(stop).await?;
    demo.emulator.stop().await;
    Ok(ExitCode::SUCCESS)
}

async fn emulate(listen: &str, apps: usize, seed: u64, tenant: &str, client: &str, secret_env: &str) -> anyhow::Result<ExitCode> {
    use credwatch_emulator::{ClientAuth, Emulator, generate_applications, generate_sign_ins};
    let secret =
        std::env::var(secret_env).map_err(|_| anyhow::anyhow!("set {secret_env} to the client secret the emulator should accept"))?;
    let stop = shutdown_signal();
    let emu = Emulator::start_on(listen).await?;
    emu.register_client(
        tenant,
        client,
        ClientAuth::Secret {
            value: secret,
            expired: false,
        },
    );
    let now = chrono::Utc::now();
    let applications = generate_applications(seed, apps, now);
    // The sign-in activity reports of those applications, so usage has something to read.
    let (credentials, sign_ins) = generate_sign_ins(seed, &applications, now);
    emu.set_applications(tenant, applications);
    emu.set_credential_sign_ins(tenant, credentials);
    emu.set_app_sign_ins(tenant, sign_ins);
    // One line on stdout, so scripts can read the URL.
    println!("{}", emu.url());
    stop.await;
    emu.stop().await;
    Ok(ExitCode::SUCCESS)
}

async fn healthcheck(url: &str) -> anyhow::Result<ExitCode> {
    crate::tls::install();
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(4)).build()?;
    let status = client.get(url).send().await?.status();
    if status.is_success() {
        Ok(ExitCode::SUCCESS)
    } else {
        anyhow::bail!("{url} answered {status}")
    }
}

fn hash_password() -> anyhow::Result<ExitCode> {
    if std::io::stdin().is_terminal() {
        eprint!("password (echoed; or pipe it in): ");
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        anyhow::bail!("an empty password");
    }
    println!("{}", crate::web::auth::hash_password(password).map_err(anyhow::Error::msg)?);
    Ok(ExitCode::SUCCESS)
}
