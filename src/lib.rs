//! credwatch: watches Microsoft Entra ID app-registration credentials so none expires unnoticed.
//!
//! Data flows one way: `config → graph → sync → store → web`, and `store → reminders → mail`.

pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod emulator;
pub mod graph;
pub mod policy;
pub mod reminders;
pub mod scheduler;
pub mod startup;
pub mod store;
pub mod sync;
pub mod tls;
pub mod web;
