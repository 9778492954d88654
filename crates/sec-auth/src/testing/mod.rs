//! Test doubles for the rules: an in-memory [`crate::AuthStore`], so [`crate::Auth`] can be
//! tested without a database. Compiled for this crate's tests only.

mod store;
mod tables;
