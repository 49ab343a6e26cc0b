//! The web side: reads only the store, never Graph. Each page's handler sits with its template
//! struct in its own file.

pub mod auth;
pub mod health;
pub mod ics;

use crate::config::Config;
use crate::store::Store;
use actix_web::web;
use std::sync::Arc;

/// What every handler may use.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
}

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(health::healthz);
    cfg.service(ics::calendar_all).service(ics::calendar_environment);
}
