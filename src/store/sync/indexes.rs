//! Secondary indexes dropped for a bulk load and rebuilt in one sorted pass after it.

use crate::store::{Context, StoreError};
use sqlx::SqliteConnection;

/// What a bulk load into one table drops and rebuilds.
pub(super) struct BulkIndexes {
    /// Secondary indexes: how to drop each, and its definition as in the migrations.
    pub indexes: &'static [(&'static str, &'static str)],
    /// The search table over this table's rows (migrations/0008_search.sql), and the trigger that
    /// adds each inserted row to it. The trigger is dropped, and the search table rebuilt in one
    /// pass afterwards: indexing row by row as rows go in costs more.
    pub search_trigger: &'static str,
    pub drop_search_trigger: &'static str,
    pub rebuild_search: &'static str,
}

pub(super) const APPLICATION_INDEXES: BulkIndexes = BulkIndexes {
    indexes: &[
        (
            "DROP INDEX applications_env_name",
            "CREATE INDEX applications_env_name ON applications (environment_id, display_name)",
        ),
        (
            "DROP INDEX applications_app_id",
            "CREATE INDEX applications_app_id ON applications (app_id)",
        ),
    ],
    search_trigger: "application_search_insert",
    drop_search_trigger: "DROP TRIGGER application_search_insert",
    rebuild_search: "INSERT INTO application_search (application_search) VALUES ('rebuild')",
};

pub(super) const CREDENTIAL_INDEXES: BulkIndexes = BulkIndexes {
    indexes: &[
        (
            "DROP INDEX credentials_live_end",
            "CREATE INDEX credentials_live_end ON credentials (end_at) WHERE removed_at IS NULL",
        ),
        (
            "DROP INDEX credentials_env_live_end",
            "CREATE INDEX credentials_env_live_end ON credentials (environment_id, end_at) WHERE removed_at IS NULL",
        ),
    ],
    search_trigger: "credential_search_insert",
    drop_search_trigger: "DROP TRIGGER credential_search_insert",
    rebuild_search: "INSERT INTO credential_search (credential_search) VALUES ('rebuild')",
};

/// What [`drop_for_bulk_load`] dropped, for [`rebuild_indexes`] to put back.
pub(super) struct Dropped {
    indexes: &'static BulkIndexes,
    /// The search trigger's definition as the database holds it (so it is written only once, in
    /// its migration).
    trigger_sql: String,
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
    for (drop, _) in indexes.indexes {
        sqlx::query(*drop).execute(&mut *tx).await.context(CTX)?;
    }
    let (trigger_sql,): (String,) = sqlx::query_as("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?")
        .bind(indexes.search_trigger)
        .fetch_one(&mut *tx)
        .await
        .context(CTX)?;
    sqlx::query(indexes.drop_search_trigger).execute(&mut *tx).await.context(CTX)?;
    Ok(Some(Dropped { indexes, trigger_sql }))
}

/// Puts back what [`drop_for_bulk_load`] dropped, and indexes every row for search in one pass.
pub(super) async fn rebuild_indexes(tx: &mut SqliteConnection, dropped: Option<Dropped>) -> Result<(), StoreError> {
    const CTX: &str = "rebuilding indexes after a bulk load";
    let Some(Dropped { indexes, trigger_sql }) = dropped else {
        return Ok(());
    };
    for (_, create) in indexes.indexes {
        sqlx::query(*create).execute(&mut *tx).await.context(CTX)?;
    }
    // The database's own definition of its trigger, read back a moment ago.
    sqlx::query(sqlx::AssertSqlSafe(trigger_sql)).execute(&mut *tx).await.context(CTX)?;
    sqlx::query(indexes.rebuild_search).execute(&mut *tx).await.context(CTX)?;
    Ok(())
}
