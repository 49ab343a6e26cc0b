//! Large answers (the credential API, its CSV twin, `/metrics`) go out as they are read: rows in
//! keyset batches, each batch rendered into one chunk of the body. An answer holds one batch in
//! memory whatever the tenant's size, and a slow client holds no database connection between
//! batches (so sixteen scrapers cannot starve the dashboard of connections).
//!
//! The first batch is read before the response starts, so a database that does not answer is
//! still a clean 500. A later failure can only cut the body short: the chunked transfer then
//! ends without its terminator, which every HTTP client reports as an error, never as a short
//! but complete answer.

use crate::domain::Credential;
use crate::store::{CredentialFilter, Cursor, Store, StoreError};
use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt, stream};

/// Rows per batch: about 1 MB of JSON.
pub const BATCH: i64 = 2_000;

/// `first` (the first batch, read by the caller), then the batches after it as the body is
/// consumed: `next` reads the batch after a row's key, `key` gives that key. A short batch is the
/// last. Empty batches are skipped.
pub fn keyset_batches<T, K, Fut>(
    first: Vec<T>,
    key: fn(&T) -> K,
    next: impl FnMut(K) -> Fut,
) -> impl Stream<Item = Result<Vec<T>, StoreError>>
where
    Fut: Future<Output = Result<Vec<T>, StoreError>>,
{
    let after = move |rows: &[T]| rows.last().filter(|_| rows.len() as i64 >= BATCH).map(key);
    let rest = stream::try_unfold((after(&first), next), move |(start, mut next)| async move {
        let Some(k) = start else {
            return Ok(None);
        };
        let rows = next(k).await?;
        let start = after(&rows);
        Ok(Some((rows, (start, next))))
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
