//! Day-grouped feeds, rendered once per ETag and shared. A subscribed calendar polls every hour,
//! and a team subscribes to the same few addresses: without sharing, sixteen clients asking at
//! once would each count and render the same 431 days. The ETag names everything a body depends
//! on (see the module's note on cost), so a body kept under its ETag is never stale; and a
//! day-grouped body is bounded (a few MB), so a handful of them cost little to keep.
//!
//! The first request of an ETag renders; those arriving meanwhile wait for its bytes. Feeds of
//! one event per credential are not kept: their size follows `calendar.max_events`, and they
//! are streamed instead.

use actix_web::web::Bytes;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// Bodies kept per worker; the oldest goes first.
const KEPT: usize = 4;

/// What one ETag's first request found: the day-grouped body, or `None` when the feed holds one
/// event per credential (then every request streams it).
pub type Rendered = Option<Bytes>;

#[derive(Default)]
pub struct FeedCache {
    slots: Mutex<VecDeque<(String, Arc<OnceCell<Rendered>>)>>,
}

impl FeedCache {
    /// The slot of `etag`: filled by whoever initialises it first.
    pub fn slot(&self, etag: &str) -> Arc<OnceCell<Rendered>> {
        let mut slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, slot)) = slots.iter().find(|(tag, _)| tag == etag) {
            return slot.clone();
        }
        if slots.len() >= KEPT {
            slots.pop_front();
        }
        let slot = Arc::new(OnceCell::new());
        slots.push_back((etag.to_string(), slot.clone()));
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_slot_per_etag_and_only_the_newest_kept() {
        let cache = FeedCache::default();
        let a = cache.slot("\"a\"");
        assert!(Arc::ptr_eq(&a, &cache.slot("\"a\"")));
        for tag in ["b", "c", "d", "e"] {
            cache.slot(tag);
        }
        assert!(!Arc::ptr_eq(&a, &cache.slot("\"a\"")), "the oldest was dropped");
    }
}
