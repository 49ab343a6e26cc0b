//! A listing staged page by page into temporary tables on one connection, digested as it
//! arrives, and applied in one transaction.

use super::merge::{Listing, merge};
use super::{ListingCounts, Owners};
use crate::domain::{ListedApplication, Timestamp};
use crate::store::time::to_db;
use crate::store::{Context, Store, StoreError};
use sha2::Digest;
use sqlx::{Sqlite, SqliteConnection};
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
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "add"))]
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
