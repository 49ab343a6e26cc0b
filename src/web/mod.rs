//! The web side: reads only the store, never Graph. Each page's handler sits with its template
//! struct in its own file; `view` turns store rows into what pages show.

pub mod api;
pub mod assets;
pub mod auth;
pub mod calendar;
pub mod dashboard;
pub mod error;
pub mod findings;
pub mod health;
pub mod inventory;
mod layout;
pub mod metrics;
mod query;
pub mod stream;
pub mod view;

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
    // Called once per worker: each keeps its own overview snapshot.
    cfg.app_data(web::Data::new(dashboard::SnapshotCache::default()))
        .service(health::healthz)
        .service(dashboard::overview)
        .service(inventory::environment)
        .service(inventory::application)
        .service(api::credentials)
        .service(api::credentials_csv)
        .service(api::environments)
        .service(api::findings)
        .service(findings::findings_page)
        .service(metrics::metrics)
        .service(assets::asset)
        .service(calendar::calendar_all)
        .service(calendar::calendar_environment)
        .default_service(web::to(error::not_found));
}
