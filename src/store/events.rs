//! Actions people take on a credential (acknowledge, snooze, "not mine", rotated) and the event
//! log. An action, its effect on reminders, its event and the use of the link that carried it
//! commit in one transaction: a crash leaves all of it or none.

use super::write::WriteTx;
use super::{Context, Store, StoreError};
use crate::domain::{EventKind, LinkSigner, SnoozeError, Timestamp, Via, check_snooze};
use sqlx::{QueryBuilder, Sqlite};

/// What someone asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialAction {
    /// "I'm on it": reminders pause until `status.critical_days`.
    Acknowledge,
    /// Reminders pause until `until`, which must be at least `min_notice_days` before the end.
    Snooze { until: Timestamp, min_notice_days: i64 },
    /// "Not mine": the application's next reminders go to its environment's `notify` list.
    Dispute { suggested_owner: Option<String> },
    /// "Rotated — check now": recorded; the caller queues the sync that finds out.
    Rotated,
}

impl CredentialAction {
    pub fn kind(&self) -> EventKind {
        match self {
            CredentialAction::Acknowledge => EventKind::Acknowledged,
            CredentialAction::Snooze { .. } => EventKind::Snoozed,
            CredentialAction::Dispute { .. } => EventKind::Disputed,
            CredentialAction::Rotated => EventKind::Rotated,
        }
    }
}

/// Who acts, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// A signed-in user's name or a link's recipient address; `None` for credwatch itself.
    pub name: Option<String>,
    pub via: Via,
    pub client_address: Option<String>,
}

impl Actor {
    /// credwatch itself (reminders, escalations, syncs).
    pub fn system() -> Actor {
        Actor {
            name: None,
            via: Via::System,
            client_address: None,
        }
    }
}

/// Why an action was not taken; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the credential is no longer listed (removed or rotated away): there is nothing left to do")]
    Gone,
    #[error("cannot snooze: {0}")]
    Snooze(#[from] SnoozeError),
    /// The single-use link was used before.
    #[error("this link was already used")]
    LinkUsed,
}

/// One event, as the log and `GET /api/v1/events` show it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EventRow {
    pub id: i64,
    pub credential_id: i64,
    pub at: Timestamp,
    pub environment: String,
    pub app_id: String,
    pub key_id: String,
    pub kind: String,
    pub actor: Option<String>,
    pub via: String,
    pub client_address: Option<String>,
    pub note: Option<String>,
}

/// Which events to read; newest first.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub environment: Option<String>,
    pub application_id: Option<i64>,
    pub credential_id: Option<i64>,
    /// Case-insensitive, as key ids are GUIDs.
    pub key_id: Option<String>,
    pub kind: Option<EventKind>,
    /// At or after this instant.
    pub since: Option<Timestamp>,
    /// Paging: only events older than this one (its id, from the previous page's last event).
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// Notes and suggested owners are free text from people: kept, but bounded.
const MAX_NOTE_CHARS: usize = 500;

fn bounded(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().take(MAX_NOTE_CHARS).collect())
}

impl Store {
    /// Takes `action` on a live credential as `actor` at `now`, with its event; with
    /// `single_use`, records that link id as used in the same transaction and refuses a link
    /// already used. Returns the event's id.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "act", credential_id, kind = %action.kind()))]
    pub async fn act(
        &self,
        credential_id: i64,
        action: &CredentialAction,
        actor: &Actor,
        note: Option<&str>,
        single_use: Option<&str>,
        now: Timestamp,
    ) -> Result<i64, ActionError> {
        const CTX: &str = "recording an action";
        let note = bounded(note);
        let mut tx = WriteTx::begin(&self.pool, CTX).await?;
        // An action refused (gone, a used link, a snooze too long) rolls back and keeps its
        // connection; only a failed write retires it (see [`WriteTx`]).
        let done = async |tx: &mut WriteTx| -> Result<i64, ActionError> {
            let live: Option<(Timestamp, i64)> =
                sqlx::query_as("SELECT end_at, application_id FROM credentials WHERE id = ? AND removed_at IS NULL")
                    .bind(credential_id)
                    .fetch_optional(&mut **tx)
                    .await
                    .context(CTX)?;
            let Some((end, application_id)) = live else {
                return Err(ActionError::Gone);
            };
            if let Some(link) = single_use {
                let fresh = sqlx::query("INSERT INTO used_links (link_id, used_at) VALUES (?, ?) ON CONFLICT (link_id) DO NOTHING")
                    .bind(link)
                    .bind(now)
                    .execute(&mut **tx)
                    .await
                    .context(CTX)?
                    .rows_affected();
                if fresh == 0 {
                    return Err(ActionError::LinkUsed);
                }
            }
            let who = actor.name.as_deref();
            let mut event_note = note.clone();
            match action {
                CredentialAction::Acknowledge => {
                    sqlx::query("UPDATE credentials SET acknowledged_by = ?, acknowledged_at = ? WHERE id = ?")
                        .bind(who.unwrap_or("credwatch"))
                        .bind(now)
                        .bind(credential_id)
                        .execute(&mut **tx)
                        .await
                        .context(CTX)?;
                }
                CredentialAction::Snooze { until, min_notice_days } => {
                    let until = check_snooze(*until, end, *min_notice_days, now)?;
                    sqlx::query("UPDATE credentials SET snoozed_until = ? WHERE id = ?")
                        .bind(until)
                        .bind(credential_id)
                        .execute(&mut **tx)
                        .await
                        .context(CTX)?;
                    // The log says until when, whatever the note says.
                    let until = format!("until {until}");
                    event_note = Some(match note {
                        Some(n) => format!("{until}: {n}"),
                        None => until,
                    });
                }
                CredentialAction::Dispute { suggested_owner } => {
                    let suggested = bounded(suggested_owner.as_deref());
                    sqlx::query("UPDATE applications SET owner_disputed_by = ?, owner_disputed_at = ?, suggested_owner = ? WHERE id = ?")
                        .bind(who.unwrap_or("credwatch"))
                        .bind(now)
                        .bind(&suggested)
                        .bind(application_id)
                        .execute(&mut **tx)
                        .await
                        .context(CTX)?;
                    if let Some(s) = suggested {
                        let s = format!("suggested owner: {s}");
                        event_note = Some(match note {
                            Some(n) => format!("{s}; {n}"),
                            None => s,
                        });
                    }
                }
                CredentialAction::Rotated => {}
            }
            let id = insert_event(tx, credential_id, action.kind(), actor, event_note.as_deref(), now).await?;
            Ok(id)
        };
        match done(&mut tx).await {
            Ok(id) => {
                tx.commit(CTX).await?;
                Ok(id)
            }
            Err(e) => {
                let _ = tx.rollback(CTX).await;
                Err(e)
            }
        }
    }

    /// Records one `kind` event per credential in `credential_ids` by credwatch itself, in one
    /// transaction (a digest's `reminded` events, an escalation).
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "record_events", kind = %kind, n = credential_ids.len()))]
    pub async fn record_events(
        &self,
        credential_ids: &[i64],
        kind: EventKind,
        note: Option<&str>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        const CTX: &str = "recording events";
        let mut tx = WriteTx::begin(&self.pool, CTX).await?;
        for chunk in credential_ids.chunks(150) {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("INSERT INTO credential_events (credential_id, at, kind, via, note) ");
            q.push_values(chunk, |mut b, id| {
                b.push_bind(*id)
                    .push_bind(now)
                    .push_bind(kind.as_str())
                    .push_bind(Via::System.as_str())
                    .push_bind(note);
            });
            q.build().execute(&mut *tx).await.context(CTX)?;
        }
        tx.commit(CTX).await
    }

    /// The events matching `filter`, newest first, at most `filter.limit`.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "events"))]
    pub async fn events(&self, filter: &EventFilter) -> Result<Vec<EventRow>, StoreError> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT v.id, v.credential_id, v.at, e.name AS environment, a.app_id, c.key_id, v.kind, v.actor, v.via, v.client_address, v.note
               FROM credential_events v JOIN credentials c ON c.id = v.credential_id
               JOIN applications a ON a.id = c.application_id JOIN environments e ON e.id = c.environment_id
              WHERE 1 = 1",
        );
        if let Some(env) = &filter.environment {
            q.push(" AND e.name = ").push_bind(env);
        }
        if let Some(app) = filter.application_id {
            q.push(" AND c.application_id = ").push_bind(app);
        }
        if let Some(id) = filter.credential_id {
            q.push(" AND v.credential_id = ").push_bind(id);
        }
        if let Some(key) = &filter.key_id {
            q.push(" AND lower(c.key_id) = ").push_bind(key.to_ascii_lowercase());
        }
        if let Some(kind) = filter.kind {
            q.push(" AND v.kind = ").push_bind(kind.as_str());
        }
        if let Some(since) = filter.since {
            q.push(" AND v.at >= ").push_bind(since);
        }
        if let Some(before) = filter.before_id {
            q.push(" AND v.id < ").push_bind(before);
        }
        // Ids grow with time within this process; ordering by id keeps paging by id exact.
        q.push(" ORDER BY v.id DESC LIMIT ").push_bind(filter.limit.max(0));
        q.build_query_as::<EventRow>().fetch_all(&self.pool).await.context("reading events")
    }

    /// How many events of each kind were ever recorded (for `credwatch_events_total`).
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "event_counts"))]
    pub async fn event_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        sqlx::query_as("SELECT kind, count(*) FROM credential_events GROUP BY kind ORDER BY kind")
            .fetch_all(&self.pool)
            .await
            .context("counting events")
    }

    /// Which of `credential_ids` were escalated already (escalation happens once).
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "escalated"))]
    pub async fn escalated(&self, credential_ids: &[i64]) -> Result<std::collections::HashSet<i64>, StoreError> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT DISTINCT credential_id FROM credential_events
              WHERE kind = 'escalated' AND credential_id IN (SELECT value FROM json_each(?))",
        )
        .bind(super::credentials::ids_json(credential_ids))
        .fetch_all(&self.pool)
        .await
        .context("reading escalations")?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Whether the single-use link `link_id` was used.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "link_used"))]
    pub async fn link_used(&self, link_id: &str) -> Result<bool, StoreError> {
        let (used,): (bool,) = sqlx::query_as("SELECT EXISTS (SELECT 1 FROM used_links WHERE link_id = ?)")
            .bind(link_id)
            .fetch_one(&self.pool)
            .await
            .context("checking a link")?;
        Ok(used)
    }

    /// The signer of action links: with the `configured` key (`server.link_key_*`), or else the
    /// one made (32 random bytes) on first use and kept in the database, so links outlive a
    /// restart and every process of one database agrees.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "link_signer"))]
    pub async fn link_signer(&self, configured: Option<&secrecy::SecretString>) -> Result<LinkSigner, StoreError> {
        const CTX: &str = "reading the link key";
        if let Some(key) = configured {
            return Ok(LinkSigner::new(secrecy::ExposeSecret::expose_secret(key).as_bytes().to_vec()));
        }
        // Read first: every link opened asks, and a read takes no write lock.
        let stored: Option<(Vec<u8>,)> = sqlx::query_as("SELECT secret FROM link_key WHERE id = 1")
            .fetch_optional(&self.pool)
            .await
            .context(CTX)?;
        if let Some((key,)) = stored {
            return Ok(LinkSigner::new(key));
        }
        let mut fresh = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut fresh);
        // Two processes starting together both offer a key; the first one stays.
        sqlx::query("INSERT INTO link_key (id, secret, created_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING")
            .bind(&fresh[..])
            .bind(Timestamp::from(chrono::Utc::now()))
            .execute(&self.pool)
            .await
            .context(CTX)?;
        let (key,): (Vec<u8>,) = sqlx::query_as("SELECT secret FROM link_key WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .context(CTX)?;
        Ok(LinkSigner::new(key))
    }
}

async fn insert_event(
    tx: &mut sqlx::SqliteConnection,
    credential_id: i64,
    kind: EventKind,
    actor: &Actor,
    note: Option<&str>,
    now: Timestamp,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO credential_events (credential_id, at, kind, actor, via, client_address, note) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(credential_id)
    .bind(now)
    .bind(kind.as_str())
    .bind(&actor.name)
    .bind(actor.via.as_str())
    .bind(&actor.client_address)
    .bind(note)
    .fetch_one(&mut *tx)
    .await
    .context("recording an event")?;
    Ok(id)
}
