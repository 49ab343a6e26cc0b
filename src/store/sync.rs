//! Writing a sync's result: runs, and a complete listing applied in one transaction.

use super::time::to_db;
use super::{Context, Store, StoreError};
use crate::domain::{ListedApplication, Timestamp};
use sha2::Digest;
use sqlx::{Sqlite, SqliteConnection};
use std::collections::HashSet;

/// What applying a complete listing changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListingCounts {
    pub applications: i64,
    pub credentials: i64,
    pub added: i64,
    pub removed: i64,
}

/// What a listing says about the applications' owners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owners {
    /// Listed with the applications: stored as listed, and the environment's owners are fresh.
    Listed,
    /// Not listed this time (a refresh is not due): every application keeps its stored owners.
    Kept,
    /// Not read at all (`sync.fetch_owners = false`): unknown, and stored as such.
    Unknown,
}

impl Owners {
    fn as_str(self) -> &'static str {
        match self {
            Owners::Listed => "listed",
            Owners::Kept => "kept",
            Owners::Unknown => "unknown",
        }
    }
}

/// One sync run as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunRow {
    pub id: i64,
    pub environment_id: i64,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub outcome: String,
    pub pages: i64,
    pub applications: i64,
    pub credentials: i64,
    pub added: i64,
    pub removed: i64,
    pub error: Option<String>,
}

impl Store {
    /// Records that a sync of `environment_id` started; the run stays `running` until finished.
    pub async fn begin_run(&self, environment_id: i64, started_at: Timestamp) -> Result<i64, StoreError> {
        let (id,): (i64,) =
            sqlx::query_as("INSERT INTO sync_runs (environment_id, started_at, outcome) VALUES (?, ?, 'running') RETURNING id")
                .bind(environment_id)
                .bind(started_at)
                .fetch_one(&self.pool)
                .await
                .context("recording a sync run")?;
        self.bump_generation();
        Ok(id)
    }

    /// Records a failed run. Nothing else is touched: a failed listing changes no credential.
    pub async fn fail_run(&self, run_id: i64, finished_at: Timestamp, pages: i64, error: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE sync_runs SET finished_at = ?, outcome = 'failed', pages = ?, error = ? WHERE id = ?")
            .bind(finished_at)
            .bind(pages)
            .bind(error)
            .bind(run_id)
            .execute(&self.pool)
            .await
            .context("recording a failed sync run")?;
        self.bump_generation();
        Ok(())
    }

    /// Runs left `running` by a process that stopped mid-sync: marked interrupted at start-up.
    pub async fn close_interrupted_runs(&self, now: Timestamp) -> Result<u64, StoreError> {
        let done = sqlx::query("UPDATE sync_runs SET outcome = 'interrupted', finished_at = ?, error = 'the process stopped during this sync' WHERE outcome = 'running'")
            .bind(now)
            .execute(&self.pool)
            .await
            .context("closing interrupted sync runs")?;
        Ok(done.rows_affected())
    }

    /// When the environment's owners were last listed (`None`: never, or not since fetching them
    /// was turned off).
    pub async fn owners_fetched_at(&self, environment_id: i64) -> Result<Option<Timestamp>, StoreError> {
        let (at,): (Option<Timestamp>,) = sqlx::query_as("SELECT owners_fetched_at FROM environments WHERE id = ?")
            .bind(environment_id)
            .fetch_one(&self.pool)
            .await
            .context("reading when owners were last listed")?;
        Ok(at)
    }

    /// Applies a complete listing held in memory: stages it and merges it (see [`Staging`]).
    pub async fn apply_listing(
        &self,
        environment_id: i64,
        run_id: i64,
        now: Timestamp,
        pages: i64,
        apps: &[ListedApplication],
    ) -> Result<ListingCounts, StoreError> {
        let mut staging = self.begin_staging().await?;
        staging.add(apps).await?;
        staging.apply(self, environment_id, run_id, now, pages).await
    }

    /// Starts staging a listing: pages are written to temporary tables as they arrive, so a
    /// tenant of any size is never held in memory, and a listing that fails is simply dropped.
    pub async fn begin_staging(&self) -> Result<Staging, StoreError> {
        const CTX: &str = "staging a listing";
        let mut conn = self.pool.acquire().await.context(CTX)?;
        // Temporary tables live with this connection only; leftovers of an abandoned staging
        // on a reused connection are cleared.
        for sql in [
            // Plain heaps while pages arrive (appending is cheap); keyed once, at the merge.
            "DROP TABLE IF EXISTS temp.stage_apps",
            "DROP TABLE IF EXISTS temp.stage_creds",
            "DROP TABLE IF EXISTS temp.stage_match",
            "CREATE TEMP TABLE stage_apps (object_id TEXT NOT NULL, app_id TEXT NOT NULL, display_name TEXT,
               source TEXT NOT NULL, tags TEXT NOT NULL, notes TEXT, owners TEXT)",
            "CREATE TEMP TABLE stage_creds (object_id TEXT NOT NULL, kind TEXT NOT NULL, key_id TEXT NOT NULL,
               display_name TEXT, hint TEXT, start_at INTEGER, end_at INTEGER NOT NULL)",
            // Room for a large tenant's staged rows and the merge's index pages; reset after.
            "PRAGMA temp.cache_size = -32768",
            "PRAGMA main.cache_size = -65536",
            // Staged pages accumulate in one transaction on the temporary database: no commit
            // per page. It locks nothing in the main database.
            "BEGIN",
        ] {
            sqlx::query(sql).execute(&mut *conn).await.context(CTX)?;
        }
        Ok(Staging {
            owners: Owners::Listed,
            conn: Some(conn),
            seen_apps: HashSet::new(),
            seen_creds: HashSet::new(),
            digest: 0,
            owners_digest: 0,
            applications: 0,
            credentials: 0,
        })
    }
}

/// A listing being staged: [`Staging::add`] each page, then [`Staging::apply`] the complete
/// listing in one transaction, or drop it (a failed listing changes nothing).
pub struct Staging {
    /// What this listing says about owners (see [`Staging::set_owners`]).
    owners: Owners,
    conn: Option<sqlx::pool::PoolConnection<Sqlite>>,
    /// Keys already staged (128-bit digests: 200,000 credentials take 3 MB), so a row listed
    /// twice keeps its first listing.
    seen_apps: HashSet<u128>,
    seen_creds: HashSet<u128>,
    /// Order-independent digest of every staged row (a wrapping sum of row digests).
    digest: u128,
    /// The same over the listed owners (see [`Owners`]).
    owners_digest: u128,
    applications: i64,
    credentials: i64,
}

/// The first 128 bits of SHA-256 over length-prefixed parts.
fn digest128(parts: &[&[u8]]) -> u128 {
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let out = h.finalize();
    u128::from_le_bytes(out[..16].try_into().expect("SHA-256 has 32 bytes"))
}

/// One staged application, as the JSON array `json_each` reads: a page is one bound parameter.
#[derive(serde::Serialize)]
struct StagedApp<'a> {
    o: &'a str,
    a: &'a str,
    n: Option<&'a str>,
    s: &'a str,
    t: String,
    x: Option<&'a str>,
    w: Option<String>,
}

#[derive(serde::Serialize)]
struct StagedCred<'a> {
    o: &'a str,
    k: &'a str,
    i: &'a str,
    n: Option<&'a str>,
    h: Option<&'a str>,
    /// Start and end as stored (see [`super::time`]).
    s: Option<i64>,
    e: i64,
}

impl Staging {
    fn conn(&mut self) -> &mut SqliteConnection {
        self.conn.as_deref_mut().expect("staging is open until applied")
    }

    /// Says what the listing holds of owners (by default [`Owners::Listed`]).
    pub fn set_owners(&mut self, owners: Owners) {
        self.owners = owners;
    }

    /// Stages one page. An application or credential listed twice keeps its first listing (see
    /// [`Staging::apply`]).
    pub async fn add(&mut self, apps: &[ListedApplication]) -> Result<(), StoreError> {
        const CTX: &str = "staging a page";
        let encode = |e: serde_json::Error| StoreError::Setup(format!("encoding a page: {e}"));
        let (mut apps_json, mut creds_json) = (String::from("["), String::from("["));
        for a in apps {
            if !self.seen_apps.insert(digest128(&[b"app", a.object_id.as_bytes()])) {
                continue;
            }
            let mut staged = StagedApp {
                o: &a.object_id,
                a: &a.app_id,
                n: a.display_name.as_deref(),
                s: a.source.as_str(),
                t: serde_json::to_string(&a.tags).map_err(encode)?,
                x: a.notes.as_deref(),
                w: None,
            };
            // Owners are digested apart: a listing without them (a refresh not due) is still
            // recognised as unchanged.
            let bare = serde_json::to_string(&staged).map_err(encode)?;
            self.digest = self.digest.wrapping_add(digest128(&[b"app-row", bare.as_bytes()]));
            let row = match &a.owners {
                None => bare,
                Some(owners) => {
                    let w = serde_json::to_string(owners).map_err(encode)?;
                    self.owners_digest = self
                        .owners_digest
                        .wrapping_add(digest128(&[b"owners", a.object_id.as_bytes(), w.as_bytes()]));
                    staged.w = Some(w);
                    serde_json::to_string(&staged).map_err(encode)?
                }
            };
            self.applications += 1;
            if apps_json.len() > 1 {
                apps_json.push(',');
            }
            apps_json.push_str(&row);
            for c in &a.credentials {
                let key = digest128(&[b"cred", a.object_id.as_bytes(), c.kind.as_str().as_bytes(), c.key_id.as_bytes()]);
                if !self.seen_creds.insert(key) {
                    continue;
                }
                let row = serde_json::to_string(&StagedCred {
                    o: &a.object_id,
                    k: c.kind.as_str(),
                    i: &c.key_id,
                    n: c.display_name.as_deref(),
                    h: c.hint.as_deref(),
                    s: c.start.map(to_db),
                    e: to_db(c.end),
                })
                .map_err(encode)?;
                self.digest = self.digest.wrapping_add(digest128(&[b"cred-row", row.as_bytes()]));
                self.credentials += 1;
                if creds_json.len() > 1 {
                    creds_json.push(',');
                }
                creds_json.push_str(&row);
            }
        }
        apps_json.push(']');
        creds_json.push(']');
        sqlx::query(
            "INSERT INTO temp.stage_apps (object_id, app_id, display_name, source, tags, notes, owners)
             SELECT value->>'o', value->>'a', value->>'n', value->>'s', value->>'t', value->>'x', value->>'w' FROM json_each(?)",
        )
        .bind(apps_json)
        .execute(self.conn())
        .await
        .context(CTX)?;
        sqlx::query(
            "INSERT INTO temp.stage_creds (object_id, kind, key_id, display_name, hint, start_at, end_at)
             SELECT value->>'o', value->>'k', value->>'i', value->>'n', value->>'h', value->>'s', value->>'e' FROM json_each(?)",
        )
        .bind(creds_json)
        .execute(self.conn())
        .await
        .context(CTX)?;
        Ok(())
    }

    /// Applies the staged, complete listing to one environment in a single transaction:
    /// applications and credentials seen are inserted or, when they changed, updated; those not
    /// seen are marked removed; the run is recorded as a success. Unchanged rows are not written
    /// at all: a live row was last seen at its environment's `last_success_at`.
    pub async fn apply(
        mut self,
        store: &Store,
        environment_id: i64,
        run_id: i64,
        now: Timestamp,
        pages: i64,
    ) -> Result<ListingCounts, StoreError> {
        const CTX: &str = "writing a sync's result";
        let _writer = store.write_lock.lock().await;
        let mut conn = self.conn.take().expect("staging is open until applied");
        let listing = Listing {
            digest: format!("{:032x}-{}-{}", self.digest, self.applications, self.credentials),
            applications: self.applications,
            credentials: self.credentials,
            owners: self.owners,
            owners_digest: match self.owners {
                Owners::Listed => Some(format!("{:032x}", self.owners_digest)),
                Owners::Kept | Owners::Unknown => None,
            },
        };
        // IMMEDIATE: take the write lock before reading, so another process's write cannot
        // invalidate our snapshot halfway (SQLITE_BUSY_SNAPSHOT). The transaction is managed by
        // hand: after SQLite rolled back by itself (a full disk), sqlx's own bookkeeping would
        // leave the pooled connection unusable.
        sqlx::query("COMMIT").execute(&mut *conn).await.context(CTX)?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await.context(CTX)?;
        let result = match merge(&mut conn, environment_id, run_id, now, pages, &listing).await {
            Ok(counts) => sqlx::query("COMMIT").execute(&mut *conn).await.context(CTX).map(|_| counts),
            Err(e) => Err(e),
        };
        store.bump_generation();
        match result {
            Ok(counts) => {
                for sql in [
                    "DROP TABLE temp.stage_apps",
                    "DROP TABLE temp.stage_creds",
                    "PRAGMA temp.cache_size = -2000",
                    "PRAGMA main.cache_size = -2000",
                ] {
                    let _ = sqlx::query(sql).execute(&mut *conn).await;
                }
                Ok(counts)
            }
            Err(e) => {
                // The connection's state is unknown after a failed write: roll back and retire it.
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                let _ = conn.close().await;
                Err(e)
            }
        }
    }
}

impl Drop for Staging {
    /// A staging dropped unapplied (a failed or cancelled listing) retires its connection, and
    /// with it the temporary tables.
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}

/// What was staged, in sum.
struct Listing {
    digest: String,
    applications: i64,
    credentials: i64,
    owners: Owners,
    /// `None` unless owners were listed.
    owners_digest: Option<String>,
}

/// The set-based merge of the staged listing into the environment, inside the transaction.
async fn merge(
    tx: &mut SqliteConnection,
    env: i64,
    run: i64,
    now: Timestamp,
    pages: i64,
    listing: &Listing,
) -> Result<ListingCounts, StoreError> {
    const CTX: &str = "writing a sync's result";
    let (previous_success, previous_digest, previous_owners): (Option<Timestamp>, Option<String>, Option<String>) =
        sqlx::query_as("SELECT last_success_at, listing_digest, owners_digest FROM environments WHERE id = ?")
            .bind(env)
            .fetch_one(&mut *tx)
            .await
            .context(CTX)?;
    let same_owners = listing.owners == Owners::Kept || previous_owners == listing.owners_digest;
    let counts = if same_owners && previous_digest.as_deref() == Some(listing.digest.as_str()) {
        // Exactly the listing applied last time: the live rows already say all of it.
        ListingCounts {
            applications: listing.applications,
            credentials: listing.credentials,
            added: 0,
            removed: 0,
        }
    } else {
        diff(tx, env, run, now, previous_success, listing).await?
    };
    sqlx::query(
        "UPDATE environments SET last_success_at = ?1, listing_digest = ?2,
           owners_fetched_at = CASE ?3 WHEN 'listed' THEN ?1 WHEN 'kept' THEN owners_fetched_at END,
           owners_digest = CASE ?3 WHEN 'kept' THEN owners_digest ELSE ?5 END
         WHERE id = ?4",
    )
    .bind(now)
    .bind(&listing.digest)
    .bind(listing.owners.as_str())
    .bind(env)
    .bind(&listing.owners_digest)
    .execute(&mut *tx)
    .await
    .context(CTX)?;
    sqlx::query(
        "UPDATE sync_runs SET finished_at = ?, outcome = 'success', pages = ?, applications = ?, credentials = ?, added = ?, removed = ?, error = NULL WHERE id = ?",
    )
    .bind(now)
    .bind(pages)
    .bind(counts.applications)
    .bind(counts.credentials)
    .bind(counts.added)
    .bind(counts.removed)
    .bind(run)
    .execute(&mut *tx)
    .await
    .context(CTX)?;
    Ok(counts)
}

/// Writes the differences between the staged listing and the stored environment.
async fn diff(
    tx: &mut SqliteConnection,
    env: i64,
    run: i64,
    now: Timestamp,
    previous_success: Option<Timestamp>,
    listing: &Listing,
) -> Result<ListingCounts, StoreError> {
    const CTX: &str = "writing a sync's result";
    // Keyed once, here: building an index in one pass beats keeping it while pages arrive.
    for sql in [
        "CREATE UNIQUE INDEX temp.stage_apps_key ON stage_apps (object_id)",
        // Covering: matching and inserting read the staged credentials from the index alone,
        // in key order, instead of jumping around the heap. (Keys are unique: staging dedupes.)
        "CREATE INDEX temp.stage_creds_key ON stage_creds (object_id, kind, key_id, display_name, hint, start_at, end_at)",
    ] {
        sqlx::query(sql).execute(&mut *tx).await.context(CTX)?;
    }
    let run_sql = |sql: &'static str| sqlx::query(sql).bind(env).bind(now).bind(run).bind(previous_success);
    // ?1 environment, ?2 now, ?3 run, ?4 the previous success (when removed rows were last seen).
    // The stored applications are walked by their unique key (environment, object id), so that the
    // staged rows are probed in key order too; left to itself SQLite walks them by name, and at
    // 100,000 applications every probe lands somewhere new (2-5x slower).
    run_sql(
        "UPDATE applications INDEXED BY sqlite_autoindex_applications_1 SET removed_at = ?2, last_seen_at = COALESCE(?4, last_seen_at)
         WHERE environment_id = ?1 AND removed_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM temp.stage_apps s WHERE s.object_id = applications.object_id)",
    )
    .execute(&mut *tx)
    .await
    .context(CTX)?;
    // ?5: owners were not listed this time, so each application keeps its stored ones.
    run_sql(
        "UPDATE applications AS a INDEXED BY sqlite_autoindex_applications_1 SET app_id = s.app_id, display_name = s.display_name, source = s.source, tags = s.tags,
           notes = s.notes, owners = CASE WHEN ?5 THEN a.owners ELSE s.owners END, last_seen_at = ?2, last_seen_run = ?3, removed_at = NULL
         FROM temp.stage_apps s
         WHERE a.environment_id = ?1 AND a.object_id = s.object_id
           AND (a.removed_at IS NOT NULL OR a.app_id IS NOT s.app_id OR a.display_name IS NOT s.display_name OR a.source IS NOT s.source
                OR a.tags IS NOT s.tags OR a.notes IS NOT s.notes OR (NOT ?5 AND a.owners IS NOT s.owners))",
    )
    .bind(listing.owners == Owners::Kept)
    .execute(&mut *tx)
    .await
    .context(CTX)?;
    // Rows go in in key order, so the unique indexes grow at their end instead of at random places.
    let bulk_apps = drop_for_bulk_load(
        tx,
        "SELECT count(*) FROM applications",
        listing.applications,
        5_000,
        &APPLICATION_INDEXES,
    )
    .await?;
    run_sql(
        "INSERT INTO applications (environment_id, object_id, app_id, display_name, first_seen_at, last_seen_at, last_seen_run, source, tags, notes, owners)
         SELECT ?1, s.object_id, s.app_id, s.display_name, ?2, ?2, ?3, s.source, s.tags, s.notes, s.owners FROM temp.stage_apps s
         WHERE NOT EXISTS (SELECT 1 FROM applications a WHERE a.environment_id = ?1 AND a.object_id = s.object_id)
         ORDER BY s.object_id",
    )
    .execute(&mut *tx)
    .await
    .context(CTX)?;
    if bulk_apps {
        rebuild_indexes(tx, &APPLICATION_INDEXES).await?;
    }
    // Match staged credentials to stored ones in one join, then remove, update and insert from
    // the match instead of repeating the join (and a correlated lookup per stored credential).
    // An environment's first sync has nothing to match.
    let (stored,): (bool,) = sqlx::query_as("SELECT EXISTS (SELECT 1 FROM credentials WHERE environment_id = ?)")
        .bind(env)
        .fetch_one(&mut *tx)
        .await
        .context(CTX)?;
    run_sql(if stored {
        "CREATE TEMP TABLE stage_match AS
         SELECT c.id AS credential_id, s.rowid AS staged,
                (c.removed_at IS NOT NULL OR c.display_name IS NOT s.display_name OR c.hint IS NOT s.hint
                 OR c.start_at IS NOT s.start_at OR c.end_at IS NOT s.end_at) AS changed
         FROM temp.stage_creds s
         JOIN applications a ON a.environment_id = ?1 AND a.object_id = s.object_id
         JOIN credentials c ON c.application_id = a.id AND c.kind = s.kind AND c.key_id = s.key_id"
    } else {
        "CREATE TEMP TABLE stage_match (credential_id INTEGER, staged INTEGER, changed INTEGER)"
    })
    .execute(&mut *tx)
    .await
    .context(CTX)?;
    let removed = run_sql(
        "UPDATE credentials SET removed_at = ?2, last_seen_at = COALESCE(?4, last_seen_at)
         WHERE environment_id = ?1 AND removed_at IS NULL AND id NOT IN (SELECT credential_id FROM temp.stage_match)",
    )
    .execute(&mut *tx)
    .await
    .context(CTX)?
    .rows_affected() as i64;
    run_sql(
        "UPDATE credentials AS c SET display_name = s.display_name, hint = s.hint, start_at = s.start_at, end_at = s.end_at,
           last_seen_at = ?2, last_seen_run = ?3, removed_at = NULL
         FROM temp.stage_match m JOIN temp.stage_creds s ON s.rowid = m.staged
         WHERE m.changed AND c.id = m.credential_id",
    )
    .execute(&mut *tx)
    .await
    .context(CTX)?;
    let bulk = drop_for_bulk_load(
        tx,
        "SELECT count(*) FROM credentials",
        listing.credentials,
        10_000,
        &CREDENTIAL_INDEXES,
    )
    .await?;
    let added = run_sql(
        "INSERT INTO credentials (application_id, environment_id, kind, key_id, display_name, hint, start_at, end_at,
           first_seen_at, first_seen_run, last_seen_at, last_seen_run)
         SELECT a.id, ?1, s.kind, s.key_id, s.display_name, s.hint, s.start_at, s.end_at, ?2, ?3, ?2, ?3
         FROM temp.stage_creds s JOIN applications a ON a.environment_id = ?1 AND a.object_id = s.object_id
         WHERE s.rowid NOT IN (SELECT staged FROM temp.stage_match)
         ORDER BY s.object_id, s.kind, s.key_id",
    )
    .execute(&mut *tx)
    .await
    .context(CTX)?
    .rows_affected() as i64;
    if bulk {
        rebuild_indexes(tx, &CREDENTIAL_INDEXES).await?;
    }
    sqlx::query("DROP TABLE temp.stage_match").execute(&mut *tx).await.context(CTX)?;
    Ok(ListingCounts {
        applications: listing.applications,
        credentials: listing.credentials,
        added,
        removed,
    })
}

/// Secondary indexes that a bulk load drops and rebuilds: how to drop each, and its definition
/// as in the migrations.
type Indexes = [(&'static str, &'static str); 2];

const APPLICATION_INDEXES: Indexes = [
    (
        "DROP INDEX applications_env_name",
        "CREATE INDEX applications_env_name ON applications (environment_id, display_name)",
    ),
    (
        "DROP INDEX applications_app_id",
        "CREATE INDEX applications_app_id ON applications (app_id)",
    ),
];

const CREDENTIAL_INDEXES: Indexes = [
    (
        "DROP INDEX credentials_live_end",
        "CREATE INDEX credentials_live_end ON credentials (end_at) WHERE removed_at IS NULL",
    ),
    (
        "DROP INDEX credentials_env_live_end",
        "CREATE INDEX credentials_env_live_end ON credentials (environment_id, end_at) WHERE removed_at IS NULL",
    ),
];

/// A bulk load (more than `at_least` incoming rows, and more than the table holds, as
/// `count_sql` says) builds its
/// secondary indexes afterwards in one sorted pass, inside the transaction, instead of updating
/// them row by row: drops them and says so; [`rebuild_indexes`] puts them back.
async fn drop_for_bulk_load(
    tx: &mut SqliteConnection,
    count_sql: &'static str,
    incoming: i64,
    at_least: i64,
    indexes: &Indexes,
) -> Result<bool, StoreError> {
    const CTX: &str = "preparing a bulk load";
    let (stored,): (i64,) = sqlx::query_as(count_sql).fetch_one(&mut *tx).await.context(CTX)?;
    let bulk = incoming > at_least && incoming > stored;
    if bulk {
        for (drop, _) in indexes {
            sqlx::query(*drop).execute(&mut *tx).await.context(CTX)?;
        }
    }
    Ok(bulk)
}

async fn rebuild_indexes(tx: &mut SqliteConnection, indexes: &Indexes) -> Result<(), StoreError> {
    for (_, create) in indexes {
        sqlx::query(*create)
            .execute(&mut *tx)
            .await
            .context("rebuilding indexes after a bulk load")?;
    }
    Ok(())
}

impl Store {
    /// The most recent runs of an environment, newest first.
    pub async fn recent_runs(&self, environment_id: i64, limit: i64) -> Result<Vec<RunRow>, StoreError> {
        sqlx::query_as::<_, RunRow>(
            "SELECT id, environment_id, started_at, finished_at, outcome, pages, applications, credentials, added, removed, error
             FROM sync_runs WHERE environment_id = ? ORDER BY id DESC LIMIT ?",
        )
        .bind(environment_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .context("listing sync runs")
    }
}
