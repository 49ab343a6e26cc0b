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

use crate::domain::{Credential, Timestamp};
use crate::store::{CredentialFilter, Cursor, Store, StoreError, WithNewer};
use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt, stream};

/// Rows per batch: about half a megabyte of JSON.
pub const BATCH: i64 = 1_000;

/// `first` (the first batch, read by the caller), then the batches after it as the body is
/// consumed, each read while the one before is written: `next` reads the batch after a row's
/// key, `key` gives that key. A short batch is the last. Empty batches are skipped.
pub fn keyset_batches<T, K, Fut>(
    first: Vec<T>,
    key: fn(&T) -> K,
    mut next: impl FnMut(K) -> Fut + 'static,
) -> impl Stream<Item = Result<Vec<T>, StoreError>>
where
    T: 'static,
    Fut: Future<Output = Result<Vec<T>, StoreError>> + 'static,
{
    let after = move |rows: &[T]| rows.last().filter(|_| rows.len() as i64 >= BATCH).map(key);
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
    stream::once(async { Ok(first) })
        .chain(rest)
        .try_filter(|rows| std::future::ready(!rows.is_empty()))
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

/// The credentials matching `filter`, each with its newer siblings (what rotation awareness
/// needs, see [`Store::credentials_page_with_newer`]), in batches after `first`. Each batch is
/// read as two halves at once, on two connections: reading, not writing, is what these answers
/// wait on, and SQLite runs one statement on one core.
///
/// The halves meet at a key read first: the first is every row after the batch's start up to
/// that key, the second up to half a batch after it. Rows written meanwhile (a sync commits
/// between the reads) can make the first half longer or shorter, but never leave a row out or
/// send it twice; a batch cut short that way is topped up, since a short batch ends the answer.
pub fn batches_with_newer(
    store: Store,
    filter: CredentialFilter,
    first: Vec<WithNewer>,
) -> impl Stream<Item = Result<Vec<WithNewer>, StoreError>> {
    keyset_batches(first, key_of, move |after| {
        let (store, filter) = (store.clone(), filter.clone());
        async move {
            let half = BATCH / 2;
            let read = |filter, after, limit| store.credentials_page_with_newer(filter, Some(after), limit);
            let Some(middle) = store.nth_key_after(&filter, after, half).await? else {
                return read(&filter, after, BATCH).await;
            };
            let up_to_middle = CredentialFilter {
                through: Some(middle),
                ..filter.clone()
            };
            let (mut rows, rest) = tokio::try_join!(read(&up_to_middle, after, BATCH * 2), read(&filter, middle, half))?;
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
                let more = read(&filter, last, BATCH - rows.len() as i64).await?;
                rows.extend(more);
            }
            Ok(rows)
        }
    })
}

fn key_of(r: &WithNewer) -> (Timestamp, i64) {
    (r.credential.end_at, r.credential.id)
}

/// Reads the first batch of [`batches_with_newer`] (see the module's note on errors).
pub async fn first_with_newer(store: &Store, filter: &CredentialFilter) -> Result<Vec<WithNewer>, StoreError> {
    store.credentials_page_with_newer(filter, None, BATCH).await
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
