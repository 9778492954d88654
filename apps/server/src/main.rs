//! Entry point of the `server` binary.
fn main() {}
