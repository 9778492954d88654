//! The app's side of the audit trail: where its files and key live (from the settings), and the
//! records the server itself emits.
//!
//! The chain key. Production must name a key file in `log.audit_key_file`, created beforehand
//! with `server audit keygen FILE` and kept outside the log folder (for example a mounted
//! secret); the server never invents one there. Development and test create a key on first use
//! at `{log.dir}/audit.key`, 0600, next to the files it protects, which is convenient and proves
//! nothing against someone who can read that folder. When the encrypted secrets store lands,
//! the key will come from it.

pub mod continuity;

use std::path::{Path, PathBuf};

use sec_audit::{
    Actor, AuditConfig, AuditError, AuditEvent, AuditRecord, AuditTrail, ChainKey, KeyError, Label,
};
use sec_config::{AppEnv, Settings};

/// The audit trail could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditSetupError {
    /// The key file could not be read or created.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Production without a key file.
    #[error(
        "log.audit_key_file is not set; production needs a key of its own for the audit chain. \
         Create one with `server audit keygen /path/outside/the/log/dir/audit.key` and set \
         APP__LOG__AUDIT_KEY_FILE to that path"
    )]
    KeyFileNotSet,
    /// Production with a key file path that does not exist.
    #[error(
        "audit key file {} does not exist; create it with `server audit keygen {}`",
        .0.display(),
        .0.display()
    )]
    KeyFileMissing(PathBuf),
    /// The audit folder or file could not be opened or written.
    #[error(transparent)]
    Trail(#[from] AuditError),
}

/// The folder of the audit files: `{log.dir}/audit`.
pub fn dir(settings: &Settings) -> PathBuf {
    settings.log().dir().join("audit")
}

/// The key file: `log.audit_key_file`, or the development key `{log.dir}/audit.key`.
pub fn key_path(settings: &Settings) -> PathBuf {
    settings
        .log()
        .audit_key_file()
        .map_or_else(|| settings.log().dir().join("audit.key"), Path::to_path_buf)
}

/// The chain key the server writes with: read from the key file, or created there outside
/// production.
pub fn writing_key(settings: &Settings) -> Result<ChainKey, AuditSetupError> {
    let production = settings.env() == AppEnv::Production;
    if production && settings.log().audit_key_file().is_none() {
        return Err(AuditSetupError::KeyFileNotSet);
    }
    let path = key_path(settings);
    if path.exists() {
        return Ok(ChainKey::load_file(&path)?);
    }
    if production {
        return Err(AuditSetupError::KeyFileMissing(path));
    }
    let key = ChainKey::create_file(&path)?;
    tracing::info!(path = %path.display(), "created a development audit chain key");
    Ok(key)
}

/// Opens the audit trail described by `settings`.
pub fn open(settings: &Settings) -> Result<AuditTrail, AuditSetupError> {
    let key = writing_key(settings)?;
    let config = AuditConfig::new(dir(settings), &instance_name())
        .rotation(crate::telemetry::rotation(settings))
        .max_file_bytes(settings.log().max_file_bytes());
    Ok(AuditTrail::open(config, Some(&key))?)
}

/// This instance's name for genesis lines: the host name (the pod name on Kubernetes).
pub(crate) fn instance_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

/// `ServerStarted`, by the system, with this build's version.
pub fn server_started() -> AuditRecord {
    let version = Label::lossy(env!("CARGO_PKG_VERSION"));
    AuditRecord::new(AuditEvent::ServerStarted { version }, Actor::System)
}

/// `ServerStopped`, by the system.
pub fn server_stopped() -> AuditRecord {
    AuditRecord::new(AuditEvent::ServerStopped, Actor::System)
}
