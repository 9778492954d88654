//! The audit trail: the one function that records an audit event, writing it to the
//! hash-chained audit file and to the log stream.
//!
//! One writer per folder: within the process every emit goes through one lock, so lines are
//! whole and in chain order whatever thread emits; across processes a lock file keeps a second
//! server from writing into the same folder.

use std::fmt;
use std::fs::{self, File, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::chain::{self, ChainHead, ChainKey, FORMAT, Genesis, LineHead, Sealer, ZERO_HASH};
use crate::clock::{Clock, SystemClock};
use crate::event::{Actor, AuditEvent, AuditRecord, Outcome, RequestId, Subject};
use crate::owner_only;
use crate::rolling::Rotation;

/// Where and how the audit files are written.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    dir: PathBuf,
    instance: String,
    rotation: Rotation,
    max_file_bytes: u64,
}

impl AuditConfig {
    /// Files in `dir`, genesis lines naming `instance` (e.g. the host name); a new file each
    /// UTC day or after 100 MiB.
    pub fn new(dir: impl Into<PathBuf>, instance: &str) -> Self {
        Self {
            dir: dir.into(),
            instance: instance.to_owned(),
            rotation: Rotation::Daily,
            max_file_bytes: 100 * 1024 * 1024,
        }
    }

    /// When a new file is started.
    #[must_use]
    pub fn rotation(mut self, rotation: Rotation) -> Self {
        self.rotation = rotation;
        self
    }

    /// Size after which the next record goes to a new file.
    #[must_use]
    pub fn max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes.max(1);
        self
    }
}

/// The audit trail could not be opened or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The folder could not be created or read.
    #[error("audit folder {}: {reason}", dir.display())]
    Directory {
        /// The folder.
        dir: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Another process writes to the same folder.
    #[error("audit folder {} is in use by another server process (lock file audit.lock)", dir.display())]
    InUse {
        /// The folder.
        dir: PathBuf,
    },
    /// A file could not be read, created or written.
    #[error("audit file {}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// The audit trail of one server process. Cheap to clone; every clone writes to the same chain.
#[derive(Clone)]
pub struct AuditTrail {
    writer: Arc<Mutex<ChainWriter>>,
    /// The folder's last line when the trail was opened.
    opened: Option<ChainHead>,
    clock: Arc<dyn Clock>,
    dir: PathBuf,
}

impl fmt::Debug for AuditTrail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditTrail").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl AuditTrail {
    /// Opens the trail in `config`'s folder (created private if missing), continuing the chain
    /// of the files already there in a new file. With a key the chain is HMAC-SHA-256 (only
    /// key holders can write or fully verify it); without, SHA-256 (anyone can verify it, and
    /// anyone with write access can rewrite it).
    pub fn open(config: AuditConfig, key: Option<&ChainKey>) -> Result<Self, AuditError> {
        Self::open_with_clock(config, key, Arc::new(SystemClock))
    }

    /// [`AuditTrail::open`] with the time read from `clock`.
    pub fn open_with_clock(
        config: AuditConfig,
        key: Option<&ChainKey>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AuditError> {
        let dir = config.dir.clone();
        let writer = ChainWriter::open(config, Sealer::new(key))?;
        let opened = writer.head();
        Ok(Self { writer: Arc::new(Mutex::new(writer)), opened, clock, dir })
    }

    /// The folder of the audit files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records `record`: appends it to the audit file (in the operating system's hands when
    /// this returns) and logs it at INFO with target `audit`. Returns its sequence number.
    ///
    /// On a write error the record is not part of the chain, the error is logged and
    /// returned, and the next record starts a new file.
    pub fn emit(&self, record: &AuditRecord) -> Result<u64, AuditError> {
        let written = {
            let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
            writer.append(self.clock.now(), record)
        };
        let seq = written.as_ref().ok().copied();
        tracing::info!(
            target: "audit",
            seq,
            event = record.event.name(),
            outcome = record.event.outcome().as_str(),
            actor = %record.actor,
            subject = record.subject.as_ref().map(tracing::field::display),
            source_ip = record.source_ip.map(tracing::field::display),
            request_id = record.request_id.as_ref().map(RequestId::as_str),
            detail = %DetailJson(&record.event),
            "audit event"
        );
        if let Err(e) = &written {
            tracing::error!(target: "audit", error = %e, "audit record NOT written");
        }
        written
    }

    /// The chain's last line: the last one written by this trail, or before the first write the
    /// last one found in the folder when it was opened; `None` for an empty folder.
    pub fn head(&self) -> Option<ChainHead> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner).head()
    }

    /// The folder's last line when the trail was opened, before this trail wrote anything;
    /// `None` when it held none. What a comparison with a head recorded elsewhere must use, so
    /// that lines written since do not count.
    pub fn opened_head(&self) -> Option<&ChainHead> {
        self.opened.as_ref()
    }

    /// Calls `observer` with the new head after every line written (records and genesis
    /// lines), in chain order, while the trail's lock is held: it must return quickly and never
    /// block (hand the head to another thread, e.g. through a channel). One observer; a later
    /// call replaces it. This is how the app records the head outside the files.
    pub fn observe_head(&self, observer: impl Fn(&ChainHead) + Send + Sync + 'static) {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner).observer =
            Some(Box::new(observer));
    }

    /// Forces the current file to disk (`fsync`). Rotation and shutdown do this already.
    pub fn sync(&self) -> Result<(), AuditError> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner).sync()
    }
}

/// The event's detail object as JSON, for the log line.
struct DetailJson<'a>(&'a AuditEvent);

impl fmt::Display for DetailJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_value(self.0) {
            Ok(serde_json::Value::Object(mut map)) => match map.remove("detail") {
                Some(detail) => write!(f, "{detail}"),
                None => f.write_str("{}"),
            },
            _ => f.write_str("{}"),
        }
    }
}

/// A record line as serialized, in this member order, before `"hash"` is appended.
#[derive(Serialize)]
struct RecordLine<'a> {
    seq: u64,
    time: &'a str,
    #[serde(flatten)]
    event: &'a AuditEvent,
    outcome: Outcome,
    actor: &'a Actor,
    subject: Option<&'a Subject>,
    source_ip: Option<std::net::IpAddr>,
    request_id: Option<&'a RequestId>,
    prev: &'a str,
}

#[derive(Serialize)]
struct GenesisLine<'a> {
    seq: u64,
    time: &'a str,
    genesis: &'a Genesis,
    prev: &'a str,
}

struct OpenFile {
    file: File,
    path: PathBuf,
    period: String,
    len: u64,
}

type HeadObserver = Box<dyn Fn(&ChainHead) + Send + Sync>;

struct ChainWriter {
    config: AuditConfig,
    sealer: Sealer,
    /// Hex hash of the last line written.
    prev: String,
    next_seq: u64,
    next_file: u64,
    current: Option<OpenFile>,
    line: Vec<u8>,
    /// Told of every new head.
    observer: Option<HeadObserver>,
    /// Held (locked) for the writer's lifetime.
    _lock: File,
}

/// `audit-00000042-2026-11-29.jsonl` -> 42.
fn file_number(name: &str) -> Option<u64> {
    let rest = name.strip_prefix("audit-")?.strip_suffix(".jsonl")?;
    let digits = rest.split('-').next()?;
    if digits.len() < 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The audit files in `dir`, by file number.
pub(crate) fn audit_files(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else { continue };
        if let Some(n) = file_number(&name)
            && entry.file_type()?.is_file()
        {
            files.push((n, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

fn rfc3339(at: SystemTime) -> String {
    let t = OffsetDateTime::from(at);
    // Microseconds are plenty and keep lines short.
    let t = t.replace_nanosecond(t.nanosecond() / 1000 * 1000).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_else(|_| format!("{}s", t.unix_timestamp()))
}

impl ChainWriter {
    fn open(config: AuditConfig, sealer: Sealer) -> Result<Self, AuditError> {
        let dir_err = |e: std::io::Error| AuditError::Directory {
            dir: config.dir.clone(),
            reason: e.to_string(),
        };
        owner_only::create_dir_all(&config.dir).map_err(dir_err)?;
        let lock =
            owner_only::open_append(&config.dir.join("audit.lock"), false).map_err(dir_err)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(AuditError::InUse { dir: config.dir.clone() });
            }
            Err(TryLockError::Error(e)) => return Err(dir_err(e)),
        }

        let files = audit_files(&config.dir).map_err(dir_err)?;
        let next_file = files.last().map_or(0, |(n, _)| n + 1);
        // Continue from the last complete line of the newest file that has one. A newest file
        // whose last line is damaged is passed over; the chain then forks there, and `verify`
        // reports the damaged line, which is the finding that matters.
        let mut prev = ZERO_HASH.to_owned();
        let mut next_seq = 1;
        for (_, path) in files.iter().rev() {
            if let Some((seq, hash)) = last_complete_line(path)? {
                prev = hash;
                next_seq = seq + 1;
                break;
            }
        }
        Ok(Self {
            config,
            sealer,
            prev,
            next_seq,
            next_file,
            current: None,
            line: Vec::with_capacity(1024),
            observer: None,
            _lock: lock,
        })
    }

    fn append(&mut self, now: SystemTime, record: &AuditRecord) -> Result<u64, AuditError> {
        let period = self.config.rotation.period(now);
        let roll = match &self.current {
            None => true,
            Some(cur) => cur.period != period || cur.len >= self.config.max_file_bytes,
        };
        let time = rfc3339(now);
        if roll {
            self.start_file(&time, period, now)?;
        }
        let line = RecordLine {
            seq: self.next_seq,
            time: &time,
            event: &record.event,
            outcome: record.event.outcome(),
            actor: &record.actor,
            subject: record.subject.as_ref(),
            source_ip: record.source_ip,
            request_id: record.request_id.as_ref(),
            prev: &self.prev,
        };
        self.line.clear();
        serialize_open(&mut self.line, &line);
        self.write_line()
    }

    /// Opens the next file and writes its genesis line.
    fn start_file(
        &mut self,
        time: &str,
        period: String,
        now: SystemTime,
    ) -> Result<(), AuditError> {
        if let Some(old) = self.current.take() {
            // Best effort: the old file's lines were all written; this makes them durable.
            let _ = old.file.sync_data();
        }
        let day = Rotation::Daily.period(now);
        let path = self.config.dir.join(format!("audit-{:08}-{day}.jsonl", self.next_file));
        let file = owner_only::open_append(&path, true)
            .map_err(|e| AuditError::File { path: path.clone(), reason: e.to_string() })?;
        let genesis = Genesis {
            format: FORMAT,
            alg: self.sealer.alg().to_owned(),
            instance: self.config.instance.clone(),
            file: self.next_file,
        };
        self.next_file += 1;
        self.current = Some(OpenFile { file, path, period, len: 0 });
        let line = GenesisLine { seq: self.next_seq, time, genesis: &genesis, prev: &self.prev };
        self.line.clear();
        serialize_open(&mut self.line, &line);
        self.write_line().map(|_| ())
    }

    /// Seals the object in `self.line` (missing its closing brace), writes it as one line and
    /// advances the chain.
    fn write_line(&mut self) -> Result<u64, AuditError> {
        let tag = self.sealer.seal(&self.line);
        chain::finish_line(&mut self.line, &tag);
        let Some(cur) = self.current.as_mut() else {
            return Err(AuditError::File {
                path: self.config.dir.clone(),
                reason: "no file".into(),
            });
        };
        if let Err(e) = cur.file.write_all(&self.line) {
            let path = cur.path.clone();
            // The file may now end in a partial line; the next record starts a new file so
            // the chain goes on, and the verifier will point at the damage.
            self.current = None;
            return Err(AuditError::File { path, reason: e.to_string() });
        }
        cur.len += u64::try_from(self.line.len()).unwrap_or(u64::MAX);
        self.prev = hex::encode(tag);
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(observer) = &self.observer {
            observer(&ChainHead { seq, hash: self.prev.clone() });
        }
        Ok(seq)
    }

    fn head(&self) -> Option<ChainHead> {
        (self.next_seq > 1).then(|| ChainHead { seq: self.next_seq - 1, hash: self.prev.clone() })
    }

    fn sync(&self) -> Result<(), AuditError> {
        match &self.current {
            Some(cur) => cur
                .file
                .sync_data()
                .map_err(|e| AuditError::File { path: cur.path.clone(), reason: e.to_string() }),
            None => Ok(()),
        }
    }
}

impl Drop for ChainWriter {
    fn drop(&mut self) {
        let _ = self.sync();
    }
}

/// Serializes `value` as a JSON object into `out` and removes its closing brace, ready for
/// the hash member.
fn serialize_open<T: Serialize>(out: &mut Vec<u8>, value: &T) {
    // Our types always serialize (no maps with non-string keys, no failing impls).
    if serde_json::to_writer(&mut *out, value).is_ok() && out.last() == Some(&b'}') {
        out.pop();
    }
}

/// The sequence number and hash of the last newline-terminated line of `path`, if any.
pub(crate) fn last_complete_line(path: &Path) -> Result<Option<(u64, String)>, AuditError> {
    let err =
        |e: std::io::Error| AuditError::File { path: path.to_path_buf(), reason: e.to_string() };
    let mut file = File::open(path).map_err(err)?;
    let len = file.metadata().map_err(err)?.len();
    // Lines are far shorter than this; reading the tail keeps start-up fast with big files.
    let start = len.saturating_sub(64 * 1024);
    file.seek(SeekFrom::Start(start)).map_err(err)?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).map_err(err)?;
    let Some(end) = tail.iter().rposition(|&b| b == b'\n') else { return Ok(None) };
    let begin = tail[..end].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = &tail[begin..end];
    let parsed = chain::split_line(line)
        .and_then(|(body, tag)| LineHead::parse(body).map(|head| (head.seq, hex::encode(tag))));
    Ok(parsed)
}
