//! A listing staged page by page into temporary tables on one connection, digested as it
//! arrives, and applied in one transaction.

use super::merge::{Listing, merge};
use super::{ListingCounts, Owners};
use crate::domain::{ListedApplication, Timestamp};
use crate::store::digest::digest128;
use crate::store::time::to_db;
use crate::store::{Context, Store, StoreError};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use std::collections::HashSet;

impl Store {
    /// Starts staging a listing: pages are written to temporary tables as they arrive, so a
    /// tenant of any size is never held in memory, and a listing that fails is simply dropped.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "begin_staging"))]
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
            // No larger page caches for the staging and the merge: at 100,000 applications they
            // changed no time (first sync 10.0 s with 96 MB of them, 9.9 s with SQLite's 2 MB
            // each; 1% changed 3.0 s either way) and cost 100 MB of peak memory (bench/scale.sh).
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

/// Rows per multi-row `INSERT … VALUES`: every full chunk reuses one prepared statement, and
/// 7 columns × 500 rows stays far below SQLite's 32,766 bound parameters.
const CHUNK: usize = 500;

/// One staged application, as bound to `temp.stage_apps`.
struct StagedApp<'a> {
    object_id: &'a str,
    app_id: &'a str,
    name: Option<&'a str>,
    source: &'a str,
    tags: String,
    notes: Option<&'a str>,
    owners: Option<String>,
}

/// One staged credential, as bound to `temp.stage_creds`.
struct StagedCred<'a> {
    object_id: &'a str,
    kind: &'a str,
    key_id: &'a str,
    name: Option<&'a str>,
    hint: Option<&'a str>,
    /// Start and end as stored (see [`crate::store::time`]).
    start: Option<i64>,
    end: i64,
}

/// An optional text as digest parts: `None` and `Some("")` differ.
fn opt(v: Option<&str>) -> [&[u8]; 2] {
    match v {
        None => [b"-", b""],
        Some(s) => [b"+", s.as_bytes()],
    }
}

/// Inserts `rows` in chunks of [`CHUNK`]; `bind` pushes one row's values in column order.
async fn insert_chunked<'a, T>(
    conn: &mut SqliteConnection,
    head: &'static str,
    rows: &'a [T],
    bind: impl Fn(sqlx::query_builder::Separated<'_, Sqlite, &'static str>, &'a T) + Copy,
) -> Result<(), StoreError> {
    for chunk in rows.chunks(CHUNK) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(head);
        q.push_values(chunk, bind);
        // Only the full chunk's statement recurs: a page's remainder is prepared once, not cached.
        q.build()
            .persistent(chunk.len() == CHUNK)
            .execute(&mut *conn)
            .await
            .context("staging a page")?;
    }
    Ok(())
}

impl Staging {
    /// Says what the listing holds of owners (by default [`Owners::Listed`]).
    pub fn set_owners(&mut self, owners: Owners) {
        self.owners = owners;
    }

    /// Stages one page. An application or credential listed twice keeps its first listing (see
    /// [`Staging::apply`]).
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "add"))]
    pub async fn add(&mut self, apps: &[ListedApplication]) -> Result<(), StoreError> {
        let encode = |e: serde_json::Error| StoreError::Setup(format!("encoding a page: {e}"));
        let (mut staged_apps, mut staged_creds) = (Vec::with_capacity(apps.len()), Vec::new());
        for a in apps {
            if !self.seen_apps.insert(digest128(&[b"app", a.object_id.as_bytes()])) {
                continue;
            }
            let app = StagedApp {
                object_id: &a.object_id,
                app_id: &a.app_id,
                name: a.display_name.as_deref(),
                source: a.source.as_str(),
                tags: serde_json::to_string(&a.tags).map_err(encode)?,
                notes: a.notes.as_deref(),
                owners: a.owners.as_ref().map(serde_json::to_string).transpose().map_err(encode)?,
            };
            // Owners are digested apart: a listing without them (a refresh not due) is still
            // recognised as unchanged.
            let [n0, n1] = opt(app.name);
            let [x0, x1] = opt(app.notes);
            self.digest = self.digest.wrapping_add(digest128(&[
                b"app-row",
                app.object_id.as_bytes(),
                app.app_id.as_bytes(),
                n0,
                n1,
                app.source.as_bytes(),
                app.tags.as_bytes(),
                x0,
                x1,
            ]));
            if let Some(w) = &app.owners {
                self.owners_digest = self
                    .owners_digest
                    .wrapping_add(digest128(&[b"owners", app.object_id.as_bytes(), w.as_bytes()]));
            }
            self.applications += 1;
            staged_apps.push(app);
            for c in &a.credentials {
                let key = digest128(&[b"cred", a.object_id.as_bytes(), c.kind.as_str().as_bytes(), c.key_id.as_bytes()]);
                if !self.seen_creds.insert(key) {
                    continue;
                }
                let cred = StagedCred {
                    object_id: &a.object_id,
                    kind: c.kind.as_str(),
                    key_id: &c.key_id,
                    name: c.display_name.as_deref(),
                    hint: c.hint.as_deref(),
                    start: c.start.map(to_db),
                    end: to_db(c.end),
                };
                let [n0, n1] = opt(cred.name);
                let [h0, h1] = opt(cred.hint);
                let start = cred.start.map(i64::to_le_bytes);
                let [s0, s1] = match &start {
                    None => [b"-" as &[u8], b""],
                    Some(s) => [b"+" as &[u8], s.as_slice()],
                };
                self.digest = self.digest.wrapping_add(digest128(&[
                    b"cred-row",
                    cred.object_id.as_bytes(),
                    cred.kind.as_bytes(),
                    cred.key_id.as_bytes(),
                    n0,
                    n1,
                    h0,
                    h1,
                    s0,
                    s1,
                    &cred.end.to_le_bytes(),
                ]));
                self.credentials += 1;
                staged_creds.push(cred);
            }
        }
        let conn = self.conn.as_deref_mut().expect("staging is open until applied");
        insert_chunked(
            conn,
            "INSERT INTO temp.stage_apps (object_id, app_id, display_name, source, tags, notes, owners) ",
            &staged_apps,
            |mut b, a| {
                b.push_bind(a.object_id)
                    .push_bind(a.app_id)
                    .push_bind(a.name)
                    .push_bind(a.source)
                    .push_bind(a.tags.as_str())
                    .push_bind(a.notes)
                    .push_bind(a.owners.as_deref());
            },
        )
        .await?;
        insert_chunked(
            conn,
            "INSERT INTO temp.stage_creds (object_id, kind, key_id, display_name, hint, start_at, end_at) ",
            &staged_creds,
            |mut b, c| {
                b.push_bind(c.object_id)
                    .push_bind(c.kind)
                    .push_bind(c.key_id)
                    .push_bind(c.name)
                    .push_bind(c.hint)
                    .push_bind(c.start)
                    .push_bind(c.end);
            },
        )
        .await?;
        Ok(())
    }

    /// Applies the staged, complete listing to one environment in a single transaction:
    /// applications and credentials seen are inserted or, when they changed, updated; those not
    /// seen are marked removed; the run is recorded as a success. Unchanged rows are not written
    /// at all: a live row was last seen at its environment's `last_success_at`.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "apply"))]
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
                for sql in ["DROP TABLE temp.stage_apps", "DROP TABLE temp.stage_creds"] {
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
