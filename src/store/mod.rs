//! The store: SQLite through sqlx, with runtime `query_as` + `FromRow` so a second backend stays
//! possible. Migrations in `migrations/` are embedded and applied on connect.
//!
//! Rows become typed [`crate::domain`] values once, here: a credential's kind, its application's
//! source, tags and owners are parsed as they are read, and a stored value that does not parse
//! is reported ([`StoreError::Corrupt`]), never silently emptied.

mod answers;
mod calendar;
mod credentials;
mod dashboard;
mod digest;
mod events;
mod files;
pub mod lease;
mod reminders;
mod rows;
mod sessions;
mod sync;
mod time;
mod usage;
mod write;

pub use answers::{StoredAnswers, answers_basis};
pub use calendar::DayCount;
pub use credentials::{CredentialFilter, Expiry, MIN_INDEXED_SEARCH_CHARS, SHORT_SEARCH_SCAN, SearchHit, search_is_indexed};
pub use dashboard::{Cursor, EnvironmentState, MonthCount, StatusCounts, WithNewer};
pub use events::{ActionError, Actor, CredentialAction, EventFilter, EventRow};
pub use reminders::ReminderRow;
pub use sessions::{PendingSignIn, SessionRow};
pub use sync::{ListingCounts, Owners, RunRow, Staging};
pub use usage::{ApplicationUsage, UsageCount, UsageWrite};

use crate::config::EnvironmentConfig;
use crate::domain::Timestamp;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// The store's errors: a missing row apart from everything else, which carries what we were doing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    // Not marked as the source: `describe` already says it, and error chains would repeat it.
    #[error("database: {context}: {}", describe(.error))]
    Db { context: &'static str, error: sqlx::Error },
    #[error("database: applying migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database: {0}")]
    Setup(String),
    /// A stored value that does not parse: the row and column are named so it can be found.
    #[error("database: {table} row {id} holds an unreadable {column}: {problem}")]
    Corrupt {
        table: &'static str,
        id: i64,
        column: &'static str,
        problem: String,
    },
}

/// Plain words for the SQLite conditions an operator can fix.
fn describe(e: &sqlx::Error) -> String {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("disk is full") || lower.contains("disk i/o") && lower.contains("full") {
        format!("the disk is full ({text})")
    } else if lower.contains("readonly") || lower.contains("read-only") {
        format!("the database file or its directory is read-only ({text})")
    } else if lower.contains("database is locked") || lower.contains("busy") {
        format!("the database is locked by another process ({text})")
    } else {
        text
    }
}

/// Adds what we were doing to a sqlx error.
pub(crate) trait Context<T> {
    fn context(self, context: &'static str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, sqlx::Error> {
    fn context(self, context: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| match source {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            error => StoreError::Db { context, error },
        })
    }
}

/// The database handle; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    /// Serialises this process's large write transactions (environments sync concurrently), so
    /// they queue here instead of timing out in SQLite's busy handler.
    write_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Bumped by every sync-run write of this process, so caches of the web side notice at once;
    /// another process's writes are noticed when the caches expire.
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// One configured environment as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EnvironmentRow {
    pub id: i64,
    pub name: String,
    pub tenant_id: String,
    pub client_id: String,
    pub portal_url: String,
    pub retired_at: Option<Timestamp>,
}

impl Store {
    /// Opens (creating it owner-readable only if missing) and migrates the database at `url`.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "connect"))]
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Setup(format!("{url:?} is not a SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory {
            files::make_private(options.get_filename())?;
            create_private(options.get_filename().to_path_buf())?;
        }
        // An in-memory database exists per connection: keep exactly one.
        let max = if in_memory { 1 } else { 8 };
        let path = options.get_filename().to_path_buf();
        let pool = match SqlitePoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
        {
            Ok(pool) => pool,
            // SQLite says only "unable to open database file"; the file system says why.
            Err(e) if !in_memory => {
                return Err(StoreError::Setup(format!(
                    "cannot open {}: {}",
                    path.display(),
                    why_unwritable(&path).unwrap_or_else(|| describe(&e))
                )));
            }
            Err(e) => return Err(e).context("opening"),
        };
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store {
            pool,
            write_lock: Default::default(),
            generation: Default::default(),
        })
    }

    /// Changes whenever this process records a sync run (start, failure, success).
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn bump_generation(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// True when the database answers a query (for `/healthz`).
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "ping"))]
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.context("ping").map(|_| ())
    }

    /// Records the configured environments: adds new ones, updates their tenant and client,
    /// and marks the ones no longer configured as retired now (their history stays).
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "register_environments"))]
    pub async fn register_environments(&self, envs: &[EnvironmentConfig]) -> Result<(), StoreError> {
        let now = Timestamp::from(chrono::Utc::now());
        let mut tx = write::WriteTx::begin(&self.pool, "registering environments").await?;
        // Only the ones no longer configured: retiring and restoring every one would mark each
        // environment's stored answers stale (migrations/0017_answer_rows.sql) at every start.
        let names = serde_json::to_string(&envs.iter().map(|e| e.name.as_str()).collect::<Vec<_>>()).expect("names serialise");
        sqlx::query("UPDATE environments SET retired_at = COALESCE(retired_at, ?) WHERE name NOT IN (SELECT value FROM json_each(?))")
            .bind(now)
            .bind(names)
            .execute(&mut *tx)
            .await
            .context("registering environments")?;
        for env in envs {
            sqlx::query(
                "INSERT INTO environments (name, tenant_id, client_id, portal_url) VALUES (?, ?, ?, ?)
                 ON CONFLICT (name) DO UPDATE SET tenant_id = excluded.tenant_id, client_id = excluded.client_id,
                   portal_url = excluded.portal_url, retired_at = NULL
                 WHERE tenant_id IS NOT excluded.tenant_id OR client_id IS NOT excluded.client_id
                   OR portal_url IS NOT excluded.portal_url OR retired_at IS NOT NULL",
            )
            .bind(&env.name)
            .bind(&env.tenant_id)
            .bind(&env.client_id)
            .bind(env.portal_url.as_str().trim_end_matches('/'))
            .execute(&mut *tx)
            .await
            .context("registering environments")?;
        }
        tx.commit("registering environments").await
    }

    /// The environments still configured, by name.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "environments"))]
    pub async fn environments(&self) -> Result<Vec<EnvironmentRow>, StoreError> {
        sqlx::query_as::<_, EnvironmentRow>(
            "SELECT id, name, tenant_id, client_id, portal_url, retired_at FROM environments WHERE retired_at IS NULL ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .context("listing environments")
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "environment_by_name"))]
    pub async fn environment_by_name(&self, name: &str) -> Result<EnvironmentRow, StoreError> {
        sqlx::query_as::<_, EnvironmentRow>(
            "SELECT id, name, tenant_id, client_id, portal_url, retired_at FROM environments WHERE name = ?",
        )
        .bind(name)
        .fetch_one(&self.pool)
        .await
        .context("finding an environment")
    }
}

/// Why the database file (or its directory, where SQLite keeps the WAL) cannot be written, if so.
fn why_unwritable(path: &std::path::Path) -> Option<String> {
    if let Err(e) = std::fs::OpenOptions::new().append(true).open(path) {
        return Some(match e.raw_os_error() {
            Some(30) => format!("the file system is read-only ({e})"),
            _ => format!("the file is not writable ({e})"),
        });
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let probe = dir.join(format!(".credwatch-probe-{}", std::process::id()));
    match std::fs::File::create(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            None
        }
        Err(e) => Some(format!(
            "its directory {} is not writable, and SQLite keeps its journal there ({e})",
            dir.display()
        )),
    }
}

/// Creates the database file readable and writable by its owner only, before SQLite creates it
/// with the process umask. An existing file is left as it is.
fn create_private(path: PathBuf) -> Result<(), StoreError> {
    if path.as_os_str().is_empty() || path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Setup(format!("cannot create the directory {}: {e}", dir.display())))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Setup(format!("cannot create {}: {e}", path.display()))),
    }
}
