//! The median time of one password verification at the default parameters, for the hashing
//! bound of `scripts/bench-http.sh` (login throughput can be at most hashing slots divided by
//! this time). Hashes one password with a `PasswordHasher` at `HashParams::default()`, then
//! times `RUNS` verifications of the right password and prints their median in milliseconds,
//! alone on one line.
//!
//! The verifications go through a one-slot `HashingPool`, as the server's logins do: its
//! thread keeps its Argon2 memory from one hash to the next, where `PasswordHasher::verify`
//! on its own allocates (and the kernel zeroes) 19 MiB each time, which on a virtual machine
//! made it measurably slower than the server's hash and the bound too low.
//!
//! `cargo run --release -p sec-core --example hash_time -- 25`

#![allow(clippy::print_stdout, reason = "the one number is the output")]

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use sec_core::{
    HashParams, HashingPool, Password, PasswordContext, PasswordHasher, PasswordPolicy,
    SecretString,
};

const PASSWORD: &str = "bench-otter-lantern-meadow-42-quartz";
/// Nothing else uses the pool, so a verification never waits for a slot.
const WAIT: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    let runs = match std::env::args().nth(1).map(|n| n.parse::<usize>()) {
        None => 25,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln_usage();
            return ExitCode::from(2);
        }
    };
    let Ok(password) = Password::new(
        SecretString::from(PASSWORD.to_owned()),
        &PasswordPolicy::default(),
        &PasswordContext::new(),
    ) else {
        return fail("the benchmark password is refused by the default policy");
    };
    let pool =
        HashingPool::new(PasswordHasher::new(HashParams::default(), None), NonZeroUsize::MIN);
    // The one hash also starts the pool's thread and gives it its memory before any timing.
    let Ok(stored) = pool.hash(&password, WAIT) else {
        return fail("hashing failed");
    };
    let candidate = SecretString::from(PASSWORD.to_owned());
    let mut millis = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let outcome = pool.verify(black_box(&candidate), stored.as_str(), WAIT);
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
