//! credwatch: watches Microsoft Entra ID app-registration credentials so none expires unnoticed.
//!
//! Data flows one way: `config → graph → sync → store → web`, and `store → reminders → mail`.

pub mod certificate;
pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod graph;
pub mod reminders;
pub mod scheduler;
pub mod startup;
pub mod store;
pub mod sync;
pub mod tls;
pub mod web;
