//! Benchmarks: audit events per second through the chained writer (target: 100k/s on one
//! core), and what the JSON request log costs per request. Results: docs/performance.md.
#![allow(missing_docs, clippy::unwrap_used, reason = "benchmark harness")]

use std::hint::black_box;
use std::io;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sec_audit::{
    Actor, AuditConfig, AuditEvent, AuditRecord, AuditTrail, ChainKey, LoginFailure, RequestId,
    Subject, UserText,
};
use secrecy::SecretBox;
use tracing::Dispatch;

fn record() -> AuditRecord {
    AuditRecord::new(
        AuditEvent::LoginFailed { reason: LoginFailure::BadPassword },
        Actor::Anonymous,
    )
    .subject(Subject::Username(UserText::new("alice@example.com")))
    .source_ip([203, 0, 113, 9].into())
    .request_id(RequestId::new("0f8fad5b-d9cb-469f-a165-70867728950e").unwrap())
}

fn audit_events(c: &mut Criterion) {
    let mut group = c.benchmark_group("audit_emit");
    group.throughput(Throughput::Elements(1));
    let key = ChainKey::new(&SecretBox::new(Box::new([7u8; 32])));
    for (name, key) in [("hmac_sha256_chain", Some(&key)), ("sha256_chain", None)] {
        let dir = tempfile::tempdir().unwrap();
        // Rotation by size keeps the files bounded however many iterations criterion picks.
        let config = AuditConfig::new(dir.path(), "bench").max_file_bytes(64 * 1024 * 1024);
        let trail = AuditTrail::open(config, key).unwrap();
        let record = record();
        // No log subscriber: this measures the audit file path alone.
        group.bench_function(name, |b| b.iter(|| trail.emit(black_box(&record)).unwrap()));
    }
    group.finish();
}

/// What the app's request-id middleware logs for one request: a span with the id, method and
/// path, and a completion event.
fn one_request() {
    let span = tracing::info_span!(
        "request",
        request_id = %"0f8fad5b-d9cb-469f-a165-70867728950e",
        method = %"GET",
        path = ?"/api/v1/things/42",
    );
    let _entered = span.enter();
    tracing::info!(status = 200u16, elapsed_ms = 3u64, "request completed");
}

/// The file log's JSON format over `writer`.
fn json_dispatch<W>(writer: W) -> Dispatch
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::SubscriberExt;
    Dispatch::new(tracing_subscriber::registry().with(sec_audit::json_layer(writer)))
}

fn request_log(c: &mut Criterion) {
    let mut group = c.benchmark_group("request_log");
    group.throughput(Throughput::Elements(1));
    group.bench_function("no_subscriber", |b| b.iter(one_request));

    let to_sink = json_dispatch(io::sink);
    group.bench_function("json_to_sink", |b| {
        tracing::dispatcher::with_default(&to_sink, || b.iter(one_request));
    });

    // As in production: formatted on the request's thread, written by a background thread.
    let (writer, _guard) = tracing_appender::non_blocking(io::sink());
    let non_blocking = json_dispatch(writer);
    group.bench_function("json_non_blocking", |b| {
        tracing::dispatcher::with_default(&non_blocking, || b.iter(one_request));
    });
    group.finish();
}

criterion_group!(benches, audit_events, request_log);
criterion_main!(benches);
