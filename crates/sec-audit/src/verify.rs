//! Checking an audit chain: one file, or a folder of rotated files, line by line, reporting the
//! first line that breaks it.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::chain::{self, ALG_KEYED, ALG_PLAIN, ChainKey, FORMAT, LineHead, Sealer, ZERO_HASH};
use crate::trail::audit_files;

/// What a successful verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChainSummary {
    /// Files checked.
    pub files: usize,
    /// Event records checked (genesis lines not counted).
    pub records: u64,
    /// Sequence number of the last line.
    pub head_seq: u64,
    /// Hash of the last line: note it somewhere else to detect a later cut of the tail.
    pub head_hash: String,
    /// Whether the lines were keyed (HMAC-SHA-256) rather than plain SHA-256.
    pub keyed: bool,
    /// When a single file was checked that continues an earlier one: the hash it continues
    /// from, which this check could not confirm.
    pub continues_from: Option<String>,
}

impl fmt::Display for ChainSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "audit chain intact: {} records in {} file(s), {}; last line seq {} hash {}",
            self.records,
            self.files,
            if self.keyed { "HMAC-SHA-256 keyed" } else { "SHA-256, unkeyed" },
            self.head_seq,
            self.head_hash
        )?;
        if let Some(prev) = &self.continues_from {
            write!(f, "; continues an earlier file ending in {prev} (not checked)")?;
        }
        Ok(())
    }
}

/// Where and how the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} line {line}: {problem}", file.display())]
#[non_exhaustive]
pub struct ChainBreak {
    /// The file.
    pub file: PathBuf,
    /// The line, from 1.
    pub line: u64,
    /// What is wrong with it.
    pub problem: BreakKind,
}

/// What is wrong at a break.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BreakKind {
    /// The line is not a sealed audit record.
    #[error("not a well-formed audit line (edited or corrupted)")]
    Malformed,
    /// The file ends in the middle of this line.
    #[error("the line is incomplete: the file was cut here (or the writer crashed mid-line)")]
    Incomplete,
    /// The hash does not match the line's content.
    #[error("the hash does not match the line's content: the line was edited or forged")]
    HashMismatch,
    /// The sequence number is not the next one.
    #[error(
        "sequence number {found} where {expected} was due: lines were removed, inserted or reordered"
    )]
    Sequence {
        /// The number that should be here.
        expected: u64,
        /// The number found.
        found: u64,
    },
    /// The line does not continue the line (or file) before it.
    #[error(
        "does not continue the line before it (prev {found}, expected {expected}): lines were removed, inserted or reordered"
    )]
    Link {
        /// The hash of the line before.
        expected: String,
        /// The `prev` found.
        found: String,
    },
    /// The first line of a file is not a genesis line.
    #[error("the file does not start with a genesis line")]
    MissingGenesis,
    /// A genesis line appears after the first line.
    #[error("a genesis line in the middle of a file")]
    UnexpectedGenesis,
    /// The file is keyed but no key was given.
    #[error("the chain is keyed (HMAC-SHA-256): its key is needed to verify it")]
    KeyRequired,
    /// The file is unkeyed although a key was given: anyone could have rewritten it.
    #[error(
        "the chain is unkeyed (plain SHA-256) although a key was given: it may have been rewritten without the key"
    )]
    Unkeyed,
    /// The genesis names an unknown format or algorithm.
    #[error("unsupported format or algorithm: {0}")]
    Unsupported(String),
    /// The first file continues an earlier one that is not in the folder.
    #[error("this file continues file #{missing}, which is missing (deleted or moved away)")]
    MissingFile {
        /// Number of the missing file.
        missing: u64,
    },
    /// The file is empty.
    #[error("the file is empty")]
    Empty,
}

/// Verification could not run, or found a break.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The chain is broken.
    #[error("audit chain BROKEN at {0}")]
    Broken(#[from] ChainBreak),
    /// A file or folder could not be read.
    #[error("cannot read {}: {reason}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The folder holds no audit files.
    #[error("no audit files (audit-*.jsonl) in {}", dir.display())]
    NoFiles {
        /// The folder.
        dir: PathBuf,
    },
}

impl VerifyError {
    /// The break, when the chain is broken (rather than unreadable).
    pub fn chain_break(&self) -> Option<&ChainBreak> {
        match self {
            Self::Broken(b) => Some(b),
            _ => None,
        }
    }
}

/// Verifies `path`: a single audit file, or a folder whose audit files must form one unbroken
/// chain from its first file (file #0) to the last line.
///
/// With `key`, every line must carry a valid HMAC under it (an unkeyed file is a failure, as
/// anyone can write one); without, only unkeyed (SHA-256) files can be verified.
pub fn verify(path: &Path, key: Option<&ChainKey>) -> Result<ChainSummary, VerifyError> {
    let io =
        |e: std::io::Error| VerifyError::Io { path: path.to_path_buf(), reason: e.to_string() };
    if path.is_dir() {
        let files = audit_files(path).map_err(io)?;
        if files.is_empty() {
            return Err(VerifyError::NoFiles { dir: path.to_path_buf() });
        }
        let mut state = None;
        let mut records = 0;
        for (expected_number, (_, file)) in (0u64..).zip(&files) {
            let checked =
                verify_file(file, key, Expect::Continuing { file: expected_number, state })?;
            records += checked.records;
            state = Some(checked.head);
        }
        let head = state.unwrap_or_default();
        Ok(ChainSummary {
            files: files.len(),
            records,
            head_seq: head.seq,
            head_hash: head.hash,
            keyed: key.is_some(),
            continues_from: None,
        })
    } else {
        let checked = verify_file(path, key, Expect::Standalone)?;
        Ok(ChainSummary {
            files: 1,
            records: checked.records,
            head_seq: checked.head.seq,
            head_hash: checked.head.hash,
            keyed: key.is_some(),
            continues_from: checked.continues_from,
        })
    }
}

/// The end of the chain so far.
#[derive(Debug, Clone, Default)]
struct Head {
    seq: u64,
    hash: String,
}

enum Expect {
    /// A file checked on its own: it may continue anything.
    Standalone,
    /// File number `file` of a folder, after `state` (none for the first).
    Continuing { file: u64, state: Option<Head> },
}

struct FileResult {
    records: u64,
    head: Head,
    continues_from: Option<String>,
}

fn verify_file(
    path: &Path,
    key: Option<&ChainKey>,
    expect: Expect,
) -> Result<FileResult, VerifyError> {
    let io =
        |e: std::io::Error| VerifyError::Io { path: path.to_path_buf(), reason: e.to_string() };
    let broken = |line: u64, problem: BreakKind| {
        VerifyError::Broken(ChainBreak { file: path.to_path_buf(), line, problem })
    };
    let sealer = Sealer::new(key);
    let mut reader = BufReader::new(File::open(path).map_err(io)?);
    let mut buf = Vec::with_capacity(1024);
    let mut number = 0u64;
    let mut head: Option<Head> = None;
    let mut records = 0;
    let mut continues_from = None;

    loop {
        buf.clear();
        let read = reader.read_until(b'\n', &mut buf).map_err(io)?;
        if read == 0 {
            break;
        }
        number += 1;
        let Some(line) = buf.strip_suffix(b"\n") else {
            return Err(broken(number, BreakKind::Incomplete));
        };
        let Some((body, tag)) = chain::split_line(line) else {
            return Err(broken(number, BreakKind::Malformed));
        };
        let Some(parsed) = LineHead::parse(body) else {
            return Err(broken(number, BreakKind::Malformed));
        };

        if number == 1 {
            let Some(genesis) = &parsed.genesis else {
                return Err(broken(number, BreakKind::MissingGenesis));
            };
            if genesis.format != FORMAT || parsed.event.is_some() {
                return Err(broken(
                    number,
                    BreakKind::Unsupported(format!("format {}", genesis.format)),
                ));
            }
            match (genesis.alg.as_str(), key) {
                (ALG_KEYED, None) => return Err(broken(number, BreakKind::KeyRequired)),
                (ALG_PLAIN, Some(_)) => return Err(broken(number, BreakKind::Unkeyed)),
                (ALG_KEYED | ALG_PLAIN, _) => {}
                (other, _) => return Err(broken(number, BreakKind::Unsupported(other.to_owned()))),
            }
            if !sealer.check(body, &tag) {
                return Err(broken(number, BreakKind::HashMismatch));
            }
            match &expect {
                Expect::Standalone => {
                    if parsed.prev != ZERO_HASH {
                        continues_from = Some(parsed.prev.clone());
                    }
                }
                Expect::Continuing { file, state: None } => {
                    if genesis.file != *file || parsed.prev != ZERO_HASH {
                        return Err(broken(
                            number,
                            BreakKind::MissingFile { missing: genesis.file.saturating_sub(1) },
                        ));
                    }
                }
                Expect::Continuing { file, state: Some(before) } => {
                    if genesis.file != *file {
                        return Err(broken(number, BreakKind::MissingFile { missing: *file }));
                    }
                    check_link(before, &parsed).map_err(|p| broken(number, p))?;
                }
            }
        } else {
            if parsed.genesis.is_some() || parsed.event.is_none() {
                return Err(broken(number, BreakKind::UnexpectedGenesis));
            }
            if !sealer.check(body, &tag) {
                return Err(broken(number, BreakKind::HashMismatch));
            }
            if let Some(before) = &head {
                check_link(before, &parsed).map_err(|p| broken(number, p))?;
            }
            records += 1;
        }
        head = Some(Head { seq: parsed.seq, hash: hex::encode(tag) });
    }

    match head {
        Some(head) => Ok(FileResult { records, head, continues_from }),
        None => Err(broken(1, BreakKind::Empty)),
    }
}

/// Checks that `line` comes right after `before`: next sequence number, and `prev` naming its
/// hash. The sequence is checked first because its message says more.
fn check_link(before: &Head, line: &LineHead) -> Result<(), BreakKind> {
    let expected = before.seq + 1;
    if line.seq != expected {
        return Err(BreakKind::Sequence { expected, found: line.seq });
    }
    if line.prev != before.hash {
        return Err(BreakKind::Link { expected: before.hash.clone(), found: line.prev.clone() });
    }
    Ok(())
}
