//! The web side: reads only the store, never Graph. Each page's handler sits with its template
//! struct in its own file; `view` turns store rows into what pages show.
//!
//! Imports between these modules run one way: handlers use the leaves (`state`, `snapshot`,
//! `embedded`, `view`, `layout`, `error`, `stream`), leaves never use handlers, and this file
//! only wires routes.

pub mod act;
pub mod api;
pub mod assets;
pub mod auth;
pub mod calendar;
pub mod dashboard;
mod embedded;
pub mod error;
pub mod events;
pub mod findings;
pub mod health;
pub mod host;
pub mod inventory;
mod layout;
pub mod methods;
pub mod metrics;
mod query;
pub mod search;
pub mod snapshot;
pub mod state;
pub mod stream;
pub mod trace;
pub mod view;

pub use state::AppState;

use actix_web::web;

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    // Called once per worker: each keeps its own feeds (the overview's snapshot and searches'
    // hits are shared by all workers: see `startup`).
    cfg.app_data(web::Data::new(calendar::FeedCache::default()))
        .app_data(query::config())
        .service(health::healthz)
        .service(dashboard::overview)
        .service(inventory::environment)
        .service(inventory::application)
        .service(act::confirm)
        .service(act::act)
        .service(act::dashboard_act)
        .service(api::credentials)
        .service(api::credentials_csv)
        .service(api::environments)
        .service(api::findings)
        .service(events::events)
        .service(findings::findings_page)
        .service(metrics::metrics)
        .service(assets::asset)
        .service(calendar::calendar_all)
        .service(calendar::calendar_environment)
        .service(auth::oidc::login)
        .service(auth::oidc::callback)
        .service(auth::oidc::logout_page)
        .service(auth::oidc::logout)
        .default_service(web::to(error::not_found));
}
