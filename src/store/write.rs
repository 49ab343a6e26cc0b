//! Write transactions that a failure cannot leave behind in the pool.
//!
//! sqlx's own transactions keep a nesting count on the connection. When SQLite rolls a
//! transaction back by itself (a full disk, an I/O error), that count still says "inside a
//! transaction": the connection goes back to the pool, and every later `begin` on it opens a
//! savepoint instead, whose work is never committed. So a write here is `BEGIN IMMEDIATE` …
//! `COMMIT` by hand, and a connection whose transaction did not commit is retired (closed, which
//! rolls back whatever SQLite still holds) instead of returned: a failure costs one connection,
//! never the pool.

use super::{Context, StoreError};
use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use std::ops::{Deref, DerefMut};

/// An open write transaction; see the module's note. Commit it with [`WriteTx::commit`]; dropped
/// otherwise (an error returned with `?`), it retires its connection.
pub(crate) struct WriteTx {
    conn: Option<PoolConnection<Sqlite>>,
}

impl WriteTx {
    /// Takes a connection and the database's write lock at once (`IMMEDIATE`: no other writer
    /// can invalidate what this transaction reads before it writes).
    pub(crate) async fn begin(pool: &SqlitePool, context: &'static str) -> Result<WriteTx, StoreError> {
        let conn = pool.acquire().await.context(context)?;
        WriteTx::begin_on(conn, context).await
    }

    /// [`WriteTx::begin`] on a connection already taken (one holding temporary tables).
    pub(crate) async fn begin_on(mut conn: PoolConnection<Sqlite>, context: &'static str) -> Result<WriteTx, StoreError> {
        if let Err(e) = sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await {
            drop(conn.detach());
            return Err(e).context(context);
        }
        Ok(WriteTx { conn: Some(conn) })
    }

    /// Commits; a failed commit rolls back and retires the connection.
    pub(crate) async fn commit(self, context: &'static str) -> Result<(), StoreError> {
        self.commit_and_keep(context).await.map(drop)
    }

    /// Commits and keeps the connection (one holding temporary tables, for another
    /// transaction); a failed commit rolls back and retires it.
    pub(crate) async fn commit_and_keep(mut self, context: &'static str) -> Result<PoolConnection<Sqlite>, StoreError> {
        let mut conn = self.conn.take().expect("open until committed or dropped");
        match sqlx::query("COMMIT").execute(&mut *conn).await {
            Ok(_) => Ok(conn),
            Err(e) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                drop(conn.detach());
                Err(e).context(context)
            }
        }
    }

    /// Rolls back on purpose (nothing went wrong: there is nothing to write); the connection
    /// goes back to the pool when the rollback succeeds.
    pub(crate) async fn rollback(mut self, context: &'static str) -> Result<(), StoreError> {
        let mut conn = self.conn.take().expect("open until committed or dropped");
        match sqlx::query("ROLLBACK").execute(&mut *conn).await {
            Ok(_) => Ok(()),
            Err(e) => {
                drop(conn.detach());
                Err(e).context(context)
            }
        }
    }
}

impl Deref for WriteTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        self.conn.as_deref().expect("open until committed or dropped")
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn.as_deref_mut().expect("open until committed or dropped")
    }
}

impl Drop for WriteTx {
    /// Not committed: the connection leaves the pool and closes, which rolls back.
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}
