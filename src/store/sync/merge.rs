//! The set-based merge of a staged listing into the stored environment.

use super::indexes::{APPLICATION_INDEXES, CREDENTIAL_INDEXES, drop_for_bulk_load, rebuild_indexes};
use super::{ListingCounts, Owners};
use crate::domain::Timestamp;
use crate::store::{Context, StoreError};
use sqlx::SqliteConnection;

/// What was staged, in sum.
pub(super) struct Listing {
    /// Of every staged row, with the counts: equal to the last applied one when nothing changed.
    pub digest: String,
    pub applications: i64,
    pub credentials: i64,
    pub owners: Owners,
    /// `None` unless owners were listed.
    pub owners_digest: Option<String>,
}

/// The set-based merge of the staged listing into the environment, inside the transaction.
pub(super) async fn merge(
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
    rebuild_indexes(tx, bulk_apps).await?;
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
    // The removed ids come back (no second scan) for the event log's `removed` (issue 15).
    let removed_ids: Vec<i64> = run_sql(
        "UPDATE credentials SET removed_at = ?2, last_seen_at = COALESCE(?4, last_seen_at)
         WHERE environment_id = ?1 AND removed_at IS NULL AND id NOT IN (SELECT credential_id FROM temp.stage_match)
         RETURNING id",
    )
    .fetch_all(&mut *tx)
    .await
    .context(CTX)?
    .iter()
    .map(|row| sqlx::Row::get(row, 0))
    .collect();
    let removed = removed_ids.len() as i64;
    if !removed_ids.is_empty() {
        sqlx::query("INSERT INTO credential_events (credential_id, at, kind, via) SELECT value, ?, 'removed', 'system' FROM json_each(?)")
            .bind(now)
            .bind(crate::store::credentials::ids_json(&removed_ids))
            .execute(&mut *tx)
            .await
            .context(CTX)?;
    }
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
    rebuild_indexes(tx, bulk).await?;
    sqlx::query("DROP TABLE temp.stage_match").execute(&mut *tx).await.context(CTX)?;
    Ok(ListingCounts {
        applications: listing.applications,
        credentials: listing.credentials,
        added,
        removed,
    })
}
