//! The chain's head, and whether an audit folder still holds a head recorded elsewhere.
//!
//! The chain proves that the lines it holds are complete from the first one to the last one;
//! it cannot prove that the last one is the last one written. Cutting the newest lines at a
//! line boundary, or deleting the folder, leaves a chain that verifies. A head recorded outside
//! the files (the app keeps one in its database) closes that gap: if the folder no longer holds
//! that line, sealed as recorded, the trail lost its tail or was replaced.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::chain::{self, ChainHead, ChainKey, LineHead, Sealer};
use crate::trail::{AuditError, audit_files, last_complete_line};

/// How an audit folder relates to a head recorded outside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Continuity {
    /// The folder holds the recorded line, with the recorded hash and a valid seal under the key
    /// (newer lines may follow it).
    Continuous,
    /// The folder has no line with the recorded sequence number: its newest lines were cut, or
    /// the folder was deleted or replaced by a shorter one.
    Missing {
        /// Sequence number of the last line the folder holds, `None` when it holds none.
        last_seq: Option<u64>,
    },
    /// The folder's line with that sequence number is not the recorded one (another hash, or a
    /// seal that does not verify under the key): the trail was replaced.
    Replaced {
        /// Sequence number of the last line the folder holds.
        last_seq: Option<u64>,
    },
}

/// Compares the audit folder `dir` with `recorded`, the head written down outside it. `key` is
/// the chain key (`None` for an unkeyed chain); the recorded line's seal is checked with it, so
/// copying the recorded hash into a forged line does not pass.
///
/// Reads the first line of each file and then one file, the one the recorded line belongs in.
pub fn check_continuity(
    dir: &Path,
    key: Option<&ChainKey>,
    recorded: &ChainHead,
) -> Result<Continuity, AuditError> {
    let dir_err =
        |e: std::io::Error| AuditError::Directory { dir: dir.to_path_buf(), reason: e.to_string() };
    let files = match audit_files(dir) {
        Ok(files) => files,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(dir_err(e)),
    };
    let mut last_seq = None;
    for (_, path) in files.iter().rev() {
        if let Some((seq, _)) = last_complete_line(path)? {
            last_seq = Some(seq);
            break;
        }
    }
    // The newest file whose first line comes at or before the recorded one holds it, if any
    // file does.
    let mut holder = None;
    for (_, path) in files.iter().rev() {
        if first_seq(path)?.is_some_and(|first| first <= recorded.seq) {
            holder = Some(path);
            break;
        }
    }
    let Some(path) = holder else { return Ok(Continuity::Missing { last_seq }) };
    let sealer = Sealer::new(key);
    let file_err =
        |e: std::io::Error| AuditError::File { path: path.clone(), reason: e.to_string() };
    let mut reader = BufReader::new(File::open(path).map_err(file_err)?);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(file_err)? == 0 {
            return Ok(Continuity::Missing { last_seq });
        }
        // A line cut in the middle (no newline) counts as missing.
        let Some(complete) = line.strip_suffix(b"\n") else {
            return Ok(Continuity::Missing { last_seq });
        };
        let Some((body, tag)) = chain::split_line(complete) else { continue };
        let Some(head) = LineHead::parse(body) else { continue };
        if head.seq < recorded.seq {
            continue;
        }
        if head.seq > recorded.seq {
            return Ok(Continuity::Missing { last_seq });
        }
        let sealed_as_recorded = hex::encode(tag) == recorded.hash && sealer.check(body, &tag);
        return Ok(if sealed_as_recorded {
            Continuity::Continuous
        } else {
            Continuity::Replaced { last_seq }
        });
    }
}

/// The sequence number of the first line of `path`, when it is a readable line.
fn first_seq(path: &Path) -> Result<Option<u64>, AuditError> {
    let err =
        |e: std::io::Error| AuditError::File { path: path.to_path_buf(), reason: e.to_string() };
    let mut reader = BufReader::new(File::open(path).map_err(err)?);
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line).map_err(err)?;
    let complete = line.strip_suffix(b"\n").unwrap_or(&line);
    Ok(chain::split_line(complete).and_then(|(body, _)| LineHead::parse(body)).map(|h| h.seq))
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        reason = "a failed unwrap is a failed test"
    )]

    use std::fs;
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use secrecy::SecretBox;

    use super::*;
    use crate::{Actor, AuditConfig, AuditEvent, AuditRecord, AuditTrail, ManualClock, Rotation};

    fn key(byte: u8) -> ChainKey {
        ChainKey::new(&SecretBox::new(Box::new([byte; ChainKey::LEN])))
    }

    /// A trail in `dir` with a new file per record (hourly files, an hour apart).
    fn write(dir: &Path, key: &ChainKey, records: usize) -> ChainHead {
        write_as(dir, "test", key, records)
    }

    /// [`write`] with genesis lines naming `instance`.
    fn write_as(dir: &Path, instance: &str, key: &ChainKey, records: usize) -> ChainHead {
        let clock = Arc::new(ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1)));
        let trail = AuditTrail::open_with_clock(
            AuditConfig::new(dir, instance).rotation(Rotation::Hourly),
            Some(key),
            clock.clone(),
        )
        .unwrap();
        for _ in 0..records {
            trail.emit(&AuditRecord::new(AuditEvent::Logout, Actor::System)).unwrap();
            clock.advance(Duration::from_secs(3600));
        }
        trail.head().expect("lines were written")
    }

    fn newest_file(dir: &Path) -> std::path::PathBuf {
        audit_files(dir).unwrap().pop().unwrap().1
    }

    #[test]
    fn the_recorded_line_is_found_in_whichever_file_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let k = key(1);
        let first = write(dir.path(), &k, 3);
        // Six lines in three files (genesis + record each); the head is line 6.
        assert_eq!(first.seq, 6);
        assert_eq!(check_continuity(dir.path(), Some(&k), &first).unwrap(), Continuity::Continuous);
        // A later run appends: the old head is still there.
        let later = write(dir.path(), &k, 1);
        assert!(later.seq > first.seq);
        assert_eq!(check_continuity(dir.path(), Some(&k), &first).unwrap(), Continuity::Continuous);
        let middle = ChainHead { seq: 3, hash: line_hash(dir.path(), 3) };
        assert_eq!(
            check_continuity(dir.path(), Some(&k), &middle).unwrap(),
            Continuity::Continuous
        );
    }

    fn line_hash(dir: &Path, seq: u64) -> String {
        for (_, path) in audit_files(dir).unwrap() {
            for line in fs::read_to_string(&path).unwrap().lines() {
                let value: serde_json::Value = serde_json::from_str(line).unwrap();
                if value["seq"] == seq {
                    return value["hash"].as_str().unwrap().to_owned();
                }
            }
        }
        panic!("no line {seq}");
    }

    #[test]
    fn a_tail_cut_at_a_line_boundary_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let k = key(1);
        let head = write(dir.path(), &k, 2);
        let newest = newest_file(dir.path());
        let text = fs::read_to_string(&newest).unwrap();
        let kept: String = text.lines().take(1).map(|l| format!("{l}\n")).collect();
        fs::write(&newest, kept).unwrap();
        assert_eq!(
            check_continuity(dir.path(), Some(&k), &head).unwrap(),
            Continuity::Missing { last_seq: Some(head.seq - 1) }
        );
        // The newest file deleted outright.
        fs::remove_file(&newest).unwrap();
        assert_eq!(
            check_continuity(dir.path(), Some(&k), &head).unwrap(),
            Continuity::Missing { last_seq: Some(head.seq - 2) }
        );
    }

    #[test]
    fn a_deleted_folder_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let k = key(1);
        let head = write(&dir.path().join("audit"), &k, 1);
        fs::remove_dir_all(dir.path().join("audit")).unwrap();
        assert_eq!(
            check_continuity(&dir.path().join("audit"), Some(&k), &head).unwrap(),
            Continuity::Missing { last_seq: None }
        );
    }

    #[test]
    fn a_replaced_trail_or_a_forged_line_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let k = key(1);
        let head = write(dir.path(), &k, 2);
        // A new trail as long as the old one, written with the same key (by another instance).
        let other = tempfile::tempdir().unwrap();
        let replacement = write_as(other.path(), "impostor", &k, 2);
        assert_eq!(replacement.seq, head.seq);
        assert_ne!(replacement.hash, head.hash);
        assert_eq!(
            check_continuity(other.path(), Some(&k), &head).unwrap(),
            Continuity::Replaced { last_seq: Some(head.seq) }
        );
        // The recorded hash copied into the replacement's line: the seal gives it away.
        let newest = newest_file(other.path());
        let text = fs::read_to_string(&newest).unwrap();
        fs::write(&newest, text.replace(&replacement.hash, &head.hash)).unwrap();
        assert_eq!(
            check_continuity(other.path(), Some(&k), &head).unwrap(),
            Continuity::Replaced { last_seq: Some(head.seq) }
        );
        // The original, checked with another key, does not vouch either.
        assert_eq!(
            check_continuity(dir.path(), Some(&key(2)), &head).unwrap(),
            Continuity::Replaced { last_seq: Some(head.seq) }
        );
    }
}
