//! Searches of an environment's inventory at any size. The trigram index finds a term's hits in
//! milliseconds, but a common term ("order", "prod") hits thousands of credentials, and counting
//! and sorting them on every page of every keystroke is what made a search slow. So the hits of a
//! term (id, end and kind: 24 bytes each) are read once per store version and kept: filtering by
//! status or kind, counting exactly and paging are then work on a sorted list in memory, and a
//! page reads only the rows it shows.

use super::state::AppState;
use crate::store::{EnvironmentState, SearchHit, StoreError};
use std::sync::{Arc, Mutex};

/// Hits kept in all, across terms (about 12 MB); a term with more hits than this is
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
    /// Filled by the first request for the key; those that come meanwhile wait for it instead of
    /// reading the same hits again (sixteen clients typing the same term read it once).
    hits: Arc<tokio::sync::OnceCell<Arc<Vec<SearchHit>>>>,
}

impl Kept {
    fn len(&self) -> usize {
        self.hits.get().map_or(0, |h| h.len())
    }
}

/// Recently searched terms' hits, most recently used last. One for all workers.
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
        let cell = self.cell(&key);
        // Read outside the lock; a failed read leaves the cell empty for the next request.
        let hits = cell
            .get_or_try_init(|| async { state.store.search_hits(env.id, term).await.map(Arc::new) })
            .await?
            .clone();
        self.settle();
        Ok(hits)
    }

    /// The cell of `key`, made most recently used; lists of an older version of the data go.
    fn cell(&self, key: &Key) -> Arc<tokio::sync::OnceCell<Arc<Vec<SearchHit>>>> {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        let entry = match kept.iter().position(|k| k.key == *key) {
            Some(at) => kept.remove(at),
            None => {
                kept.retain(|k| {
                    k.key.environment_id != key.environment_id
                        || (k.key.last_run_id == key.last_run_id && k.key.generation == key.generation)
                });
                Kept {
                    key: key.clone(),
                    hits: Default::default(),
                }
            }
        };
        let cell = entry.hits.clone();
        kept.push(entry);
        cell
    }

    /// Keeps within the budget, dropping the least recently used (a list larger than the whole
    /// budget is answered, never kept).
    fn settle(&self) {
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        kept.retain(|k| k.len() <= MAX_KEPT_HITS);
        let mut total: usize = kept.iter().map(Kept::len).sum();
        while kept.len() > MAX_KEPT_TERMS || total > MAX_KEPT_HITS {
            total -= kept.remove(0).len();
        }
    }
}
