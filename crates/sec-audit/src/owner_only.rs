//! Owner-only files and folders: the one place in the workspace that creates a folder with
//! mode 0700 or a file with mode 0600 (Unix; elsewhere the platform's defaults apply), for
//! everything the server writes that other local accounts must not read: logs and audit files,
//! keys, the secrets file and its scratch copy, certificates, the SQLite database.
//!
//! It lives in this crate because sec-audit is the lowest crate that may do file I/O and that
//! every writer can reach: sec-core does no I/O, and sec-audit may depend on no other `sec-*`
//! crate (docs/architecture.md).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

/// The mode of an owner-only folder.
pub const DIR_MODE: u32 = 0o700;
/// The mode of an owner-only file.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and any missing parents, readable by the owner only. An existing folder keeps
/// its mode.
///
/// # Errors
/// The folder cannot be created.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir)
}

/// Creates `dir`, which must not exist yet (its parent must), readable by the owner only: a
/// new folder is one nobody else can have opened.
///
/// # Errors
/// The folder exists already (`AlreadyExists`) or cannot be created.
pub fn create_new_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir)
}

/// Open options under which a file that gets created has `mode` (Unix permission bits, less
/// the umask; ignored elsewhere). The caller says how it opens (`write`, `append`,
/// `create_new`, ...).
pub fn options_with_mode(mode: u32) -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    options
}

/// Open options under which a file that gets created is readable and writable by the owner
/// only ([`FILE_MODE`]).
pub fn file_options() -> OpenOptions {
    options_with_mode(FILE_MODE)
}

/// Opens `path` for appending, creating it readable and writable by the owner only; with
/// `create_new`, an existing file is an error (`AlreadyExists`).
///
/// # Errors
/// The file cannot be opened or created.
pub fn open_append(path: &Path, create_new: bool) -> io::Result<File> {
    let mut options = file_options();
    options.append(true);
    if create_new {
        options.create_new(true);
    } else {
        options.create(true);
    }
    options.open(path)
}

/// Sets an open file's mode to [`FILE_MODE`] explicitly: the mode given at creation passes
/// through the umask, which may have taken bits the file needs.
///
/// # Errors
/// The mode cannot be set.
pub fn restrict(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(FILE_MODE))
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(())
    }
}

/// True when `mode` gives the group and others no access at all: what every key file must be.
pub fn is_owner_only(mode: u32) -> bool {
    mode & 0o077 == 0
}

/// The permission bits of `path` (following symlinks), or `None` where there are none.
///
/// # Errors
/// The file's metadata cannot be read.
pub fn mode_of(path: &Path) -> io::Result<Option<u32>> {
    let meta = fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Ok(Some(meta.permissions().mode() & 0o7777))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use super::*;

    #[cfg(unix)]
    #[test]
    fn what_it_creates_is_the_owners_alone() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("a/b");
        create_dir_all(&dir).unwrap();
        let fresh = dir.join("fresh");
        create_new_dir(&fresh).unwrap();
        assert_eq!(create_new_dir(&fresh).unwrap_err().kind(), io::ErrorKind::AlreadyExists);
        let file = dir.join("f");
        drop(open_append(&file, true).unwrap());
        assert!(open_append(&file, true).is_err(), "create_new refuses an existing file");
        for (path, mode) in [(&dir, DIR_MODE), (&fresh, DIR_MODE), (&file, FILE_MODE)] {
            assert_eq!(mode_of(path).unwrap(), Some(mode), "{}", path.display());
        }
        assert!(is_owner_only(0o600) && is_owner_only(0o700) && !is_owner_only(0o640));
    }
}
