//! Secondary indexes dropped for a bulk load and rebuilt in one sorted pass after it.

use crate::store::{Context, StoreError};
use sqlx::SqliteConnection;

/// What a bulk load into one table drops and rebuilds.
pub(super) struct BulkIndexes {
    /// Secondary indexes, by name (their definitions are read back from the database, so they
    /// are written only once, in the migrations).
    pub indexes: &'static [&'static str],
    /// Triggers on each inserted row: the one adding it to the search table over this table's
    /// rows (migrations/0008_search.sql), the one marking its stored answers stale
    /// (migrations/0017_answer_rows.sql). They are dropped, and their work done for all rows at
    /// once afterwards (`after_load`): row by row as rows go in costs more.
    pub triggers: &'static [&'static str],
    pub after_load: &'static [&'static str],
}

pub(super) const APPLICATION_INDEXES: BulkIndexes = BulkIndexes {
    indexes: &["applications_env_name", "applications_app_id"],
    triggers: &["application_search_insert"],
    after_load: &["INSERT INTO application_search (application_search) VALUES ('rebuild')"],
};

pub(super) const CREDENTIAL_INDEXES: BulkIndexes = BulkIndexes {
    indexes: &["credentials_live_end", "credentials_env_live_end"],
    triggers: &["credential_search_insert", "answer_rows_credential_insert"],
    after_load: &[
        "INSERT INTO credential_search (credential_search) VALUES ('rebuild')",
        // Every application: a bulk load rebuilds all stored answers in one pass anyway.
        "INSERT OR REPLACE INTO answer_rows_stale (application_id) SELECT id FROM applications",
    ],
};

/// What [`drop_for_bulk_load`] dropped, for [`rebuild_indexes`] to put back.
pub(super) struct Dropped {
    indexes: &'static BulkIndexes,
    /// The definitions of the dropped indexes and triggers, as the database held them.
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
        .chain(indexes.triggers.iter().map(|n| ("trigger", *n)))
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

/// Puts back what [`drop_for_bulk_load`] dropped, and does the dropped triggers' work for every
/// row in one pass.
pub(super) async fn rebuild_indexes(tx: &mut SqliteConnection, dropped: Option<Dropped>) -> Result<(), StoreError> {
    const CTX: &str = "rebuilding indexes after a bulk load";
    let Some(Dropped { indexes, definitions }) = dropped else {
        return Ok(());
    };
    // The database's own definitions, read back a moment ago.
    for sql in definitions {
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await.context(CTX)?;
    }
    for sql in indexes.after_load.iter().copied() {
        sqlx::query(sql).execute(&mut *tx).await.context(CTX)?;
    }
    Ok(())
}
