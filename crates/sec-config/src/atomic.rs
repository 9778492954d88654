//! Crash-safe file writes: a file is either its old content or its new content, never half of
//! one, and a new file never overwrites an existing one by accident.
//!
//! The sequence is the classic one: write a temporary file in the *same* directory (a rename
//! across file systems is not atomic), `fsync` it, rename it over the target, then `fsync` the
//! directory so the rename itself survives a power cut. Tests inject a failure between the
//! steps through a [`WriteHook`] instead of crashing a process.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A point in the write sequence where a test may inject a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteStage {
    /// The temporary file is written and synced; the target is untouched.
    TempWritten,
}

/// Called at each [`WriteStage`]; an error aborts the write there.
pub(crate) type WriteHook<'a> = &'a mut dyn FnMut(WriteStage) -> io::Result<()>;

/// Replaces `path` with `contents` atomically; the file gets `mode` (Unix permission bits).
pub(crate) fn replace(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    replace_with_hook(path, contents, mode, &mut |_| Ok(()))
}

/// [`replace`], calling `hook` between the steps.
pub(crate) fn replace_with_hook(
    path: &Path,
    contents: &[u8],
    mode: u32,
    hook: WriteHook<'_>,
) -> io::Result<()> {
    let temp = write_temp(path, contents, mode)?;
    let result = hook(WriteStage::TempWritten).and_then(|()| fs::rename(&temp, path));
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    sync_dir(path)
}

/// Writes `contents` to `path`, which must not exist yet, atomically: the file appears
/// complete or not at all, and an existing file is never replaced (`AlreadyExists`).
pub(crate) fn create_new(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let temp = write_temp(path, contents, mode)?;
    // A hard link fails if the target exists, where a rename would silently replace it.
    let linked = fs::hard_link(&temp, path);
    let _ = fs::remove_file(&temp);
    linked?;
    sync_dir(path)
}

fn write_temp(path: &Path, contents: &[u8], mode: u32) -> io::Result<PathBuf> {
    let dir = parent_dir(path);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut suffix = [0u8; 8];
    sec_core::fill_random(&mut suffix).map_err(|e| io::Error::other(e.to_string()))?;
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let temp = dir.join(format!(".{name}.{suffix}.tmp"));

    let mut options = sec_audit::owner_only::options_with_mode(mode);
    options.write(true).create_new(true);
    let mut file = options.open(&temp)?;
    let written = file.write_all(contents).and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    Ok(temp)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn sync_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(parent_dir(path))?.sync_all()?;
    #[cfg(not(unix))]
    let _ = (path, File::open);
    Ok(())
}

// The mode checks are the owner-only helper's, named here for this crate's many callers.
pub(crate) use sec_audit::owner_only::{is_owner_only, mode_of};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_failure_between_temp_write_and_rename_leaves_the_original_intact() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("secrets.production.enc");
        fs::write(&target, b"original").unwrap();
        let mut seen = Vec::new();
        let err = replace_with_hook(&target, b"replacement", 0o600, &mut |stage| {
            seen.push(stage);
            Err(io::Error::other("simulated crash"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "simulated crash");
        assert_eq!(seen, [WriteStage::TempWritten]);
        assert_eq!(fs::read(&target).unwrap(), b"original");
        assert_eq!(leftovers(dir.path()), ["secrets.production.enc"], "temp file cleaned up");
    }

    #[test]
    fn replace_writes_the_new_content_with_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("f");
        fs::write(&target, b"old").unwrap();
        replace(&target, b"new", 0o600).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        #[cfg(unix)]
        assert_eq!(mode_of(&target).unwrap(), Some(0o600));
        assert_eq!(leftovers(dir.path()), ["f"]);
    }

    #[test]
    fn create_new_never_replaces_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("master.key");
        create_new(&target, b"first", 0o600).unwrap();
        let err = create_new(&target, b"second", 0o600).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&target).unwrap(), b"first");
        assert_eq!(leftovers(dir.path()), ["master.key"]);
    }
}
