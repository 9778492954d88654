//! The audit chain under attack: every way of altering a written trail (edit, delete, swap,
//! insert, truncate, remove a file, downgrade to an unkeyed chain) is caught, at the right line.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sec_audit::{
    Actor, AuditConfig, AuditError, AuditEvent, AuditRecord, AuditTrail, BreakKind, ChainKey,
    LoginFailure, ManualClock, Rotation, Subject, UserText, VerifyError, verify,
};
use secrecy::SecretBox;

fn key(byte: u8) -> ChainKey {
    ChainKey::new(&SecretBox::new(Box::new([byte; 32])))
}

fn failed_login(n: usize) -> AuditRecord {
    AuditRecord::new(
        AuditEvent::LoginFailed { reason: LoginFailure::BadPassword },
        Actor::Anonymous,
    )
    .subject(Subject::Username(UserText::new(&format!("user{n}"))))
    .source_ip([192, 0, 2, 7].into())
}

/// 2026-11-29T12:00:00Z.
fn noon() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_953_600)
}

fn only_file(dir: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 1, "{files:?}");
    files.remove(0)
}

/// The line and kind of the first break, or a panic if the chain verified.
fn first_break(path: &Path, key: Option<&ChainKey>) -> (u64, BreakKind) {
    match verify(path, key) {
        Err(VerifyError::Broken(b)) => (b.line, b.problem),
        other => panic!("expected a break, got {other:?}"),
    }
}

/// A keyed trail of 1,000 events written by 8 threads at once; returns the folder and the
/// lines of its single file.
fn thousand_events_from_eight_threads() -> (tempfile::TempDir, Vec<Vec<u8>>) {
    let dir = tempfile::tempdir().unwrap();
    let trail = AuditTrail::open(AuditConfig::new(dir.path(), "test-host"), Some(&key(1))).unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let trail = trail.clone();
            s.spawn(move || {
                for i in 0..125 {
                    trail.emit(&failed_login(t * 1000 + i)).unwrap();
                }
            });
        }
    });
    drop(trail);
    let text = fs::read(only_file(dir.path())).unwrap();
    let lines = text.split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    (dir, lines)
}

fn write_lines(path: &Path, lines: &[Vec<u8>]) {
    fs::write(path, lines.concat()).unwrap();
}

#[test]
fn a_thousand_events_from_eight_threads_form_one_intact_chain() {
    let (dir, lines) = thousand_events_from_eight_threads();
    assert_eq!(lines.len(), 1001, "a genesis line and 1,000 records, none torn or lost");
    let summary = verify(dir.path(), Some(&key(1))).unwrap();
    assert_eq!((summary.records, summary.files, summary.head_seq), (1000, 1, 1001));
    let mut users: Vec<String> = lines[1..]
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_slice(l).unwrap();
            v["subject"]["username"].as_str().unwrap().to_owned()
        })
        .collect();
    users.sort();
    users.dedup();
    assert_eq!(users.len(), 1000, "every event recorded once");
}

#[test]
fn changing_any_single_byte_of_a_line_is_caught_at_that_line() {
    let (dir, lines) = thousand_events_from_eight_threads();
    let file = only_file(dir.path());
    let target = 500; // 0-based index: file line 501
    for at in 0..lines[target].len() {
        let mut edited = lines.clone();
        edited[target][at] ^= 0x01;
        write_lines(&file, &edited);
        let (line, _) = first_break(&file, Some(&key(1)));
        assert_eq!(line, 501, "flipping byte {at} of line 501");
    }
}

#[test]
fn deleting_a_line_is_caught_where_it_was() {
    let (dir, mut lines) = thousand_events_from_eight_threads();
    let file = only_file(dir.path());
    lines.remove(300);
    write_lines(&file, &lines);
    assert_eq!(
        first_break(&file, Some(&key(1))),
        (301, BreakKind::Sequence { expected: 301, found: 302 })
    );
}

#[test]
fn swapping_two_lines_is_caught_at_the_first() {
    let (dir, mut lines) = thousand_events_from_eight_threads();
    let file = only_file(dir.path());
    lines.swap(700, 701);
    write_lines(&file, &lines);
    assert_eq!(
        first_break(&file, Some(&key(1))),
        (701, BreakKind::Sequence { expected: 701, found: 702 })
    );
}

#[test]
fn inserting_a_line_is_caught_at_the_insertion() {
    let (dir, lines) = thousand_events_from_eight_threads();
    let file = only_file(dir.path());

    // A forged record that claims the right place in the chain but has no valid MAC.
    let mut forged = lines.clone();
    let claimed =
        String::from_utf8(lines[400].clone()).unwrap().replace("bad_password", "unknown_user");
    forged.insert(400, claimed.into_bytes());
    write_lines(&file, &forged);
    assert_eq!(first_break(&file, Some(&key(1))), (401, BreakKind::HashMismatch));

    // A genuine record replayed elsewhere.
    let mut replayed = lines.clone();
    replayed.insert(400, lines[10].clone());
    write_lines(&file, &replayed);
    assert_eq!(
        first_break(&file, Some(&key(1))),
        (401, BreakKind::Sequence { expected: 401, found: 11 })
    );
}

#[test]
fn truncating_the_file_in_the_middle_is_caught_at_the_cut_line() {
    let (dir, lines) = thousand_events_from_eight_threads();
    let file = only_file(dir.path());
    let mut cut = lines[..600].concat();
    cut.extend_from_slice(&lines[600][..lines[600].len() / 2]);
    fs::write(&file, cut).unwrap();
    assert_eq!(first_break(&file, Some(&key(1))), (601, BreakKind::Incomplete));
}

#[test]
fn a_keyed_chain_needs_its_own_key_and_an_unkeyed_one_is_refused_when_a_key_is_expected() {
    let (dir, _) = thousand_events_from_eight_threads();
    let file = only_file(dir.path());
    assert_eq!(first_break(&file, None), (1, BreakKind::KeyRequired));
    assert_eq!(first_break(&file, Some(&key(2))), (1, BreakKind::HashMismatch));

    let plain = tempfile::tempdir().unwrap();
    let trail = AuditTrail::open(AuditConfig::new(plain.path(), "h"), None).unwrap();
    trail.emit(&failed_login(1)).unwrap();
    drop(trail);
    verify(plain.path(), None).unwrap();
    assert_eq!(first_break(plain.path(), Some(&key(1))), (1, BreakKind::Unkeyed));
}

#[test]
fn an_unkeyed_chain_catches_a_rewritten_line_at_the_next_one() {
    // Without a key anyone can recompute a line's hash; the chain still shows the seam.
    let dir = tempfile::tempdir().unwrap();
    let trail = AuditTrail::open(AuditConfig::new(dir.path(), "h"), None).unwrap();
    for n in 0..5 {
        trail.emit(&failed_login(n)).unwrap();
    }
    drop(trail);
    let file = only_file(dir.path());
    let text = fs::read_to_string(&file).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // Rewrite line 3 and give it a correct SHA-256: what an attacker without a key can do.
    let edited = lines[2].replace("user1", "user9");
    let body_open = &edited[..edited.len() - 75];
    let hash = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(format!("{body_open}}}").as_bytes()))
    };
    lines[2] = format!("{body_open},\"hash\":\"{hash}\"}}");
    fs::write(&file, lines.join("\n") + "\n").unwrap();
    let (line, problem) = first_break(&file, None);
    assert_eq!(line, 4);
    assert!(matches!(problem, BreakKind::Link { .. }), "{problem:?}");
}

#[test]
fn rotation_keeps_the_chain_across_files_and_a_removed_first_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(noon()));
    let config = AuditConfig::new(dir.path(), "test-host").rotation(Rotation::Daily);
    let trail = AuditTrail::open_with_clock(config, Some(&key(3)), clock.clone()).unwrap();
    for n in 0..10 {
        trail.emit(&failed_login(n)).unwrap();
    }
    clock.advance(Duration::from_secs(24 * 3600));
    for n in 10..20 {
        trail.emit(&failed_login(n)).unwrap();
    }
    drop(trail);

    let mut files: Vec<PathBuf> =
        fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "jsonl"));
    files.sort();
    let names: Vec<_> = files.iter().map(|p| p.file_name().unwrap().to_owned()).collect();
    assert_eq!(names, ["audit-00000000-2026-11-29.jsonl", "audit-00000001-2026-11-30.jsonl"]);
    let summary = verify(dir.path(), Some(&key(3))).unwrap();
    assert_eq!((summary.files, summary.records), (2, 20));

    // The second file alone verifies, and says what it continues from.
    let second = verify(&files[1], Some(&key(3))).unwrap();
    assert!(second.continues_from.is_some());

    // Cutting the first file's last line at a line boundary is seen from the second file.
    let first_text = fs::read_to_string(&files[0]).unwrap();
    let kept: Vec<&str> = first_text.lines().collect();
    fs::write(&files[0], kept[..kept.len() - 1].join("\n") + "\n").unwrap();
    let err = verify(dir.path(), Some(&key(3))).unwrap_err();
    let at = err.chain_break().unwrap();
    assert_eq!((at.file.as_path(), at.line), (files[1].as_path(), 1), "{err}");
    fs::write(&files[0], first_text).unwrap();

    fs::remove_file(&files[0]).unwrap();
    let err = verify(dir.path(), Some(&key(3))).unwrap_err();
    let at = err.chain_break().unwrap();
    assert_eq!(at.file, files[1]);
    assert_eq!((at.line, &at.problem), (1, &BreakKind::MissingFile { missing: 0 }), "{err}");
}

#[test]
fn size_rotation_and_restarts_continue_the_same_chain() {
    let dir = tempfile::tempdir().unwrap();
    for run in 0..3 {
        let config = AuditConfig::new(dir.path(), "test-host").max_file_bytes(2_000);
        let trail = AuditTrail::open(config, Some(&key(4))).unwrap();
        for n in 0..20 {
            trail.emit(&failed_login(run * 100 + n)).unwrap();
        }
    }
    let summary = verify(dir.path(), Some(&key(4))).unwrap();
    assert_eq!(summary.records, 60);
    assert!(summary.files >= 6, "rotated by size and at each start: {summary:?}");
}

#[test]
fn a_second_writer_on_the_same_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = AuditTrail::open(AuditConfig::new(dir.path(), "a"), Some(&key(5))).unwrap();
    let second = AuditTrail::open(AuditConfig::new(dir.path(), "b"), Some(&key(5)));
    assert!(matches!(second, Err(AuditError::InUse { .. })), "{second:?}");
    drop(first);
    AuditTrail::open(AuditConfig::new(dir.path(), "b"), Some(&key(5))).unwrap();
}

#[test]
fn records_carry_utc_time_event_actor_subject_address_request_and_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(noon() + Duration::from_micros(1_500)));
    let trail =
        AuditTrail::open_with_clock(AuditConfig::new(dir.path(), "h"), Some(&key(6)), clock)
            .unwrap();
    let record = failed_login(1).request_id(sec_audit::RequestId::new("req-1").unwrap());
    assert_eq!(trail.emit(&record).unwrap(), 2, "seq 1 is the genesis line");
    drop(trail);
    let text = fs::read_to_string(only_file(dir.path())).unwrap();
    let genesis: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(genesis["genesis"]["instance"], "h");
    assert_eq!(genesis["genesis"]["alg"], "hmac-sha256");
    assert_eq!(genesis["prev"], "0".repeat(64));
    let line: serde_json::Value = serde_json::from_str(text.lines().nth(1).unwrap()).unwrap();
    assert_eq!(line["time"], "2026-11-29T12:00:00.0015Z");
    assert_eq!(line["event"], "LoginFailed");
    assert_eq!(line["detail"]["reason"], "bad_password");
    assert_eq!(line["outcome"], "failure");
    assert_eq!(line["actor"], "anonymous");
    assert_eq!(line["subject"]["username"], "user1");
    assert_eq!(line["source_ip"], "192.0.2.7");
    assert_eq!(line["request_id"], "req-1");
    assert_eq!(line["prev"], genesis["hash"]);
}
