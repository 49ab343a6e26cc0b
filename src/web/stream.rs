//! Large answers (the credential API, its CSV twin, `/metrics`) go out as they are read: rows in
//! keyset batches, each batch rendered into one chunk of the body. An answer holds a bounded
//! number of batches in memory whatever the tenant's size, and a slow client holds no database
//! connection between batches (so sixteen scrapers cannot starve the dashboard of connections).
//!
//! While a batch is written, the next one is already being read (on SQLite's own thread), so
//! reading and writing overlap: an answer holds the batch being written and the one being read.
//!
//! The first batch is read before the response starts, so a database that does not answer is
//! still a clean 500. A later failure can only cut the body short: the chunked transfer then
//! ends without its terminator, which every HTTP client reports as an error, never as a short
//! but complete answer.

use crate::domain::{Answer, Credential, Exclusions, Timestamp};
use crate::store::{CredentialFilter, Cursor, Store, StoreError, StoredAnswers, WithNewer};
use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt, stream};

/// Rows per batch: about half a megabyte of JSON.
pub const BATCH: i64 = 1_000;

/// Rows per batch of stored answers (see [`AnswerBatch`]): one sequential read each, so larger
/// batches save per-batch work at the same memory per row.
const STORED_BATCH: i64 = 2 * BATCH;

/// `first` (the first batch, read by the caller), then the batches after it as the body is
/// consumed, each read while the one before is written: `next` reads the batch after a row's
/// key, `key` gives that key. A short batch is the last. Empty batches are skipped.
pub fn keyset_batches<T, K, Fut>(
    first: Vec<T>,
    key: fn(&T) -> K,
    next: impl FnMut(K) -> Fut + 'static,
) -> impl Stream<Item = Result<Vec<T>, StoreError>>
where
    T: 'static,
    K: 'static,
    Fut: Future<Output = Result<Vec<T>, StoreError>> + 'static,
{
    let after = move |rows: &Vec<T>| rows.last().filter(|_| rows.len() as i64 >= BATCH).map(key);
    batches_after(first, after, next).try_filter(|rows| std::future::ready(!rows.is_empty()))
}

/// `first`, then the batches after it: `after` says after which key the next batch starts
/// (`None`: `first` or the batch read last was the last), `next` reads it. Each read is started
/// as soon as the batch before it is known, so it runs while that batch is written.
fn batches_after<B, K, Fut>(
    first: B,
    after: impl Fn(&B) -> Option<K> + Copy + 'static,
    mut next: impl FnMut(K) -> Fut + 'static,
) -> impl Stream<Item = Result<B, StoreError>>
where
    B: 'static,
    K: 'static,
    Fut: Future<Output = Result<B, StoreError>> + 'static,
{
    // Started at once: the read runs while the batch before it is written. A body dropped
    // half-way (the client left) drops the handle; the read in flight just finishes unseen.
    let mut start = move |k: Option<K>| k.map(|k| actix_web::rt::spawn(next(k)));
    let pending = start(after(&first));
    let rest = stream::try_unfold((pending, start), move |(pending, mut start)| async move {
        let Some(read) = pending else {
            return Ok(None);
        };
        let rows = read
            .await
            .map_err(|e| StoreError::Setup(format!("reading the next batch stopped: {e}")))??;
        let pending = start(after(&rows));
        Ok(Some((rows, (pending, start))))
    });
    stream::once(async { Ok(first) }).chain(rest)
}

/// The credentials matching `filter` in `(end_at, id)` order, in batches after `first`.
pub fn credential_batches(
    store: Store,
    filter: CredentialFilter,
    first: Vec<Credential>,
) -> impl Stream<Item = Result<Vec<Credential>, StoreError>> {
    keyset_batches(
        first,
        |c| (c.end_at, c.id),
        move |(end, id)| {
            let (store, filter) = (store.clone(), filter.clone());
            async move { store.credentials_page(&filter, Some(Cursor::After(end, id)), 0, BATCH).await }
        },
    )
}

/// Reads the first batch of `filter`'s credentials (see the module's note on errors).
pub async fn first_credentials(store: &Store, filter: &CredentialFilter) -> Result<Vec<Credential>, StoreError> {
    store.credentials_page(filter, None, 0, BATCH).await
}

/// A batch of the credential API's answers: read as stored (migrations/0017_answer_rows.sql)
/// when the stored answers are current, or the long way, each credential with its newer
/// siblings, when they are not (a write since their last rebuild, or a filter they cannot serve).
pub enum AnswerBatch {
    Stored(StoredAnswers),
    Live(Vec<WithNewer>),
}

impl AnswerBatch {
    pub fn is_empty(&self) -> bool {
        match self {
            AnswerBatch::Stored(s) => s.is_empty(),
            AnswerBatch::Live(rows) => rows.is_empty(),
        }
    }

    /// About how many bytes the batch answers with, per `row_bytes` of a row read the long way.
    pub fn size_hint(&self, row_bytes: usize) -> usize {
        match self {
            AnswerBatch::Stored(s) => s.text_len(),
            AnswerBatch::Live(rows) => rows.len() * row_bytes,
        }
    }

    /// The key the next batch starts after, if there may be one: after any stored batch that
    /// was not empty (the read after the last one finds nothing), after a full batch read the
    /// long way.
    fn next_after(&self) -> Option<(Timestamp, i64)> {
        match self {
            AnswerBatch::Stored(s) => s.last_key(),
            AnswerBatch::Live(rows) => rows.last().filter(|_| rows.len() as i64 >= BATCH).map(key_of),
        }
    }

    /// The batch's answers, in order; `exclusions` decides which rules match a credential read
    /// the long way (stored ones were worked out under the same rules: see
    /// [`Store::stored_answers`]).
    pub fn answers<'a>(&'a self, exclusions: &'a Exclusions) -> Box<dyn Iterator<Item = Result<Answer<'a>, StoreError>> + 'a> {
        match self {
            AnswerBatch::Stored(s) => Box::new(s.answers()),
            AnswerBatch::Live(rows) => Box::new(rows.iter().map(|r| Ok(Answer::of(&r.credential, r.newer.clone(), exclusions)))),
        }
    }
}

/// The answers to `filter` (the first batch read by [`first_answers`]), in batches. `rules` is
/// the basis the stored answers must have been built with ([`crate::store::answers_basis`]).
pub fn answer_batches(
    store: Store,
    filter: CredentialFilter,
    rules: String,
    first: AnswerBatch,
) -> impl Stream<Item = Result<AnswerBatch, StoreError>> {
    batches_after(first, AnswerBatch::next_after, move |after| {
        let (store, filter, rules) = (store.clone(), filter.clone(), rules.clone());
        async move { answer_batch(&store, &filter, &rules, Some(after)).await }
    })
    .try_filter(|b| std::future::ready(!b.is_empty()))
}

/// Reads the first batch of [`answer_batches`] (see the module's note on errors).
pub async fn first_answers(store: &Store, filter: &CredentialFilter, rules: &str) -> Result<AnswerBatch, StoreError> {
    answer_batch(store, filter, rules, None).await
}

async fn answer_batch(
    store: &Store,
    filter: &CredentialFilter,
    rules: &str,
    after: Option<(Timestamp, i64)>,
) -> Result<AnswerBatch, StoreError> {
    if let Some(stored) = store.stored_answers(filter, rules, after, STORED_BATCH).await? {
        return Ok(AnswerBatch::Stored(stored));
    }
    Ok(AnswerBatch::Live(match after {
        None => store.credentials_page_with_newer(filter, None, BATCH).await?,
        Some(after) => live_batch(store, filter, after).await?,
    }))
}

/// The batch after `after`, the long way: each credential with its newer siblings (what rotation
/// awareness needs, see [`Store::credentials_page_with_newer`]). Read as two halves at once, on
/// two connections: reading, not writing, is what these answers wait on, and SQLite runs one
/// statement on one core.
///
/// The halves meet at a key read first: the first is every row after the batch's start up to
/// that key, the second up to half a batch after it. Rows written meanwhile (a sync commits
/// between the reads) can make the first half longer or shorter, but never leave a row out or
/// send it twice; a batch cut short that way is topped up, since a short batch ends the answer.
async fn live_batch(store: &Store, filter: &CredentialFilter, after: (Timestamp, i64)) -> Result<Vec<WithNewer>, StoreError> {
    let half = BATCH / 2;
    let read = |filter, after, limit| store.credentials_page_with_newer(filter, Some(after), limit);
    let Some(middle) = store.nth_key_after(filter, after, half).await? else {
        return read(filter, after, BATCH).await;
    };
    let up_to_middle = CredentialFilter {
        through: Some(middle),
        ..filter.clone()
    };
    let (mut rows, rest) = tokio::try_join!(read(&up_to_middle, after, BATCH * 2), read(filter, middle, half))?;
    if rows.len() as i64 >= BATCH * 2 {
        // The first range grew past its bound meanwhile: it alone is this batch, and the
        // next starts after its last row.
        return Ok(rows);
    }
    let second_full = rest.len() as i64 >= half;
    rows.extend(rest);
    if second_full
        && (rows.len() as i64) < BATCH
        && let Some(last) = rows.last().map(key_of)
    {
        let more = read(filter, last, BATCH - rows.len() as i64).await?;
        rows.extend(more);
    }
    Ok(rows)
}

fn key_of(r: &WithNewer) -> (Timestamp, i64) {
    (r.credential.end_at, r.credential.id)
}

/// A body chunk's failure: logged here (the client only sees the transfer cut short).
pub fn cut_short(what: &'static str) -> impl Fn(StoreError) -> actix_web::Error {
    move |e| {
        tracing::error!(error = %e, "{what}: the answer was cut short");
        actix_web::error::ErrorInternalServerError(what)
    }
}

/// A fixed chunk, as a stream item.
pub fn chunk<E>(bytes: impl Into<Bytes>) -> Result<Bytes, E> {
    Ok(bytes.into())
}
