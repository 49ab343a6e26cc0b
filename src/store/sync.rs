//! Writing a sync's result: runs, and a complete listing applied in one transaction.

use super::{Context, Store, StoreError};
use crate::domain::{ListedApplication, ListedCredential};
use futures_util::TryStreamExt;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use std::collections::HashMap;

/// What applying a complete listing changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListingCounts {
    pub applications: i64,
    pub credentials: i64,
    pub added: i64,
    pub removed: i64,
}

/// One sync run as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunRow {
    pub id: i64,
    pub environment_id: i64,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub outcome: String,
    pub pages: i64,
    pub applications: i64,
    pub credentials: i64,
    pub added: i64,
    pub removed: i64,
    pub error: Option<String>,
}

/// Rows per multi-row INSERT: well under SQLite's bound-parameter limit.
const APP_CHUNK: usize = 400;
const CRED_CHUNK: usize = 400;

impl Store {
    /// Records that a sync of `environment_id` started; the run stays `running` until finished.
    pub async fn begin_run(&self, environment_id: i64, started_at: i64) -> Result<i64, StoreError> {
        let (id,): (i64,) =
            sqlx::query_as("INSERT INTO sync_runs (environment_id, started_at, outcome) VALUES (?, ?, 'running') RETURNING id")
                .bind(environment_id)
                .bind(started_at)
                .fetch_one(&self.pool)
                .await
                .context("recording a sync run")?;
        Ok(id)
    }

    /// Records a failed run. Nothing else is touched: a failed listing changes no credential.
    pub async fn fail_run(&self, run_id: i64, finished_at: i64, pages: i64, error: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE sync_runs SET finished_at = ?, outcome = 'failed', pages = ?, error = ? WHERE id = ?")
            .bind(finished_at)
            .bind(pages)
            .bind(error)
            .bind(run_id)
            .execute(&self.pool)
            .await
            .context("recording a failed sync run")?;
        Ok(())
    }

    /// Runs left `running` by a process that stopped mid-sync: marked interrupted at start-up.
    pub async fn close_interrupted_runs(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("UPDATE sync_runs SET outcome = 'interrupted', finished_at = ?, error = 'the process stopped during this sync' WHERE outcome = 'running'")
            .bind(now)
            .execute(&self.pool)
            .await
            .context("closing interrupted sync runs")?;
        Ok(done.rows_affected())
    }

    /// Applies a complete listing for one environment in a single transaction: applications and
    /// credentials seen are inserted or, when they changed, updated; those not seen are marked
    /// removed; the run is recorded as a success. Either all of it happens or none. Unchanged rows
    /// are not written at all: a live row was last seen at its environment's `last_success_at`.
    pub async fn apply_listing(
        &self,
        environment_id: i64,
        run_id: i64,
        now: i64,
        pages: i64,
        apps: &[ListedApplication],
    ) -> Result<ListingCounts, StoreError> {
        let _writer = self.write_lock.lock().await;
        let mut conn = self.pool.acquire().await.context("writing a sync's result")?;
        // IMMEDIATE: take the write lock before reading, so another process's write cannot
        // invalidate our snapshot halfway (SQLITE_BUSY_SNAPSHOT). The transaction is managed by
        // hand: after SQLite rolled back by itself (a full disk), sqlx's own bookkeeping would
        // leave the pooled connection unusable.
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *conn)
            .await
            .context("writing a sync's result")?;
        match apply(&mut conn, environment_id, run_id, now, pages, apps).await {
            Ok(counts) => match sqlx::query("COMMIT").execute(&mut *conn).await {
                Ok(_) => Ok(counts),
                Err(e) => {
                    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                    let _ = conn.close().await;
                    Err(e).context("writing a sync's result")
                }
            },
            Err(e) => {
                // The connection's state is unknown after a failed write: roll back and retire it.
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                let _ = conn.close().await;
                Err(e)
            }
        }
    }
}

/// The body of [`Store::apply_listing`], inside its transaction.
async fn apply(
    tx: &mut SqliteConnection,
    environment_id: i64,
    run_id: i64,
    now: i64,
    pages: i64,
    apps: &[ListedApplication],
) -> Result<ListingCounts, StoreError> {
    {
        const CTX: &str = "writing a sync's result";
        let (previous_success,): (Option<i64>,) = sqlx::query_as("SELECT last_success_at FROM environments WHERE id = ?")
            .bind(environment_id)
            .fetch_one(&mut *tx)
            .await
            .context(CTX)?;

        // Applications: object_id -> (id, digest of the stored fields, removed).
        let mut known: HashMap<String, (i64, u64, bool)> = HashMap::new();
        {
            let mut rows = sqlx::query_as::<_, AppFields>(
                "SELECT id, object_id, app_id, display_name, source, tags, notes, owners, removed_at FROM applications WHERE environment_id = ?",
            )
            .bind(environment_id)
            .fetch(&mut *tx);
            while let Some(row) = rows.try_next().await.context(CTX)? {
                let digest = app_digest(
                    &row.app_id,
                    row.display_name.as_deref(),
                    &row.source,
                    &row.tags,
                    row.notes.as_deref(),
                    row.owners.as_deref(),
                );
                known.insert(row.object_id, (row.id, digest, row.removed_at.is_some()));
            }
        }
        let encoded: HashMap<&str, (String, Option<String>)> = apps.iter().map(|a| (a.object_id.as_str(), encode_app(a))).collect();
        let mut app_ids: HashMap<&str, i64> = HashMap::with_capacity(apps.len());
        let mut new_apps: Vec<&ListedApplication> = Vec::new();
        let mut changed_apps: Vec<(i64, &ListedApplication)> = Vec::new();
        for a in apps {
            if app_ids.contains_key(a.object_id.as_str()) {
                continue; // listed twice (a page repeated): the first wins
            }
            match known.get(&a.object_id) {
                Some((id, old, removed)) => {
                    let (tags, owners) = &encoded[a.object_id.as_str()];
                    if *removed
                        || *old
                            != app_digest(
                                &a.app_id,
                                a.display_name.as_deref(),
                                a.source.as_str(),
                                tags,
                                a.notes.as_deref(),
                                owners.as_deref(),
                            )
                    {
                        changed_apps.push((*id, a));
                    }
                    app_ids.insert(&a.object_id, *id);
                }
                None => {
                    app_ids.insert(&a.object_id, 0);
                    new_apps.push(a);
                }
            }
        }
        for chunk in new_apps.chunks(APP_CHUNK) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO applications (environment_id, object_id, app_id, display_name, first_seen_at, last_seen_at, last_seen_run, source, tags, notes, owners) ",
            );
            q.push_values(chunk, |mut b, a| {
                let (tags, owners) = &encoded[a.object_id.as_str()];
                b.push_bind(environment_id)
                    .push_bind(&a.object_id)
                    .push_bind(&a.app_id)
                    .push_bind(&a.display_name)
                    .push_bind(now)
                    .push_bind(now)
                    .push_bind(run_id);
                b.push_bind(a.source.as_str())
                    .push_bind(tags.clone())
                    .push_bind(&a.notes)
                    .push_bind(owners.clone());
            });
            q.push(" RETURNING id, object_id");
            let rows: Vec<(i64, String)> = q.build_query_as().fetch_all(&mut *tx).await.context(CTX)?;
            for (id, object_id) in rows {
                if let Some(slot) = app_ids.get_mut(object_id.as_str()) {
                    *slot = id;
                }
            }
        }
        for (id, a) in &changed_apps {
            let (tags, owners) = &encoded[a.object_id.as_str()];
            sqlx::query(
                "UPDATE applications SET app_id = ?, display_name = ?, source = ?, tags = ?, notes = ?, owners = ?, last_seen_at = ?, last_seen_run = ?, removed_at = NULL WHERE id = ?",
            )
                .bind(&a.app_id)
                .bind(&a.display_name)
                .bind(a.source.as_str())
                .bind(tags)
                .bind(&a.notes)
                .bind(owners)
                .bind(now)
                .bind(run_id)
                .bind(id)
                .execute(&mut *tx)
                .await
                .context(CTX)?;
        }
        let seen_app_ids: std::collections::HashSet<i64> = app_ids.values().copied().collect();
        let gone_apps: Vec<i64> = known
            .values()
            .filter(|(id, _, removed)| !removed && !seen_app_ids.contains(id))
            .map(|v| v.0)
            .collect();
        mark_removed(tx, "applications", &gone_apps, now, previous_success).await?;

        // Credentials: (application id, kind, key_id) -> (id, digest of the stored fields, removed).
        // A digest instead of the fields keeps a 200,000-credential tenant's map small.
        let mut known: HashMap<(i64, String, String), (i64, u64, bool)> = HashMap::new();
        {
            let mut rows = sqlx::query_as::<_, (i64, i64, String, String, Option<String>, Option<String>, Option<i64>, i64, Option<i64>)>(
                "SELECT id, application_id, kind, key_id, display_name, hint, start_at, end_at, removed_at FROM credentials WHERE environment_id = ?",
            )
            .bind(environment_id)
            .fetch(&mut *tx);
            while let Some((id, app, kind, key_id, name, hint, start, end, removed)) = rows.try_next().await.context(CTX)? {
                known.insert(
                    (app, kind, key_id),
                    (id, fields_digest(name.as_deref(), hint.as_deref(), start, end), removed.is_some()),
                );
            }
        }
        let mut seen: std::collections::HashSet<(i64, &str, &str)> = std::collections::HashSet::new();
        let mut seen_ids: std::collections::HashSet<i64> = std::collections::HashSet::new();
        let mut new_creds: Vec<(i64, &ListedCredential)> = Vec::new();
        let mut changed_creds: Vec<(i64, &ListedCredential)> = Vec::new();
        for a in apps {
            let Some(&app) = app_ids.get(a.object_id.as_str()) else { continue };
            for c in &a.credentials {
                if !seen.insert((app, c.kind.as_str(), c.key_id.as_str())) {
                    continue; // listed twice (a page repeated): the first wins
                }
                let fields = fields_digest(
                    c.display_name.as_deref(),
                    c.hint.as_deref(),
                    c.start.map(|s| s.timestamp()),
                    c.end.timestamp(),
                );
                match known.get(&(app, c.kind.as_str().to_string(), c.key_id.clone())) {
                    Some((id, old, removed)) => {
                        seen_ids.insert(*id);
                        if *removed || *old != fields {
                            changed_creds.push((*id, c));
                        }
                    }
                    None => new_creds.push((app, c)),
                }
            }
        }
        for chunk in new_creds.chunks(CRED_CHUNK) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO credentials (application_id, environment_id, kind, key_id, display_name, hint, start_at, end_at,
                   first_seen_at, first_seen_run, last_seen_at, last_seen_run) ",
            );
            q.push_values(chunk, |mut b, (app, c)| {
                b.push_bind(*app)
                    .push_bind(environment_id)
                    .push_bind(c.kind.as_str())
                    .push_bind(&c.key_id)
                    .push_bind(&c.display_name)
                    .push_bind(&c.hint)
                    .push_bind(c.start.map(|s| s.timestamp()))
                    .push_bind(c.end.timestamp())
                    .push_bind(now)
                    .push_bind(run_id)
                    .push_bind(now)
                    .push_bind(run_id);
            });
            q.build().execute(&mut *tx).await.context(CTX)?;
        }
        for (id, c) in &changed_creds {
            sqlx::query(
                "UPDATE credentials SET display_name = ?, hint = ?, start_at = ?, end_at = ?, last_seen_at = ?, last_seen_run = ?, removed_at = NULL WHERE id = ?",
            )
            .bind(&c.display_name)
            .bind(&c.hint)
            .bind(c.start.map(|s| s.timestamp()))
            .bind(c.end.timestamp())
            .bind(now)
            .bind(run_id)
            .bind(id)
            .execute(&mut *tx)
            .await
            .context(CTX)?;
        }
        let gone: Vec<i64> = known
            .values()
            .filter(|(id, _, removed)| !removed && !seen_ids.contains(id))
            .map(|v| v.0)
            .collect();
        mark_removed(tx, "credentials", &gone, now, previous_success).await?;

        let counts = ListingCounts {
            applications: seen_app_ids.len() as i64,
            credentials: seen.len() as i64,
            added: new_creds.len() as i64,
            removed: gone.len() as i64,
        };
        sqlx::query("UPDATE environments SET last_success_at = ? WHERE id = ?")
            .bind(now)
            .bind(environment_id)
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
        .bind(run_id)
        .execute(&mut *tx)
        .await
        .context(CTX)?;
        Ok(counts)
    }
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

/// Marks rows of `table` removed at `now`; they were last seen at the previous successful sync.
async fn mark_removed(
    tx: &mut SqliteConnection,
    table: &'static str,
    ids: &[i64],
    now: i64,
    last_seen: Option<i64>,
) -> Result<(), StoreError> {
    for chunk in ids.chunks(900) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!("UPDATE {table} SET removed_at = "));
        q.push_bind(now)
            .push(", last_seen_at = COALESCE(")
            .push_bind(last_seen)
            .push(", last_seen_at) WHERE id IN (");
        let mut list = q.separated(", ");
        for id in chunk {
            list.push_bind(*id);
        }
        q.push(")");
        q.build().execute(&mut *tx).await.context("marking removed rows")?;
    }
    Ok(())
}

/// An application's stored fields, for telling a changed one from an unchanged one.
#[derive(sqlx::FromRow)]
struct AppFields {
    id: i64,
    object_id: String,
    app_id: String,
    display_name: Option<String>,
    source: String,
    tags: String,
    notes: Option<String>,
    owners: Option<String>,
    removed_at: Option<i64>,
}

/// Tags and owners as the JSON the columns hold.
fn encode_app(a: &ListedApplication) -> (String, Option<String>) {
    let tags = serde_json::to_string(&a.tags).unwrap_or_else(|_| "[]".into());
    let owners = a.owners.as_ref().map(|o| serde_json::to_string(o).unwrap_or_else(|_| "[]".into()));
    (tags, owners)
}

fn app_digest(app_id: &str, name: Option<&str>, source: &str, tags: &str, notes: Option<&str>, owners: Option<&str>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (app_id, name, source, tags, notes, owners).hash(&mut h);
    h.finish()
}

/// A digest of the fields a sync may change, to tell a changed credential from an unchanged one.
fn fields_digest(name: Option<&str>, hint: Option<&str>, start: Option<i64>, end: i64) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (name, hint, start, end).hash(&mut h);
    h.finish()
}
