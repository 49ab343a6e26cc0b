//! The credential API's answers kept ready (migrations/0017_answer_rows.sql): one
//! [`Answer`] record per live credential in answer order, rebuilt for the applications the
//! triggers mark stale, and read in batches only while nothing is marked and they were built
//! with this build's record format and the exclusion rules in force ([`answers_basis`]).

use super::credentials::ids_json;
use super::dashboard::{WithNewer, read_with_newer};
use super::digest::digest128;
use super::write::WriteTx;
use super::{Context, CredentialFilter, Store, StoreError};
use crate::domain::{Answer, Exclusions, RECORD_FORMAT, Timestamp, last_key};
use sqlx::{QueryBuilder, Sqlite};

/// Applications rebuilt per transaction: about 2,000 credentials, a few tens of milliseconds of
/// holding the write lock. Their rows lie anywhere in answer order, so each costs page writes
/// all over the table.
const APPLICATIONS_PER_REFRESH: i64 = 1_000;

/// From this many applications marked on, all rows are rebuilt in one ordered pass instead
/// ([`Store::rebuild_all_answers`]): after a first sync, a first usage read or a change of rules.
const REBUILD_ALL_AT: i64 = 5_000;

/// Credentials read per batch by the ordered pass.
const REBUILD_BATCH: i64 = 5_000;

/// Rows swapped in per transaction by the ordered pass.
const SWAP_ROWS: i64 = 20_000;

/// Rows per INSERT statement (six parameters each, far below SQLite's limit).
const ROWS_PER_INSERT: usize = 800;

/// Answers of one batch, as they were stored: [`Answer::encode`]d records one after another.
/// [`StoredAnswers::answers`] reads them back borrowing the text.
#[derive(Debug)]
pub struct StoredAnswers {
    text: String,
    /// The key of the last answer, read off the end of the text.
    last: Option<(Timestamp, i64)>,
}

impl StoredAnswers {
    fn new(text: String) -> Result<StoredAnswers, StoreError> {
        let last = match text.as_str() {
            "" => None,
            text => Some(last_key(text).map_err(|e| StoreError::Setup(e.to_string()))?),
        };
        Ok(StoredAnswers { text, last })
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The size of the records, a measure of the answer's size.
    pub fn text_len(&self) -> usize {
        self.text.len()
    }

    /// The `(end_at, id)` of the last answer.
    pub fn last_key(&self) -> Option<(Timestamp, i64)> {
        self.last
    }

    /// The answers, in order; a record that does not read back, or out of order, ends them with
    /// its error.
    pub fn answers(&self) -> impl Iterator<Item = Result<Answer<'_>, StoreError>> {
        let mut rest = self.text.as_str();
        let mut previous = None;
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let read = Answer::decode(&mut rest)
                .map_err(|e| StoreError::Setup(e.to_string()))
                .and_then(|a| match previous.replace((a.end_at, a.id)) {
                    Some(p) if p >= (a.end_at, a.id) => Err(StoreError::Setup("stored answers came out of order".into())),
                    _ => Ok(a),
                });
            if read.is_err() {
                rest = "";
            }
            Some(read)
        })
    }
}

/// A digest of what stored answers are built with: the record format ([`RECORD_FORMAT`]) and
/// the exclusion rules in force (their positions are in the records). Answers built with
/// another basis are not read, and the next refresh rebuilds them all.
pub fn answers_basis(exclusions: &Exclusions) -> String {
    let rules = serde_json::to_string(&exclusions.rules).expect("rules serialise");
    format!("{:032x}", digest128(&[&RECORD_FORMAT.to_le_bytes(), rules.as_bytes()]))
}

impl Store {
    /// Up to `limit` stored answers matching `filter` after `after`, or `None` when the stored
    /// answers cannot serve it: some are stale, they were built with another `basis`
    /// ([`answers_basis`]), or the filter asks what they do not hold (a search, an owner, one
    /// application, removed credentials). The check and the read are one statement, so one
    /// snapshot.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "stored_answers"))]
    pub async fn stored_answers(
        &self,
        filter: &CredentialFilter,
        basis: &str,
        after: Option<(Timestamp, i64)>,
        limit: i64,
    ) -> Result<Option<StoredAnswers>, StoreError> {
        const CTX: &str = "reading stored answers";
        if filter.search.is_some()
            || filter.owner.is_some()
            || filter.application_id.is_some()
            || filter.application_ids.is_some()
            || filter.include_removed
        {
            return Ok(None);
        }
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT ok, CASE WHEN ok THEN (SELECT group_concat(record, '') FROM (SELECT r.record FROM answer_rows r
               JOIN environments e ON e.id = r.environment_id WHERE e.retired_at IS NULL",
        );
        if let Some(env) = &filter.environment {
            q.push(" AND e.name = ").push_bind(env.clone());
        }
        if let Some(kind) = filter.kind {
            q.push(" AND r.kind = ").push_bind(kind.as_str());
        }
        if let Some(from) = filter.end_from {
            q.push(" AND r.end_at >= ").push_bind(from);
        }
        if let Some(before) = filter.end_before {
            q.push(" AND r.end_at < ").push_bind(before);
        }
        push_range(&mut q, "r.", after, filter.through);
        // group_concat keeps the subquery's order (StoredAnswers checks it).
        q.push(" ORDER BY r.end_at, r.id LIMIT ").push_bind(limit);
        q.push(
            ")) END FROM (SELECT NOT EXISTS (SELECT 1 FROM answer_rows_stale)
               AND EXISTS (SELECT 1 FROM answer_rows_basis WHERE fingerprint = ",
        )
        .push_bind(basis.to_owned())
        .push(") AS ok)");
        let (ok, text): (bool, Option<String>) = q.build_query_as().fetch_one(&self.pool).await.context(CTX)?;
        if !ok {
            return Ok(None);
        }
        StoredAnswers::new(text.unwrap_or_default()).map(Some)
    }

    /// The latest mark of a stale application, if any is marked: what
    /// [`Store::rebuild_all_answers`] may clear.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "last_answer_mark"))]
    pub async fn last_answer_mark(&self) -> Result<Option<i64>, StoreError> {
        let (last,): (Option<i64>,) = sqlx::query_as("SELECT max(seq) FROM answer_rows_stale")
            .fetch_one(&self.pool)
            .await
            .context("reading the last stale mark")?;
        Ok(last)
    }

    /// Whether any application's stored answers wait to be rebuilt.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "answers_stale"))]
    pub async fn answers_stale(&self) -> Result<bool, StoreError> {
        let (stale,): (bool,) = sqlx::query_as("SELECT EXISTS (SELECT 1 FROM answer_rows_stale)")
            .fetch_one(&self.pool)
            .await
            .context("reading whether stored answers are stale")?;
        Ok(stale)
    }

    /// Rebuilds the stored answers of every application marked stale under `exclusions`: a
    /// thousand applications per transaction, or all rows in one ordered pass when many are
    /// marked. When the stored answers have another basis ([`answers_basis`]: another record
    /// format, other rules), every application is marked first. Returns how many applications
    /// it rebuilt.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "refresh_answers"))]
    pub async fn refresh_answers(&self, exclusions: &Exclusions) -> Result<usize, StoreError> {
        const CTX: &str = "rebuilding stored answers";
        let basis = answers_basis(exclusions);
        // A read first: every two seconds, this is all a refresh with nothing to do costs.
        let state = "SELECT (SELECT fingerprint FROM answer_rows_basis WHERE id = 1), count(*), max(seq) FROM answer_rows_stale";
        let (stored, mut marked, mut last_mark): (Option<String>, i64, Option<i64>) =
            sqlx::query_as(state).fetch_one(&self.pool).await.context(CTX)?;
        if stored.as_deref() != Some(basis.as_str()) {
            let _writer = self.write_lock.lock().await;
            let mut tx = WriteTx::begin(&self.pool, CTX).await?;
            for sql in [
                "INSERT OR REPLACE INTO answer_rows_stale (application_id) SELECT id FROM applications",
                "INSERT INTO answer_rows_basis (id, fingerprint) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint",
            ] {
                sqlx::query(sql).bind(&basis).execute(&mut *tx).await.context(CTX)?;
            }
            let now: (Option<String>, i64, Option<i64>) = sqlx::query_as(state).fetch_one(&mut *tx).await.context(CTX)?;
            (_, marked, last_mark) = now;
            tx.commit(CTX).await?;
        }
        match last_mark {
            None => return Ok(0),
            Some(last_mark) if marked >= REBUILD_ALL_AT => return self.rebuild_all_answers(exclusions, last_mark, SWAP_ROWS).await,
            Some(_) => {}
        }
        let mut rebuilt = 0;
        loop {
            let _writer = self.write_lock.lock().await;
            let mut tx = WriteTx::begin(&self.pool, CTX).await?;
            let ids: Vec<(i64,)> = sqlx::query_as("SELECT application_id FROM answer_rows_stale ORDER BY application_id LIMIT ?")
                .bind(APPLICATIONS_PER_REFRESH)
                .fetch_all(&mut *tx)
                .await
                .context(CTX)?;
            if ids.is_empty() {
                tx.rollback(CTX).await?;
                return Ok(rebuilt);
            }
            let ids: Vec<i64> = ids.into_iter().map(|(id,)| id).collect();
            let ids_json = ids_json(&ids);
            let filter = CredentialFilter {
                application_ids: Some(ids.clone()),
                ..Default::default()
            };
            let rows = read_with_newer(&mut *tx, &filter, None, i64::MAX).await?;
            sqlx::query("DELETE FROM answer_rows WHERE application_id IN (SELECT value FROM json_each(?))")
                .bind(&ids_json)
                .execute(&mut *tx)
                .await
                .context(CTX)?;
            insert_rows(&mut tx, "answer_rows", rows, exclusions).await?;
            // Marked while this transaction holds the write lock: no one marked them since it read.
            sqlx::query("DELETE FROM answer_rows_stale WHERE application_id IN (SELECT value FROM json_each(?))")
                .bind(&ids_json)
                .execute(&mut *tx)
                .await
                .context(CTX)?;
            tx.commit(CTX).await?;
            rebuilt += ids.len();
        }
    }

    /// Rebuilds every stored answer in one pass in answer order, built aside in a temporary
    /// table while writers go on, then swapped in by short transactions of `rows_per_swap` rows.
    /// Marks up to `last_mark` (made before the pass read anything) are cleared with the last;
    /// those of writes made meanwhile stay, and their applications are rebuilt by the next
    /// refresh. Returns how many applications were marked.
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "rebuild_all_answers"))]
    pub async fn rebuild_all_answers(&self, exclusions: &Exclusions, last_mark: i64, rows_per_swap: i64) -> Result<usize, StoreError> {
        const CTX: &str = "rebuilding every stored answer";
        let mut conn = self.pool.acquire().await.context(CTX)?;
        for sql in [
            "CREATE TEMP TABLE IF NOT EXISTS answer_rows_next (end_at INTEGER NOT NULL, id INTEGER NOT NULL,
               environment_id INTEGER NOT NULL, application_id INTEGER NOT NULL, kind TEXT NOT NULL, record TEXT NOT NULL,
               PRIMARY KEY (end_at, id)) WITHOUT ROWID",
            "DELETE FROM temp.answer_rows_next",
        ] {
            sqlx::query(sql).execute(&mut *conn).await.context(CTX)?;
        }
        let all = CredentialFilter::default();
        let mut after = None;
        loop {
            let rows = read_with_newer(&mut *conn, &all, after, REBUILD_BATCH).await?;
            let last = rows.len() < REBUILD_BATCH as usize;
            after = rows.last().map(|r| (r.credential.end_at, r.credential.id));
            insert_rows(&mut conn, "temp.answer_rows_next", rows, exclusions).await?;
            if last {
                break;
            }
        }
        // Swapped in by key range, a short transaction each, so that no writer waits long. The
        // marks up to `last_mark` stay until the last range is in: meanwhile nobody reads the
        // stored answers, half old and half new.
        let mut lower: Option<(Timestamp, i64)> = None;
        loop {
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT end_at, id FROM temp.answer_rows_next WHERE true");
            push_range(&mut q, "", lower, None);
            q.push(" ORDER BY end_at, id LIMIT 1 OFFSET ").push_bind(rows_per_swap.max(1) - 1);
            let upper: Option<(Timestamp, i64)> = q.build_query_as().fetch_optional(&mut *conn).await.context(CTX)?;
            let _writer = self.write_lock.lock().await;
            let mut tx = WriteTx::begin_on(conn, CTX).await?;
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("DELETE FROM answer_rows WHERE true");
            push_range(&mut q, "", lower, upper);
            q.build().execute(&mut *tx).await.context(CTX)?;
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO answer_rows (end_at, id, environment_id, application_id, kind, record)
                 SELECT end_at, id, environment_id, application_id, kind, record FROM temp.answer_rows_next WHERE true",
            );
            push_range(&mut q, "", lower, upper);
            q.push(" ORDER BY end_at, id");
            q.build().execute(&mut *tx).await.context(CTX)?;
            if upper.is_some() {
                conn = tx.commit_and_keep(CTX).await?;
                lower = upper;
                continue;
            }
            sqlx::query("DROP TABLE temp.answer_rows_next")
                .execute(&mut *tx)
                .await
                .context(CTX)?;
            let cleared = sqlx::query("DELETE FROM answer_rows_stale WHERE seq <= ?")
                .bind(last_mark)
                .execute(&mut *tx)
                .await
                .context(CTX)?
                .rows_affected();
            tx.commit(CTX).await?;
            return Ok(cleared as usize);
        }
    }
}

/// Keys `(end_at, id)` of the table named by `prefix` (`"r."`, or `""` alone) after `lower`
/// (when given) up to `upper` (when given).
fn push_range(q: &mut QueryBuilder<Sqlite>, prefix: &'static str, lower: Option<(Timestamp, i64)>, upper: Option<(Timestamp, i64)>) {
    for (key, op) in [(lower, ">"), (upper, "<=")] {
        if let Some((end, id)) = key {
            q.push(format!(" AND ({prefix}end_at, {prefix}id) {op} ("))
                .push_bind(end)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
    }
}

/// Inserts the answers of `rows` into `table` (the stored answers, or the pass's table aside).
async fn insert_rows(
    conn: &mut sqlx::SqliteConnection,
    table: &'static str,
    rows: Vec<WithNewer>,
    exclusions: &Exclusions,
) -> Result<(), StoreError> {
    let rows: Vec<(Timestamp, i64, i64, i64, &'static str, String)> = rows
        .into_iter()
        .map(|WithNewer { credential: c, newer }| {
            let mut record = String::with_capacity(1024);
            Answer::of(&c, newer, exclusions).encode(&mut record);
            (c.end_at, c.id, c.environment_id, c.application_id, c.kind.as_str(), record)
        })
        .collect();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "INSERT INTO {table} (end_at, id, environment_id, application_id, kind, record) "
        ));
        q.push_values(chunk, |mut b, (end_at, id, environment_id, application_id, kind, record)| {
            b.push_bind(*end_at)
                .push_bind(*id)
                .push_bind(*environment_id)
                .push_bind(*application_id)
                .push_bind(*kind)
                .push_bind(record.as_str());
        });
        q.build().execute(&mut *conn).await.context("storing answers")?;
    }
    Ok(())
}
