//! Writing a sync's result. A listing is staged page by page into temporary tables
//! ([`staging`]), then merged into the stored environment in one transaction ([`merge`]), whose
//! bulk loads rebuild their indexes in one pass ([`indexes`]); every run is recorded ([`runs`]).

mod indexes;
mod merge;
mod runs;
mod staging;

pub use runs::RunRow;
pub use staging::Staging;

use super::{Store, StoreError};
use crate::domain::{ListedApplication, Timestamp};

/// What applying a complete listing changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListingCounts {
    pub applications: i64,
    pub credentials: i64,
    pub added: i64,
    pub removed: i64,
}

/// What a listing says about the applications' owners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owners {
    /// Listed with the applications: stored as listed, and the environment's owners are fresh.
    Listed,
    /// Not listed this time (a refresh is not due): every application keeps its stored owners.
    Kept,
    /// Not read at all (`sync.fetch_owners = false`): unknown, and stored as such.
    Unknown,
}

impl Owners {
    fn as_str(self) -> &'static str {
        match self {
            Owners::Listed => "listed",
            Owners::Kept => "kept",
            Owners::Unknown => "unknown",
        }
    }
}

impl Store {
    /// Applies a complete listing held in memory: stages it and merges it (see [`Staging`]).
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "apply_listing"))]
    pub async fn apply_listing(
        &self,
        environment_id: i64,
        run_id: i64,
        now: Timestamp,
        pages: i64,
        apps: &[ListedApplication],
    ) -> Result<ListingCounts, StoreError> {
        let mut staging = self.begin_staging().await?;
        staging.add(apps).await?;
        staging.apply(self, environment_id, run_id, now, pages).await
    }
}
