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
    /// Environments to sync now ("Rotated — check now"); the server's runner takes them. `None`
    /// where nothing runs syncs beside the web side.
    pub sync_requests: Option<tokio::sync::mpsc::UnboundedSender<String>>,
}

impl AppState {
    /// The signer of action links: the configured key, or the database's.
    pub async fn link_signer(&self) -> Result<crate::domain::LinkSigner, crate::store::StoreError> {
        self.store.link_signer(self.config.server.link_key.as_ref()).await
    }

    /// Queues a sync of `environment`; false when none can be queued (no runner).
    pub fn request_sync(&self, environment: &str) -> bool {
        self.sync_requests
            .as_ref()
            .is_some_and(|tx| tx.send(environment.to_string()).is_ok())
    }
}
