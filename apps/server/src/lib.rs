//! The reference server: the actix-web application that wires the `sec-*` crates together,
//! its database layer and its command line.
//!
//! `main.rs` only parses the command line and calls into this library, so tests build the
//! same [`startup::Application`] that production runs.

pub mod audit;
pub mod auth;
mod body_error;
pub mod catch_panic;
pub mod cli;
pub mod cli_check;
pub mod cli_mfa;
pub mod cli_probe;
pub mod cli_secrets;
pub mod cli_users;
pub mod client_ip;
pub mod cookies;
pub mod cors;
pub mod csrf;
pub mod db;
pub mod error;
pub mod housekeeping;
pub mod limits;
pub mod openapi;
pub mod rate_limit;
pub mod request_id;
pub mod routes;
pub mod security_headers;
pub mod startup;
pub mod telemetry;
pub mod tls;
