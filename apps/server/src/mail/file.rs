//! The file transport of development: each message becomes one `.eml` file (RFC 5322, what a
//! mail client opens) in an owner-only folder, so `cargo run` needs no mail server and the
//! links in the mail can still be followed.
//!
//! A file appears whole or not at all: it is written under a temporary name in the same
//! folder, synced, then renamed. The folder and files are owner-only because a message holds
//! one-time links. Every failure (a full disk included) is [`SendError::Transient`]: the
//! outbox keeps the message and tries again.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use lettre::Message;
use sec_audit::owner_only;

use super::SendError;

pub(super) struct FileSink {
    dir: PathBuf,
}

impl FileSink {
    pub(super) fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf() }
    }

    pub(super) fn describe(&self) -> String {
        format!("file {}", self.dir.display())
    }

    /// Writes `message` as `<unix-millis>-<message_id>.eml` (the id is checked plain by the
    /// caller) on the blocking pool, and logs the file's name, never its content.
    pub(super) async fn write(&self, message: Message, message_id: &str) -> Result<(), SendError> {
        let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let path = self.dir.join(format!("{millis}-{message_id}.eml"));
        let bytes = message.formatted();
        let target = path.clone();
        let written = crate::blocking::run(move || write_atomically(&target, &bytes))
            .await
            .map_err(|e| SendError::Transient(format!("writing {}: {e}", path.display())))?;
        written
            .map_err(|e| SendError::Transient(format!("cannot write {}: {e}", path.display())))?;
        tracing::info!(path = %path.display(), "mail written to a file");
        Ok(())
    }
}

/// Temporary file in the same folder (a rename across file systems is not atomic), synced,
/// renamed over `path`, then the folder synced so that the rename survives a power cut.
pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    owner_only::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut options = owner_only::file_options();
        options.write(true).create_new(true);
        let mut file = options.open(&temp)?;
        // The mode given at creation passes through the umask; this one does not.
        owner_only::restrict(&file)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}
