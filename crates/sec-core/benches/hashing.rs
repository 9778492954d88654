//! Benchmarks for password hashing at the default parameters (Argon2id m=19456 KiB, t=2,
//! p=1): our `hash`, `verify` and `dummy_verify`, next to the bare `argon2` crate call, to show
//! the wrapper adds nothing measurable.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark aborts on any error")]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sec_core::{
    HashParams, Password, PasswordContext, PasswordHasher, PasswordPolicy, SecretString,
};

fn hashing(c: &mut Criterion) {
    let hasher = PasswordHasher::new(HashParams::default(), None);
    let password = Password::new(
        SecretString::from("correct horse battery staple".to_owned()),
        &PasswordPolicy::default(),
        &PasswordContext::new(),
    )
    .unwrap();
    let stored = hasher.hash(&password).unwrap();
    let candidate = SecretString::from("correct horse battery staple".to_owned());
    let wrong = SecretString::from("incorrect horse battery staple".to_owned());

    let mut group = c.benchmark_group("argon2id_m19456_t2_p1");
    group.sample_size(20);
    group.bench_function("argon2_crate_raw", |b| {
        let argon2 = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(19_456, 2, 1, Some(32)).unwrap(),
        );
        let mut out = [0u8; 32];
        b.iter(|| {
            argon2
                .hash_password_into(
                    black_box(b"correct horse battery staple"),
                    b"sixteen byte salt",
                    &mut out,
                )
                .unwrap();
        });
    });
    group.bench_function("hash", |b| b.iter(|| hasher.hash(black_box(&password)).unwrap()));
    group.bench_function("verify_ok", |b| {
        b.iter(|| hasher.verify(black_box(&candidate), stored.as_str()).unwrap())
    });
    group.bench_function("verify_wrong", |b| {
        b.iter(|| hasher.verify(black_box(&wrong), stored.as_str()).unwrap_err())
    });
    group.bench_function("dummy_verify", |b| b.iter(|| hasher.dummy_verify(black_box(&wrong))));
    group.finish();
}

criterion_group!(benches, hashing);
criterion_main!(benches);
