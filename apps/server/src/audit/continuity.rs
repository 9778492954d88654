//! The audit chain's head outside the files: every writer of the trail (the server, and the
//! commands that record events) compares the folder with the head recorded in the database
//! before it writes, and records the new head after. See docs/audit.md, "The head outside the
//! files".
//!
//! - **Compare** ([`settle`]): the folder must still hold the recorded line, sealed as recorded
//!   ([`sec_audit::check_continuity`]). If it does not (newest lines cut, folder deleted or
//!   replaced), production refuses to run and writes nothing (the finding goes to the log
//!   stream); development and test record an `AuditTrailDiscontinuity` in the chain as the
//!   folder holds it, warn and carry on; `server audit acknowledge` records one and accepts the
//!   folder as it is. Accepting makes the folder's head the recorded one.
//! - **Record**: the server writes the head at most once a second while it runs ([`Recorder`])
//!   and once more after `ServerStopped`; a command writes it when it is done ([`record`]).
//!   Heads only move forward. A crash can therefore lose the last second of heads: lines
//!   written in that second and cut before the restart are not noticed.
//!
//! Until the comparison has been made, the server is not ready: a database that is down at
//! start-up delays it (`/readyz` answers 503 and the server retries), it does not stop the
//! server; a discontinuity found then stops a production server as it would have at start-up.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use sec_audit::{
    Actor, AuditEvent, AuditRecord, AuditTrail, ChainHead, ChainKey, Continuity,
    DiscontinuityFinding, DiscontinuityResolution,
};
use sec_config::{AppEnv, Settings};
use tokio::sync::watch;

use super::AuditSetupError;
use crate::db::{Db, DbError, audit_heads};

/// The server writes its head at most this often.
const WRITE_EVERY: Duration = Duration::from_secs(1);

/// How long the server waits between comparisons while the database cannot be reached.
const RETRY_EVERY: Duration = Duration::from_secs(2);

/// What a writer needs to compare and record: the trail's name, the chain key, and whether
/// this is production.
#[derive(Clone)]
pub struct Anchor {
    trail: String,
    key: ChainKey,
    production: bool,
}

impl fmt::Debug for Anchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Anchor")
            .field("trail", &self.trail)
            .field("production", &self.production)
            .finish_non_exhaustive()
    }
}

impl Anchor {
    /// The anchor of the trail `settings` configure: its name ([`trail_name`]), the key it is
    /// written with.
    pub fn from_settings(settings: &Settings) -> Result<Self, AuditSetupError> {
        Ok(Self {
            trail: trail_name(settings),
            key: super::writing_key(settings)?,
            production: settings.env() == AppEnv::Production,
        })
    }

    /// The trail's name, under which its head is recorded.
    pub fn trail(&self) -> &str {
        &self.trail
    }
}

/// The name the configured trail's head is recorded under: `host:folder`, the host name (as in
/// the genesis lines) and the audit folder's absolute path. Each writer has a folder of its own
/// (the folder's lock file sees to that), so two servers on one host, or two pods, never share
/// a name; a folder deleted and made again at the same path keeps it.
pub fn trail_name(settings: &Settings) -> String {
    let dir = super::dir(settings);
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    format!("{}:{}", super::instance_name(), dir.display())
}

/// `server audit acknowledge`: opens the configured trail and database (applying migrations
/// where the settings say so), and accepts whatever gap there is.
pub fn acknowledge(settings: &Settings) -> anyhow::Result<Settled> {
    use anyhow::Context as _;
    let db = Db::for_command(settings.database()).context("cannot open the database")?;
    if settings.database().migrate_on_start() {
        db.migrate().context("migrations failed")?;
    }
    let trail = super::open(settings).context("cannot open the audit trail")?;
    let anchor = Anchor::from_settings(settings)?;
    Ok(settle(&anchor, &db, &trail, Purpose::Acknowledge)?)
}

/// Opens the configured trail for a command that records events (`server users ...`), after
/// comparing it with the recorded head as the server does; call [`record`] when done.
pub fn open_for_command(settings: &Settings, db: &Db) -> anyhow::Result<(AuditTrail, Anchor)> {
    use anyhow::Context as _;
    let trail = super::open(settings).context("cannot open the audit trail")?;
    let anchor = Anchor::from_settings(settings)?;
    settle(&anchor, db, &trail, Purpose::Write)?;
    Ok((trail, anchor))
}

/// The folder does not continue the recorded head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The audit folder.
    pub dir: PathBuf,
    /// What it lacks.
    pub finding: DiscontinuityFinding,
    /// The recorded head's sequence number.
    pub recorded_seq: u64,
    /// The folder's last line (0: none).
    pub found_seq: u64,
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.finding {
            DiscontinuityFinding::Missing => {
                "lacks it (lines cut from the end, or the folder deleted)"
            }
            _ => "holds another line under its number (the trail was replaced)",
        };
        write!(
            f,
            "the audit folder {} does not continue the chain recorded in the database: the \
             recorded head is line {}, and the folder, which ends at line {}, {what}",
            self.dir.display(),
            self.recorded_seq,
            self.found_seq,
        )
    }
}

/// Comparing or recording failed, or production found a gap.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContinuityError {
    /// The recorded head could not be read or written.
    #[error("cannot read or write the recorded audit chain head: {0}")]
    Database(#[from] DbError),
    /// The folder could not be read, or the discontinuity record not written.
    #[error(transparent)]
    Trail(#[from] AuditSetupError),
    /// Production found a gap and refuses to write on.
    #[error(
        "{0}. Refusing to run: find out what happened to the audit files (restore them from a \
         backup if they were lost), then run `server audit acknowledge` to accept the folder as \
         it is; that is recorded in the audit trail"
    )]
    Refused(Gap),
}

/// Why [`settle`] is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Before writing: production refuses on a gap, elsewhere it is noted and accepted.
    Write,
    /// `server audit acknowledge`: a gap is noted and accepted in every environment.
    Acknowledge,
}

/// What [`settle`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// No head was recorded for this trail (its first run, or a head removed by
    /// housekeeping after a long silence); the folder's head is recorded from now on.
    FirstRecord,
    /// The folder holds the recorded head.
    Continuous,
    /// A gap, recorded in the trail and accepted as the resolution says.
    Accepted(Gap, DiscontinuityResolution),
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Compares `trail`'s folder with the head recorded for `anchor`'s trail name, deals with a gap
/// as `purpose` and the environment say, and records the trail's head. Blocking (database and
/// file reads): call it from a blocking thread.
pub fn settle(
    anchor: &Anchor,
    db: &Db,
    trail: &AuditTrail,
    purpose: Purpose,
) -> Result<Settled, ContinuityError> {
    let name = anchor.trail.clone();
    let Some(recorded) = db.run_blocking(|c| audit_heads::recorded(c, &name))? else {
        record(anchor, db, trail)?;
        return Ok(Settled::FirstRecord);
    };
    // Against the folder as it was opened: what this trail wrote since (a server that could
    // only compare once the database answered) does not count.
    let opened_seq = trail.opened_head().map(|h| h.seq);
    let continuity = if opened_seq.is_none_or(|seq| seq < recorded.seq) {
        Continuity::Missing { last_seq: opened_seq }
    } else {
        sec_audit::check_continuity(trail.dir(), Some(&anchor.key), &recorded)
            .map_err(AuditSetupError::from)?
    };
    let finding = match continuity {
        Continuity::Continuous => {
            record(anchor, db, trail)?;
            return Ok(Settled::Continuous);
        }
        Continuity::Missing { .. } => DiscontinuityFinding::Missing,
        Continuity::Replaced { .. } => DiscontinuityFinding::Replaced,
    };
    let gap = Gap {
        dir: trail.dir().to_path_buf(),
        finding,
        recorded_seq: recorded.seq,
        found_seq: opened_seq.unwrap_or(0),
    };
    let resolution = match purpose {
        Purpose::Acknowledge => DiscontinuityResolution::Acknowledged,
        // Production writes nothing into a trail it cannot vouch for: the finding goes to the
        // log stream, and the folder stays as it was found until an operator acknowledges it.
        Purpose::Write if anchor.production => {
            tracing::error!(target: "audit", trail = %anchor.trail, "{gap}; refusing to run");
            return Err(ContinuityError::Refused(gap));
        }
        Purpose::Write => DiscontinuityResolution::Continued,
    };
    let event = AuditEvent::AuditTrailDiscontinuity {
        finding,
        recorded_seq: gap.recorded_seq,
        found_seq: gap.found_seq,
        resolution,
    };
    trail.emit(&AuditRecord::new(event, Actor::System)).map_err(AuditSetupError::from)?;
    // The folder's chain is the one that counts from now on, even if it is shorter.
    if let Some(head) = trail.head() {
        db.run_blocking(|c| audit_heads::replace(c, &name, &head, now()))?;
    }
    tracing::warn!(trail = %anchor.trail, ?resolution, "{gap}; accepted");
    Ok(Settled::Accepted(gap, resolution))
}

/// Records `trail`'s head under `anchor`'s trail name (if it moved forward). Blocking.
pub fn record(anchor: &Anchor, db: &Db, trail: &AuditTrail) -> Result<(), ContinuityError> {
    if let Some(head) = trail.head() {
        db.run_blocking(|c| audit_heads::advance(c, &anchor.trail, &head, now()))?;
    }
    Ok(())
}

/// The server's side: compares at start-up (or, while the database is down, as soon as it
/// answers), then records the head as lines are written.
#[derive(Clone)]
pub struct Recorder {
    anchor: Anchor,
    db: Db,
    trail: AuditTrail,
    state: Arc<RecorderState>,
    heads: watch::Receiver<Option<ChainHead>>,
}

#[derive(Default)]
struct RecorderState {
    /// The comparison was made (and any gap accepted): heads may be recorded.
    confirmed: AtomicBool,
    /// Production found a gap after start-up and stopped the server.
    refused: Mutex<Option<Gap>>,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("anchor", &self.anchor)
            .field("confirmed", &self.is_confirmed())
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// Makes the recorder and has `trail` report every new head to it.
    pub fn new(anchor: Anchor, db: Db, trail: AuditTrail) -> Self {
        let (sender, heads) = watch::channel(trail.head());
        trail.observe_head(move |head| {
            sender.send_if_modified(|latest| {
                let newer = latest.as_ref().is_none_or(|l| head.seq > l.seq);
                if newer {
                    *latest = Some(head.clone());
                }
                newer
            });
        });
        Self { anchor, db, trail, state: Arc::default(), heads }
    }

    /// Compares once. `Err(Refused)` stops a production start; `Err(Database)` leaves the
    /// server unconfirmed (not ready) until [`Recorder::spawn`]'s retries succeed.
    pub async fn settle(&self) -> Result<Settled, ContinuityError> {
        let (anchor, db, trail) = (self.anchor.clone(), self.db.clone(), self.trail.clone());
        let settled = crate::blocking::run(move || settle(&anchor, &db, &trail, Purpose::Write))
            .await
            .map_err(|_| ContinuityError::Database(DbError::TaskFailed))??;
        self.state.confirmed.store(true, Ordering::Release);
        Ok(settled)
    }

    /// Whether the comparison has been made; until then the server is not ready.
    pub fn is_confirmed(&self) -> bool {
        self.state.confirmed.load(Ordering::Acquire)
    }

    /// The gap that made production stop the server after start-up, if one did.
    pub fn refused(&self) -> Option<Gap> {
        self.state.refused.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Starts the task that compares (if start-up could not) and then records new heads, until
    /// `stop` changes or is dropped. A gap found by a late comparison in production stops the
    /// server through `server`.
    ///
    /// Await the returned handle after signalling `stop`: the task holds the trail, and with it
    /// the folder's lock, until it ends.
    pub fn spawn(
        &self,
        server: ServerHandle,
        mut stop: watch::Receiver<()>,
    ) -> actix_web::rt::task::JoinHandle<()> {
        let recorder = self.clone();
        actix_web::rt::spawn(async move {
            while !recorder.is_confirmed() {
                tokio::select! {
                    _ = stop.changed() => return,
                    () = actix_web::rt::time::sleep(RETRY_EVERY) => {}
                }
                match recorder.settle().await {
                    Ok(_) => tracing::info!("audit trail compared with its recorded head"),
                    Err(ContinuityError::Refused(gap)) => {
                        *recorder.state.refused.lock().unwrap_or_else(PoisonError::into_inner) =
                            Some(gap);
                        server.stop(false).await;
                        return;
                    }
                    Err(e) => tracing::debug!(error = %e, "audit head comparison postponed"),
                }
            }
            let mut heads = recorder.heads.clone();
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    changed = heads.changed() => if changed.is_err() { return },
                }
                let head = heads.borrow_and_update().clone();
                if let Some(head) = head {
                    let name = recorder.anchor.trail.clone();
                    let written = recorder
                        .db
                        .run(move |c| audit_heads::advance(c, &name, &head, now()))
                        .await;
                    if let Err(e) = written {
                        tracing::warn!(error = %e, "could not record the audit chain head");
                    }
                }
                tokio::select! {
                    _ = stop.changed() => return,
                    () = actix_web::rt::time::sleep(WRITE_EVERY) => {}
                }
            }
        })
    }

    /// Records the trail's current head now (after `ServerStopped`), if the comparison was
    /// made.
    pub async fn record_now(&self) -> Result<(), ContinuityError> {
        if !self.is_confirmed() {
            return Ok(());
        }
        let (anchor, db, trail) = (self.anchor.clone(), self.db.clone(), self.trail.clone());
        crate::blocking::run(move || record(&anchor, &db, &trail))
            .await
            .map_err(|_| ContinuityError::Database(DbError::TaskFailed))?
    }
}
