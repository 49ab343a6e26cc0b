//! Large answers (the credential API, its CSV twin, `/metrics`) go out as they are read: rows in
//! keyset batches, each batch rendered into one chunk of the body. An answer holds one batch in
//! memory whatever the tenant's size, and a slow client holds no database connection between
//! batches (so sixteen scrapers cannot starve the dashboard of connections).
//!
//! The first batch is read before the response starts, so a database that does not answer is
//! still a clean 500. A later failure can only cut the body short: the chunked transfer then
//! ends without its terminator, which every HTTP client reports as an error, never as a short
//! but complete answer.

use crate::store::{CredentialFilter, CredentialView, Cursor, Store, StoreError};
use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt, stream};

/// Rows per batch: about 1 MB of JSON.
pub const BATCH: i64 = 2_000;

/// The credentials matching `filter` in `(end_at, id)` order, `first` (the first batch, read by
/// the caller) then the rest as the body is consumed.
pub fn credential_batches(
    store: Store,
    filter: CredentialFilter,
    first: Vec<CredentialView>,
) -> impl Stream<Item = Result<Vec<CredentialView>, StoreError>> {
    let more = first.len() as i64 >= BATCH;
    let rest = stream::try_unfold(
        (store, filter, first.last().map(|c| (c.end_at, c.id)), more),
        |(store, filter, last, more)| async move {
            let Some((end, id)) = last.filter(|_| more) else {
                return Ok(None);
            };
            let rows = store.credentials_page(&filter, Some(Cursor::After(end, id)), 0, BATCH).await?;
            let more = rows.len() as i64 >= BATCH;
            let last = rows.last().map(|c| (c.end_at, c.id));
            Ok(Some((rows, (store, filter, last, more))))
        },
    );
    stream::once(async { Ok(first) })
        .chain(rest)
        .try_filter(|rows| std::future::ready(!rows.is_empty()))
}

/// Reads the first batch of `filter`'s credentials (see the module's note on errors).
pub async fn first_credentials(store: &Store, filter: &CredentialFilter) -> Result<Vec<CredentialView>, StoreError> {
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
