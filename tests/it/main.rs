//! credwatch's integration tests, one module per feature, in one binary: every test binary links
//! the whole dependency tree again, which on a small machine costs more than the tests take.
//! What they share is in `tests/support/`.

#[path = "../support/mod.rs"]
mod support;

mod acknowledge;
mod api;
mod architecture;
mod auth;
mod calendar_feed;
mod config;
mod demo;
mod emulator;
mod exclusions;
mod faults;
mod findings;
mod ics;
mod instants;
mod leases;
mod metrics;
mod oidc;
mod owners;
mod pages;
mod private_files;
mod reminders;
mod requests;
mod search;
mod secrets;
mod security;
mod serve;
mod smtp_server;
mod smtp_tls;
mod store_rows;
mod sync;
mod usage;
mod webhooks;
