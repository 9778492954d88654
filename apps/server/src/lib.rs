//! The reference server: the actix-web application that wires the `sec-*` crates together,
//! its database layer and its command line.
//!
//! `main.rs` only parses the command line and calls into this library, so tests build the
//! same [`startup::Application`] that production runs. `docs/architecture.md` maps the modules.

pub mod audit;
pub mod auth;
mod blocking;
pub mod cli;
pub mod db;
pub mod housekeeping;
pub mod http;
pub mod mail;
pub mod openapi;
pub mod outbox;
pub mod routes;
pub mod startup;
pub mod telemetry;
