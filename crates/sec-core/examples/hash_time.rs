//! The median time of one password verification at the default parameters, for the hashing
//! bound of `scripts/bench-http.sh` (login throughput can be at most hashing slots divided by
//! this time). Hashes one password with `PasswordHasher` at `HashParams::default()`, then times
//! `N` verifications of the right password and prints their median in milliseconds, alone on
//! one line.
//!
//! `cargo run --release -p sec-core --example hash_time -- 25`

#![allow(clippy::print_stdout, reason = "the one number is the output")]

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use sec_core::{
    HashParams, Password, PasswordContext, PasswordHasher, PasswordPolicy, SecretString,
};

const PASSWORD: &str = "bench-otter-lantern-meadow-42-quartz";

fn main() -> ExitCode {
    let runs = match std::env::args().nth(1).map(|n| n.parse::<usize>()) {
        None => 25,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln_usage();
            return ExitCode::from(2);
        }
    };
    let hasher = PasswordHasher::new(HashParams::default(), None);
    let Ok(password) = Password::new(
        SecretString::from(PASSWORD.to_owned()),
        &PasswordPolicy::default(),
        &PasswordContext::new(),
    ) else {
        return fail("the benchmark password is refused by the default policy");
    };
    let Ok(stored) = hasher.hash(&password) else {
        return fail("hashing failed");
    };
    let candidate = SecretString::from(PASSWORD.to_owned());
    let mut millis = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let outcome = hasher.verify(black_box(&candidate), stored.as_str());
        let elapsed = start.elapsed();
        if outcome.is_err() {
            return fail("the right password did not verify");
        }
        millis.push(elapsed.as_secs_f64() * 1000.0);
    }
    millis.sort_by(f64::total_cmp);
    let mid = millis.len() / 2;
    let median = if millis.len() % 2 == 1 {
        millis[mid]
    } else {
        f64::midpoint(millis[mid - 1], millis[mid])
    };
    println!("{median:.3}");
    ExitCode::SUCCESS
}

#[allow(clippy::print_stderr, reason = "usage goes to stderr")]
fn eprintln_usage() {
    eprintln!("usage: hash_time [RUNS]  (RUNS > 0, default 25)");
}

#[allow(clippy::print_stderr, reason = "the failure goes to stderr")]
fn fail(what: &str) -> ExitCode {
    eprintln!("hash_time: {what}");
    ExitCode::FAILURE
}
