//! Rolling files: a new file each UTC hour or day, and whenever a file would grow past its size
//! limit; the oldest deleted once more than N exist. Files and folders are private to the owner.
//!
//! `tracing-appender`'s own roller (0.2.5) rotates by time only, so the log file uses this one,
//! still behind `tracing-appender`'s non-blocking writer. The audit writer reuses the periods
//! and the private file helpers, but names and never deletes its own files.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use time::OffsetDateTime;

use crate::clock::Clock;

/// When a new file is started, besides reaching the size limit. Periods are UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Rotation {
    /// At the start of each UTC hour.
    Hourly,
    /// At each UTC midnight.
    #[default]
    Daily,
    /// Only when the size limit is reached.
    Never,
}

impl Rotation {
    /// The name of the period `at` falls in: `2026-11-29`, `2026-11-29T13`, or empty for
    /// [`Rotation::Never`]. These sort in time order as text.
    pub(crate) fn period(self, at: SystemTime) -> String {
        let t = OffsetDateTime::from(at);
        let (y, m, d) = (t.year(), u8::from(t.month()), t.day());
        match self {
            Self::Hourly => format!("{y:04}-{m:02}-{d:02}T{:02}", t.hour()),
            Self::Daily => format!("{y:04}-{m:02}-{d:02}"),
            Self::Never => String::new(),
        }
    }
}

/// A file log split by time and size, keeping the newest `max_files` files.
///
/// File names: `{prefix}.{period}.{suffix}`, then `{prefix}.{period}.1.{suffix}`, `.2`, ... when
/// a period outgrows the size limit (`{prefix}.{suffix}` and `{prefix}.1.{suffix}` with
/// [`Rotation::Never`]).
#[derive(Debug)]
pub(crate) struct RollingFile {
    dir: PathBuf,
    prefix: String,
    suffix: String,
    rotation: Rotation,
    max_bytes: u64,
    max_files: usize,
    clock: Arc<dyn Clock>,
    current: Option<Current>,
}

#[derive(Debug)]
struct Current {
    file: File,
    name: String,
    period: String,
    index: u64,
    len: u64,
}

impl RollingFile {
    /// A roller writing into `dir` (created private if missing). No file is opened until the
    /// first write.
    pub(crate) fn new(
        dir: &Path,
        prefix: &str,
        suffix: &str,
        rotation: Rotation,
        max_bytes: u64,
        max_files: usize,
        clock: Arc<dyn Clock>,
    ) -> io::Result<Self> {
        // Owner-only: log lines name users and addresses, which other local accounts have no
        // business reading.
        crate::owner_only::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
            rotation,
            max_bytes: max_bytes.max(1),
            max_files: max_files.max(1),
            clock,
            current: None,
        })
    }

    fn file_name(&self, period: &str, index: u64) -> String {
        let (p, s) = (&self.prefix, &self.suffix);
        match (period.is_empty(), index) {
            (true, 0) => format!("{p}.{s}"),
            (true, n) => format!("{p}.{n}.{s}"),
            (false, 0) => format!("{p}.{period}.{s}"),
            (false, n) => format!("{p}.{period}.{n}.{s}"),
        }
    }

    /// `(period, index)` of one of our file names, `None` for any other file.
    fn parse_name(&self, name: &str) -> Option<(String, u64)> {
        let middle = name
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix('.')?
            .strip_suffix(self.suffix.as_str())?;
        if middle.is_empty() {
            return Some((String::new(), 0));
        }
        let middle = middle.strip_suffix('.')?;
        match middle.rsplit_once('.') {
            Some((period, n)) => Some((period.to_owned(), n.parse().ok()?)),
            None => match middle.parse::<u64>() {
                Ok(n) if self.rotation == Rotation::Never => Some((String::new(), n)),
                _ => Some((middle.to_owned(), 0)),
            },
        }
    }

    /// Our files in the folder, oldest first.
    fn existing(&self) -> io::Result<Vec<(String, u64, String)>> {
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            let Ok(name) = entry.file_name().into_string() else { continue };
            if let Some((period, index)) = self.parse_name(&name) {
                found.push((period, index, name));
            }
        }
        found.sort();
        Ok(found)
    }

    /// Opens the file for `period`: the last one of that period if it has room, else the next.
    fn open_for(&mut self, period: String, incoming: u64) -> io::Result<()> {
        let last_index =
            self.existing()?.into_iter().filter(|(p, _, _)| *p == period).map(|(_, i, _)| i).max();
        let mut index = match (&self.current, last_index) {
            // Size rollover within the period: always move on.
            (Some(cur), Some(last)) if cur.period == period => last.max(cur.index) + 1,
            (_, Some(last)) => last,
            (_, None) => 0,
        };
        loop {
            let name = self.file_name(&period, index);
            let path = self.dir.join(&name);
            let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            if len > 0 && len + incoming > self.max_bytes {
                index += 1;
                continue;
            }
            let file = crate::owner_only::open_append(&path, false)?;
            if let Some(mut old) = self.current.take() {
                old.file.flush()?;
            }
            self.current = Some(Current { file, name, period, index, len });
            break;
        }
        self.prune()
    }

    /// Deletes the oldest files beyond `max_files`, never the one being written.
    fn prune(&self) -> io::Result<()> {
        let files = self.existing()?;
        let excess = files.len().saturating_sub(self.max_files);
        let current = self.current.as_ref().map(|c| c.name.as_str());
        for (_, _, name) in files.iter().take(excess) {
            if Some(name.as_str()) != current {
                fs::remove_file(self.dir.join(name))?;
            }
        }
        Ok(())
    }
}

impl Write for RollingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let period = self.rotation.period(self.clock.now());
        let incoming = u64::try_from(buf.len()).unwrap_or(u64::MAX);
        let roll = match &self.current {
            None => true,
            Some(cur) => {
                cur.period != period || (cur.len > 0 && cur.len + incoming > self.max_bytes)
            }
        };
        if roll {
            self.open_for(period, incoming)?;
        }
        let Some(cur) = self.current.as_mut() else {
            return Err(io::Error::other("no log file open"));
        };
        // One event arrives as one buffer; writing it whole keeps lines intact.
        cur.file.write_all(buf)?;
        cur.len += incoming;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.current.as_mut() {
            Some(cur) => cur.file.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use std::time::Duration;

    use super::*;
    use crate::clock::ManualClock;

    /// 2026-11-29T23:00:00Z.
    fn late_evening() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_993_200)
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn periods_are_utc_and_sort_as_text() {
        assert_eq!(Rotation::Daily.period(late_evening()), "2026-11-29");
        assert_eq!(Rotation::Hourly.period(late_evening()), "2026-11-29T23");
        assert_eq!(Rotation::Never.period(late_evening()), "");
        let next = late_evening() + Duration::from_secs(3600);
        assert_eq!(Rotation::Daily.period(next), "2026-11-30");
        assert!(Rotation::Hourly.period(late_evening()) < Rotation::Hourly.period(next));
    }

    #[test]
    fn a_new_day_starts_a_new_file_and_a_full_file_continues_in_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(late_evening()));
        let mut log =
            RollingFile::new(dir.path(), "server", "log", Rotation::Daily, 20, 10, clock.clone())
                .unwrap();
        log.write_all(b"first line 123\n").unwrap();
        log.write_all(b"second line 12\n").unwrap(); // 30 bytes > 20: next file
        clock.advance(Duration::from_secs(3600));
        log.write_all(b"next day\n").unwrap();
        log.flush().unwrap();
        assert_eq!(
            names(dir.path()),
            ["server.2026-11-29.1.log", "server.2026-11-29.log", "server.2026-11-30.log"]
        );
        let read = |n: &str| fs::read_to_string(dir.path().join(n)).unwrap();
        assert_eq!(read("server.2026-11-29.log"), "first line 123\n");
        assert_eq!(read("server.2026-11-29.1.log"), "second line 12\n");
        assert_eq!(read("server.2026-11-30.log"), "next day\n");
    }

    #[test]
    fn only_the_newest_files_are_kept_and_other_files_are_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let clock = Arc::new(ManualClock::new(late_evening()));
        let mut log =
            RollingFile::new(dir.path(), "server", "log", Rotation::Hourly, 1000, 2, clock.clone())
                .unwrap();
        for hour in 0..4 {
            log.write_all(format!("hour {hour}\n").as_bytes()).unwrap();
            clock.advance(Duration::from_secs(3600));
        }
        assert_eq!(
            names(dir.path()),
            ["notes.txt", "server.2026-11-30T01.log", "server.2026-11-30T02.log"]
        );
    }

    #[test]
    fn a_restart_appends_to_the_file_of_the_current_period() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(late_evening()));
        for run in 0..2 {
            let mut log = RollingFile::new(
                dir.path(),
                "server",
                "log",
                Rotation::Never,
                1000,
                5,
                clock.clone(),
            )
            .unwrap();
            log.write_all(format!("run {run}\n").as_bytes()).unwrap();
        }
        assert_eq!(names(dir.path()), ["server.log"]);
        assert_eq!(fs::read_to_string(dir.path().join("server.log")).unwrap(), "run 0\nrun 1\n");
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private_to_the_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/log");
        let clock = Arc::new(ManualClock::new(late_evening()));
        let mut log =
            RollingFile::new(&sub, "server", "log", Rotation::Never, 1000, 5, clock).unwrap();
        log.write_all(b"x\n").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&sub), 0o700);
        assert_eq!(mode(&sub.join("server.log")), 0o600);
    }
}
