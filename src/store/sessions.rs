//! Signed-in sessions (`mode = "oidc"`): created at sign-in, read on every request, ended by
//! logout or by their idle and absolute timeouts; and the sign-ins in progress before them.

use super::{Context, Store, StoreError};

/// A live session as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionRow {
    /// `preferred_username`, for display and logs only.
    pub user_name: String,
    pub oid: String,
    pub tenant_id: String,
    /// The app roles of the ID token, one per line.
    pub roles: String,
    /// Unix seconds.
    pub created_at: i64,
    pub seen_at: i64,
}

impl Store {
    /// Stores a new session under the hash of its id.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "create_session"))]
    pub async fn create_session(&self, id_hash: &[u8], row: &SessionRow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sessions (id_hash, user_name, oid, tenant_id, roles, created_at, seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(id_hash)
            .bind(&row.user_name)
            .bind(&row.oid)
            .bind(&row.tenant_id)
            .bind(&row.roles)
            .bind(row.created_at)
            .bind(row.seen_at)
            .execute(self.pool())
            .await
            .context("creating a session")
            .map(|_| ())
    }

    /// The session, if it is live at `now`: seen within `idle` seconds and created within
    /// `absolute`. One that has timed out is deleted. A live one is marked seen at `now` when
    /// its last mark is older than `touch_after` seconds (not on every request: that would be a
    /// write per page).
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "session"))]
    pub async fn session(
        &self,
        id_hash: &[u8],
        now: i64,
        idle: i64,
        absolute: i64,
        touch_after: i64,
    ) -> Result<Option<SessionRow>, StoreError> {
        let row: Option<SessionRow> =
            sqlx::query_as("SELECT user_name, oid, tenant_id, roles, created_at, seen_at FROM sessions WHERE id_hash = ?")
                .bind(id_hash)
                .fetch_optional(self.pool())
                .await
                .context("reading a session")?;
        let Some(row) = row else { return Ok(None) };
        if now - row.seen_at > idle || now - row.created_at > absolute {
            self.end_session(id_hash).await?;
            return Ok(None);
        }
        if now - row.seen_at > touch_after {
            sqlx::query("UPDATE sessions SET seen_at = ? WHERE id_hash = ?")
                .bind(now)
                .bind(id_hash)
                .execute(self.pool())
                .await
                .context("marking a session seen")?;
        }
        Ok(Some(row))
    }

    /// Ends a session (logout, or a timeout); nothing when there is none.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "end_session"))]
    pub async fn end_session(&self, id_hash: &[u8]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = ?")
            .bind(id_hash)
            .execute(self.pool())
            .await
            .context("ending a session")
            .map(|_| ())
    }

    /// Deletes the sessions that timed out by `now`; returns how many.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "purge_sessions"))]
    pub async fn purge_sessions(&self, now: i64, idle: i64, absolute: i64) -> Result<u64, StoreError> {
        sqlx::query("DELETE FROM sessions WHERE seen_at < ? OR created_at < ?")
            .bind(now - idle)
            .bind(now - absolute)
            .execute(self.pool())
            .await
            .context("purging sessions")
            .map(|r| r.rows_affected())
    }
}

/// A sign-in in progress, as [`Store::take_sign_in`] hands it back.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    pub nonce: String,
    /// The PKCE code verifier (a secret until the code is redeemed).
    pub verifier: String,
    pub return_to: String,
}

/// Without the verifier: `Debug` output goes to logs.
impl std::fmt::Debug for PendingSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingSignIn")
            .field("nonce", &self.nonce)
            .field("verifier", &"[redacted]")
            .field("return_to", &self.return_to)
            .finish()
    }
}

impl Store {
    /// Records a sign-in started at `now` under the hash of its state. Those older than `ttl`
    /// seconds are deleted first; if `max` are still waiting (someone is flooding the login), the
    /// oldest make room, so that a flood can delay a sign-in but never refuse every new one.
    /// Returns how many were dropped that way.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "begin_sign_in"))]
    pub async fn begin_sign_in(&self, state_hash: &[u8], sign_in: &PendingSignIn, now: i64, ttl: i64, max: i64) -> Result<u64, StoreError> {
        const CTX: &str = "recording a sign-in";
        let mut tx = super::write::WriteTx::begin(self.pool(), CTX).await?;
        sqlx::query("DELETE FROM pending_sign_ins WHERE started_at < ?")
            .bind(now - ttl)
            .execute(&mut *tx)
            .await
            .context(CTX)?;
        let (waiting,): (i64,) = sqlx::query_as("SELECT count(*) FROM pending_sign_ins")
            .fetch_one(&mut *tx)
            .await
            .context(CTX)?;
        let dropped = if waiting >= max {
            sqlx::query(
                "DELETE FROM pending_sign_ins WHERE state_hash IN
                   (SELECT state_hash FROM pending_sign_ins ORDER BY started_at, state_hash LIMIT ?)",
            )
            .bind(waiting - max + 1)
            .execute(&mut *tx)
            .await
            .context(CTX)?
            .rows_affected()
        } else {
            0
        };
        sqlx::query("INSERT INTO pending_sign_ins (state_hash, nonce, verifier, return_to, started_at) VALUES (?, ?, ?, ?, ?)")
            .bind(state_hash)
            .bind(&sign_in.nonce)
            .bind(&sign_in.verifier)
            .bind(&sign_in.return_to)
            .bind(now)
            .execute(&mut *tx)
            .await
            .context(CTX)?;
        tx.commit(CTX).await?;
        Ok(dropped)
    }

    /// The sign-in of this state hash if it started within `ttl` seconds of `now`, deleted as it
    /// is read: a callback can use it once, on whichever process it reaches.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "take_sign_in"))]
    pub async fn take_sign_in(&self, state_hash: &[u8], now: i64, ttl: i64) -> Result<Option<PendingSignIn>, StoreError> {
        let taken: Option<(String, String, String, i64)> =
            sqlx::query_as("DELETE FROM pending_sign_ins WHERE state_hash = ? RETURNING nonce, verifier, return_to, started_at")
                .bind(state_hash)
                .fetch_optional(self.pool())
                .await
                .context("reading a sign-in")?;
        Ok(taken
            .filter(|(.., started_at)| now - started_at <= ttl)
            .map(|(nonce, verifier, return_to, _)| PendingSignIn {
                nonce,
                verifier,
                return_to,
            }))
    }
}
