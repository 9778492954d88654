//! The pool's memory bound, seen by the operating system: a flood of verifications from many
//! caller threads leaves the process at most `slots` Argon2 work areas larger than before,
//! however many threads asked. Hashing on the callers' threads instead leaves a freed 19 MiB
//! area in the allocator's arena of nearly every thread that ever hashed.
//!
//! Resident memory is process-wide, so this file holds one test only (its own process).

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test fails loudly on any error")]

use std::thread;
use std::time::Duration;

use sec_core::{HashParams, HashingPool, PasswordHasher, SecretString};

/// A field of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_flood_from_many_threads_costs_at_most_slots_work_areas() {
    let params = HashParams::default();
    let slots = 2;
    let pool = HashingPool::new(PasswordHasher::new(params, None), slots.try_into().unwrap());
    // A stored hash at the default parameters (wrong or right makes no difference to the work).
    let stored = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzYWx0c2FsdA$\
                  AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let before = status_kib("VmRSS:");

    let callers: Vec<_> = (0..16)
        .map(|_| {
            let pool = pool.clone();
            thread::spawn(move || {
                for _ in 0..3 {
                    let typed = SecretString::from("a password typed in a flood".to_owned());
                    assert!(pool.verify(&typed, stored, Duration::from_secs(600)).is_err());
                    pool.dummy_verify(&typed, Duration::from_secs(600)).unwrap();
                }
            })
        })
        .collect();
    for c in callers {
        c.join().unwrap();
    }

    let area_kib = usize::try_from(params.m_cost_kib()).unwrap();
    // Slack for the 16 callers' stacks and the allocator's bookkeeping: far less than one more
    // work area.
    let slack_kib = 12 * 1024;
    let (peak, after) = (status_kib("VmHWM:"), status_kib("VmRSS:"));
    assert!(
        peak.saturating_sub(before) <= slots * area_kib + slack_kib,
        "peak resident memory grew by {} MiB for {slots} slots of {} MiB",
        peak.saturating_sub(before) / 1024,
        area_kib / 1024
    );
    assert!(after.saturating_sub(before) <= slots * area_kib + slack_kib);
    assert!(pool.threads() <= slots);
}
