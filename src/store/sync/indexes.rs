//! Secondary indexes dropped for a bulk load and rebuilt in one sorted pass after it.

use crate::store::{Context, StoreError};
use sqlx::SqliteConnection;

/// Secondary indexes that a bulk load drops and rebuilds: how to drop each, and its definition
/// as in the migrations.
pub(super) type Indexes = [(&'static str, &'static str); 2];

pub(super) const APPLICATION_INDEXES: Indexes = [
    (
        "DROP INDEX applications_env_name",
        "CREATE INDEX applications_env_name ON applications (environment_id, display_name)",
    ),
    (
        "DROP INDEX applications_app_id",
        "CREATE INDEX applications_app_id ON applications (app_id)",
    ),
];

pub(super) const CREDENTIAL_INDEXES: Indexes = [
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
/// `count_sql` says) builds its secondary indexes afterwards in one sorted pass, inside the
/// transaction, instead of updating them row by row: drops them and says so;
/// [`rebuild_indexes`] puts them back.
pub(super) async fn drop_for_bulk_load(
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

pub(super) async fn rebuild_indexes(tx: &mut SqliteConnection, indexes: &Indexes) -> Result<(), StoreError> {
    for (_, create) in indexes {
        sqlx::query(*create)
            .execute(&mut *tx)
            .await
            .context("rebuilding indexes after a bulk load")?;
    }
    Ok(())
}
