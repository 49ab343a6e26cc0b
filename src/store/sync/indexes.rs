//! Secondary indexes dropped for a bulk load and rebuilt in one sorted pass after it.

use crate::store::{Context, StoreError};
use sqlx::SqliteConnection;

/// What a bulk load into one table drops and rebuilds.
pub(super) struct BulkIndexes {
    /// Secondary indexes, by name (their definitions are read back from the database, so they
    /// are written only once, in the migrations).
    pub indexes: &'static [&'static str],
    /// The search table over this table's rows (migrations/0008_search.sql), and the trigger that
    /// adds each inserted row to it. The trigger is dropped, and the search table rebuilt in one
    /// pass afterwards: indexing row by row as rows go in costs more.
    pub search_trigger: &'static str,
    pub rebuild_search: &'static str,
}

pub(super) const APPLICATION_INDEXES: BulkIndexes = BulkIndexes {
    indexes: &["applications_env_name", "applications_app_id"],
    search_trigger: "application_search_insert",
    rebuild_search: "INSERT INTO application_search (application_search) VALUES ('rebuild')",
};

pub(super) const CREDENTIAL_INDEXES: BulkIndexes = BulkIndexes {
    indexes: &["credentials_live_end", "credentials_env_live_end"],
    search_trigger: "credential_search_insert",
    rebuild_search: "INSERT INTO credential_search (credential_search) VALUES ('rebuild')",
};

/// What [`drop_for_bulk_load`] dropped, for [`rebuild_indexes`] to put back.
pub(super) struct Dropped {
    indexes: &'static BulkIndexes,
    /// The definitions of the dropped indexes and of the search trigger, as the database held
    /// them.
    definitions: Vec<String>,
}

/// A bulk load (more than `at_least` incoming rows, and more than the table holds, as
/// `count_sql` says) builds its secondary indexes afterwards in one sorted pass, inside the
/// transaction, instead of updating them row by row: drops them and says what it dropped;
/// [`rebuild_indexes`] puts them back.
pub(super) async fn drop_for_bulk_load(
    tx: &mut SqliteConnection,
    count_sql: &'static str,
    incoming: i64,
    at_least: i64,
    indexes: &'static BulkIndexes,
) -> Result<Option<Dropped>, StoreError> {
    const CTX: &str = "preparing a bulk load";
    let (stored,): (i64,) = sqlx::query_as(count_sql).fetch_one(&mut *tx).await.context(CTX)?;
    if !(incoming > at_least && incoming > stored) {
        return Ok(None);
    }
    let mut definitions = Vec::new();
    for (kind, name) in indexes
        .indexes
        .iter()
        .map(|n| ("index", *n))
        .chain([("trigger", indexes.search_trigger)])
    {
        let (sql,): (String,) = sqlx::query_as("SELECT sql FROM sqlite_master WHERE type = ? AND name = ?")
            .bind(kind)
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .context(CTX)?;
        definitions.push(sql);
        // Names are the constants above, never input.
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP {} {name}", kind.to_uppercase())))
            .execute(&mut *tx)
            .await
            .context(CTX)?;
    }
    Ok(Some(Dropped { indexes, definitions }))
}

/// Puts back what [`drop_for_bulk_load`] dropped, and indexes every row for search in one pass.
pub(super) async fn rebuild_indexes(tx: &mut SqliteConnection, dropped: Option<Dropped>) -> Result<(), StoreError> {
    const CTX: &str = "rebuilding indexes after a bulk load";
    let Some(Dropped { indexes, definitions }) = dropped else {
        return Ok(());
    };
    // The database's own definitions, read back a moment ago.
    for sql in definitions {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await.context(CTX)?;
    }
    sqlx::query(indexes.rebuild_search).execute(&mut *tx).await.context(CTX)?;
    Ok(())
}
