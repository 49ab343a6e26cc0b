//! What every handler may use. A leaf of the web side, so handlers and the caches they share
//! depend on it and never on each other.

use crate::config::Config;
use crate::store::Store;
use std::sync::Arc;

/// What every handler may use.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
}
