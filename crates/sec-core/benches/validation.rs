//! Benchmarks for input validation and output escaping: e-mail, username and new-password
//! parsing, and escaping 1 KiB of text.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark aborts on any error")]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sec_core::{
    Email, Password, PasswordContext, PasswordPolicy, SecretString, Username, html_escape,
    sanitize_rich_html,
};

fn parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(1));
    group.bench_function("email_ascii", |b| {
        b.iter(|| Email::parse(black_box("Jane.Doe+news@Mail.Example.com")).unwrap())
    });
    group.bench_function("email_idn", |b| {
        b.iter(|| Email::parse(black_box("jane@bücher.example")).unwrap())
    });
    group.bench_function("email_invalid", |b| {
        b.iter(|| Email::parse(black_box("jane..doe@example.com")).unwrap_err())
    });
    group.bench_function("username_ascii", |b| {
        b.iter(|| Username::parse(black_box("Grace.Hopper_1906")).unwrap())
    });
    group.bench_function("username_unicode", |b| {
        b.iter(|| Username::parse(black_box("Ｚｏë_Ωμέγα")).unwrap_err())
    });
    let policy = PasswordPolicy::default();
    PasswordPolicy::preload_blocklist();
    let username = Username::parse("grace").unwrap();
    let email = Email::parse("grace@example.com").unwrap();
    let ctx = PasswordContext::new().with_username(&username).with_email(&email);
    group.bench_function("password_new", |b| {
        b.iter(|| {
            let candidate = SecretString::from("nanoseconds are 30 cm of wire".to_owned());
            Password::new(black_box(candidate), &policy, &ctx).unwrap()
        })
    });
    group.finish();
}

fn escaping(c: &mut Criterion) {
    // 1 KiB of typical user text with a sprinkling of characters that need escaping.
    let unit = "O'Brien (admin) & co wrote: <b>\"hello\"</b> to everyone in the team today. ";
    let text: String = unit.chars().cycle().take(1024).collect();
    assert_eq!(text.len(), 1024);
    let plain: String = "plain words only ".chars().cycle().take(1024).collect();

    let mut group = c.benchmark_group("escape_1KiB");
    group.throughput(Throughput::Bytes(1024));
    group.bench_function("html_escape_mixed", |b| b.iter(|| html_escape(black_box(&text))));
    group.bench_function("html_escape_plain", |b| b.iter(|| html_escape(black_box(&plain))));
    group.bench_function("sanitize_rich_html", |b| b.iter(|| sanitize_rich_html(black_box(&text))));
    group.finish();
}

criterion_group!(benches, parsing, escaping);
criterion_main!(benches);
