//! Searches of an environment's inventory at any size. The trigram index finds a term's hits in
//! milliseconds, but a common term ("order", "prod") hits thousands of credentials, and counting
//! and sorting them on every page of every keystroke is what made a search slow. So the hits of a
//! term (id, end and kind: 24 bytes each) are read once per store version and kept: filtering by
//! status or kind, counting exactly and paging are then work on a sorted list in memory, and a
//! page reads only the rows it shows.

use super::state::AppState;
use crate::store::{EnvironmentState, SearchHit, StoreError};
use std::sync::{Arc, Mutex};

/// Hits kept in all, across terms (about 12 MB per worker); a term with more hits than this is
/// still answered, just not kept.
const MAX_KEPT_HITS: usize = 500_000;
/// Terms kept at most, the least recently used dropped first.
const MAX_KEPT_TERMS: usize = 64;

/// What a kept list of hits is valid for: the environment, as of its latest finished sync run
/// (so another process's sync counts too) and this process's store generation, and the term.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    environment_id: i64,
    last_run_id: Option<i64>,
    generation: u64,
    term: String,
}

struct Kept {
    key: Key,
    hits: Arc<Vec<SearchHit>>,
}

/// Recently searched terms' hits, most recently used last. One per worker.
#[derive(Default)]
pub struct SearchCache {
    kept: Mutex<Vec<Kept>>,
}

impl SearchCache {
    /// The live credentials of `env` that `term` hits, in `(end_at, id)` order.
    pub async fn hits(&self, state: &AppState, env: &EnvironmentState, term: &str) -> Result<Arc<Vec<SearchHit>>, StoreError> {
        let key = Key {
            environment_id: env.id,
            last_run_id: env.last_run_id,
            generation: state.store.generation(),
            term: term.to_string(),
        };
        if let Some(hits) = self.take(&key) {
            return Ok(hits);
        }
        // Read outside the lock: two requests for a new term may both read it, once.
        let hits = Arc::new(state.store.search_hits(env.id, term).await?);
        self.keep(key, hits.clone());
        Ok(hits)
    }

    fn take(&self, key: &Key) -> Option<Arc<Vec<SearchHit>>> {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let at = kept.iter().position(|k| k.key == *key)?;
        let entry = kept.remove(at);
        let hits = entry.hits.clone();
        kept.push(entry);
        Some(hits)
    }

    fn keep(&self, key: Key, hits: Arc<Vec<SearchHit>>) {
        if hits.len() > MAX_KEPT_HITS {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        // Lists of an older version of the data are of no more use.
        kept.retain(|k| {
            k.key.environment_id != key.environment_id
                || (k.key.last_run_id == key.last_run_id && k.key.generation == key.generation && k.key.term != key.term)
        });
        kept.push(Kept { key, hits });
        let mut total: usize = kept.iter().map(|k| k.hits.len()).sum();
        while kept.len() > MAX_KEPT_TERMS || total > MAX_KEPT_HITS {
            total -= kept.remove(0).hits.len();
        }
    }
}
