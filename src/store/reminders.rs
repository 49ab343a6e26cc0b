//! The reminder ledger: which rung of the ladder each recipient already got (or skipped) for each
//! credential. Rows are written only after the mail server accepted a recipient's digest, so the
//! ledger never claims a reminder that was lost.

use super::write::WriteTx;
use super::{Context, Store, StoreError};
use crate::domain::{EventKind, Rung, Timestamp, Via};
use sqlx::{QueryBuilder, Sqlite};

/// One ledger row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReminderRow {
    pub credential_id: i64,
    /// Days before the end, or -1 for the notice after expiry (see [`Rung::from_db`]).
    pub rung: i64,
    /// The recipient's address, lower-cased.
    pub recipient: String,
    /// `sent` or `skipped`.
    pub outcome: String,
    pub decided_at: Timestamp,
}

impl ReminderRow {
    pub fn rung(&self) -> Rung {
        Rung::from_db(self.rung)
    }
}

/// Rows per multi-row INSERT: well under SQLite's bound-parameter limit.
const CHUNK: usize = 150;

impl Store {
    /// The ledger rows of live credentials ending before `end_before`: all the reminder planner
    /// needs, read in one query.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "reminder_ledger"))]
    pub async fn reminder_ledger(&self, end_before: Timestamp) -> Result<Vec<ReminderRow>, StoreError> {
        sqlx::query_as::<_, ReminderRow>(
            "SELECT r.credential_id, r.rung, r.recipient, r.outcome, r.decided_at
               FROM reminders r JOIN credentials c ON c.id = r.credential_id
              WHERE c.removed_at IS NULL AND c.end_at < ?
              ORDER BY r.credential_id, r.rung",
        )
        .bind(end_before)
        .fetch_all(&self.pool)
        .await
        .context("reading the reminder ledger")
    }

    /// Every ledger row of one credential, oldest decision first.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "reminders_of"))]
    pub async fn reminders_of(&self, credential_id: i64) -> Result<Vec<ReminderRow>, StoreError> {
        sqlx::query_as::<_, ReminderRow>(
            "SELECT credential_id, rung, recipient, outcome, decided_at FROM reminders WHERE credential_id = ? ORDER BY decided_at, rung, recipient",
        )
        .bind(credential_id)
        .fetch_all(&self.pool)
        .await
        .context("reading a credential's reminders")
    }

    /// Records, in one transaction, that `recipient`'s digest was accepted: the rungs in `sent`
    /// as sent and those in `skipped` as skipped. A row already there (another process sent the
    /// same rung meanwhile) is left as it is.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "record_reminders"))]
    pub async fn record_reminders(
        &self,
        recipient: &str,
        sent: &[(i64, Rung)],
        skipped: &[(i64, Rung)],
        decided_at: Timestamp,
    ) -> Result<(), StoreError> {
        const CTX: &str = "recording reminders";
        let rows: Vec<(i64, Rung, &str)> = sent
            .iter()
            .map(|&(c, r)| (c, r, "sent"))
            .chain(skipped.iter().map(|&(c, r)| (c, r, "skipped")))
            .collect();
        let mut tx = WriteTx::begin(&self.pool, CTX).await?;
        for chunk in rows.chunks(CHUNK) {
            let mut q: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT INTO reminders (credential_id, rung, recipient, outcome, decided_at) ");
            q.push_values(chunk, |mut b, (credential, rung, outcome)| {
                b.push_bind(*credential)
                    .push_bind(rung.to_db())
                    .push_bind(recipient)
                    .push_bind(*outcome)
                    .push_bind(decided_at);
            });
            q.push(" ON CONFLICT (credential_id, rung, recipient) DO NOTHING");
            q.build().execute(&mut *tx).await.context(CTX)?;
        }
        // The event log's `reminded`, in the same transaction: the log and the ledger agree.
        for chunk in sent.chunks(CHUNK) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("INSERT INTO credential_events (credential_id, at, kind, via, note) ");
            q.push_values(chunk, |mut b, (credential, rung)| {
                b.push_bind(*credential)
                    .push_bind(decided_at)
                    .push_bind(EventKind::Reminded.as_str())
                    .push_bind(Via::System.as_str())
                    .push_bind(format!("to {recipient} ({rung})"));
            });
            q.build().execute(&mut *tx).await.context(CTX)?;
        }
        tx.commit(CTX).await
    }

    /// How many reminders the mail server accepted, ever (one per credential, rung and recipient).
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "reminders_sent_total"))]
    pub async fn reminders_sent_total(&self) -> Result<i64, StoreError> {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM reminders WHERE outcome = 'sent'")
            .fetch_one(&self.pool)
            .await
            .context("counting reminders")?;
        Ok(n)
    }
}
