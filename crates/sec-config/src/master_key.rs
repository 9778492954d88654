//! Where the master keys come from: `APP_MASTER_KEY`, `APP_MASTER_KEY_FILE`, or (development
//! only) a key generated once under `./var/`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use sec_audit::owner_only::FILE_MODE;
use secrecy::ExposeSecret;

use crate::atomic;
use crate::env::AppEnv;
use crate::keyring::{KeyError, KeyRing, MasterKey};
use crate::sources::Sources;

/// Variable holding the master keys themselves (comma-separated, newest first).
pub const MASTER_KEY_VAR: &str = "APP_MASTER_KEY";
/// Variable naming a file that holds the master keys (one per line or comma-separated).
pub const MASTER_KEY_FILE_VAR: &str = "APP_MASTER_KEY_FILE";
/// File name of the generated development key, inside the var folder.
pub const DEV_KEY_FILE: &str = "master.key";

/// Where the keys in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyOrigin {
    /// The `APP_MASTER_KEY` variable.
    Variable,
    /// The file named by `APP_MASTER_KEY_FILE`.
    File {
        /// The file.
        path: PathBuf,
        /// Its permission bits, where the platform has them.
        mode: Option<u32>,
    },
    /// The development key file under the var folder.
    DevelopmentFile {
        /// The file.
        path: PathBuf,
        /// Its permission bits, where the platform has them.
        mode: Option<u32>,
        /// True when this run created it.
        generated: bool,
    },
}

impl KeyOrigin {
    /// The key file and its mode, when the keys came from a file.
    pub fn file(&self) -> Option<(&Path, Option<u32>)> {
        match self {
            Self::Variable => None,
            Self::File { path, mode } | Self::DevelopmentFile { path, mode, .. } => {
                Some((path, *mode))
            }
        }
    }
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Variable => f.write_str(MASTER_KEY_VAR),
            Self::File { path, .. } => write!(f, "{MASTER_KEY_FILE_VAR}={}", path.display()),
            Self::DevelopmentFile { path, .. } => {
                write!(f, "development key file {}", path.display())
            }
        }
    }
}

/// The master keys in use and where they came from.
#[derive(Debug, Clone)]
pub struct MasterKeys {
    ring: KeyRing,
    origin: KeyOrigin,
}

/// The master keys could not be loaded. Messages name the variable or file, never a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MasterKeyError {
    /// Both variables are set; which one wins would be a guess.
    #[error("both {MASTER_KEY_VAR} and {MASTER_KEY_FILE_VAR} are set: keep one")]
    BothSet,
    /// A variable or file holds something that is not a key list.
    #[error("{origin}: {source}")]
    Invalid {
        /// The variable or file.
        origin: String,
        /// What is wrong.
        source: KeyError,
    },
    /// The key file cannot be read.
    #[error("{}: cannot read: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The development key could not be created.
    #[error("cannot create the development key {}: {source}", path.display())]
    CannotCreate {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

impl MasterKeyError {
    /// The variable the error is about, for [`crate::Problem`] keys.
    pub fn variable(&self) -> &'static str {
        match self {
            Self::BothSet | Self::Invalid { .. } => MASTER_KEY_VAR,
            Self::Unreadable { .. } => MASTER_KEY_FILE_VAR,
            Self::CannotCreate { .. } => MASTER_KEY_VAR,
        }
    }
}

impl MasterKeys {
    /// Loads the keys the sources name: `APP_MASTER_KEY`, else `APP_MASTER_KEY_FILE`, else in
    /// development the key under the var folder (generated on first use when the sources
    /// have a var folder and are not [read-only](Sources::set_read_only)). `Ok(None)` means no
    /// key is configured.
    ///
    /// File permissions are read here and judged by the deploy rules (a key file open to the
    /// group or others is refused in every environment).
    pub fn load(sources: &Sources, env: AppEnv) -> Result<Option<Self>, MasterKeyError> {
        let var = sources.var(MASTER_KEY_VAR).filter(|v| !v.trim().is_empty());
        let file = sources.var(MASTER_KEY_FILE_VAR).filter(|v| !v.trim().is_empty());
        match (var, file) {
            (Some(_), Some(_)) => Err(MasterKeyError::BothSet),
            (Some(text), None) => {
                let ring = KeyRing::parse_list(text).map_err(|source| MasterKeyError::Invalid {
                    origin: MASTER_KEY_VAR.to_owned(),
                    source,
                })?;
                Ok(Some(Self { ring, origin: KeyOrigin::Variable }))
            }
            (None, Some(path)) => {
                let path = PathBuf::from(path);
                let (ring, mode) = read_key_file(&path)?;
                Ok(Some(Self { ring, origin: KeyOrigin::File { path, mode } }))
            }
            (None, None) if env == AppEnv::Development => {
                let Some(var_dir) = sources.var_dir() else { return Ok(None) };
                let path = var_dir.join(DEV_KEY_FILE);
                if sources.read_only() && !path.exists() {
                    return Ok(None);
                }
                development_key(&path).map(Some)
            }
            (None, None) => Ok(None),
        }
    }

    /// Keys given directly (tests, or a tool that already holds them).
    pub fn new(ring: KeyRing, origin: KeyOrigin) -> Self {
        Self { ring, origin }
    }

    /// The keys, newest first.
    pub fn ring(&self) -> &KeyRing {
        &self.ring
    }

    /// Where they came from.
    pub fn origin(&self) -> &KeyOrigin {
        &self.origin
    }

    /// Writes `ring` as a key file readable by its owner only (0600), atomically: with
    /// `replace` an existing file is replaced (the development key file after a rotation),
    /// otherwise an existing file is an error (`AlreadyExists`) and left alone.
    pub fn write_key_file(path: &Path, ring: &KeyRing, replace: bool) -> io::Result<()> {
        let text = ring.to_key_file();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
            sec_audit::owner_only::create_dir_all(dir)?;
        }
        if replace {
            atomic::replace(path, text.expose_secret().as_bytes(), FILE_MODE)
        } else {
            atomic::create_new(path, text.expose_secret().as_bytes(), FILE_MODE)
        }
    }

    /// True when the keys are (or include) a development key: generated under the var
    /// folder, or marked `dev:`.
    pub fn is_development(&self) -> bool {
        matches!(self.origin, KeyOrigin::DevelopmentFile { .. }) || self.ring.has_development_key()
    }
}

/// A key ring from a file that only its owner may read (a key readable by the group or others
/// is refused in every environment). The error names the file, never a key.
pub(crate) fn read_owner_only_key_file(path: &Path) -> Result<KeyRing, String> {
    let (ring, mode) = read_key_file(path).map_err(|e| e.to_string())?;
    match mode {
        Some(mode) if !atomic::is_owner_only(mode) => Err(format!(
            "{} is readable by others (mode {mode:04o}): make it owner-only (0400 or 0600)",
            path.display()
        )),
        _ => Ok(ring),
    }
}

fn read_key_file(path: &Path) -> Result<(KeyRing, Option<u32>), MasterKeyError> {
    let unreadable = |source| MasterKeyError::Unreadable { path: path.to_path_buf(), source };
    let mode = atomic::mode_of(path).map_err(unreadable)?;
    let text = secrecy::SecretString::from(std::fs::read_to_string(path).map_err(unreadable)?);
    let ring = KeyRing::parse_list(text.expose_secret())
        .map_err(|source| MasterKeyError::Invalid { origin: path.display().to_string(), source })?;
    Ok((ring, mode))
}

fn development_key(path: &Path) -> Result<MasterKeys, MasterKeyError> {
    let (ring, mode, generated) = development_key_file(path)?;
    Ok(MasterKeys {
        ring,
        origin: KeyOrigin::DevelopmentFile { path: path.to_path_buf(), mode, generated },
    })
}

/// A development key ring kept in `path` (created once, owner-only, marked `dev:`), and
/// whether this call created it. The MFA key of a developer's machine comes from here.
/// `read_only` never creates it: `None` when there is none yet.
pub(crate) fn development_key_ring(
    path: &Path,
    read_only: bool,
) -> Result<Option<(KeyRing, bool)>, MasterKeyError> {
    if read_only && !path.exists() {
        return Ok(None);
    }
    development_key_file(path).map(|(ring, _, generated)| Some((ring, generated)))
}

fn development_key_file(path: &Path) -> Result<(KeyRing, Option<u32>, bool), MasterKeyError> {
    let cannot_create = |source| MasterKeyError::CannotCreate { path: path.to_path_buf(), source };
    let mut generated = false;
    if !path.exists() {
        if let Some(dir) = path.parent() {
            sec_audit::owner_only::create_dir_all(dir).map_err(cannot_create)?;
        }
        let key = MasterKey::generate_development()
            .map_err(|_| cannot_create(io::Error::other("randomness unavailable")))?;
        let ring = KeyRing::new(vec![key]).map_err(|_| cannot_create(io::Error::other("empty")))?;
        match atomic::create_new(path, ring.to_key_file().expose_secret().as_bytes(), FILE_MODE) {
            Ok(()) => generated = true,
            // Another process created it first: use theirs.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(cannot_create(e)),
        }
    }
    let (ring, mode) = read_key_file(path)?;
    Ok((ring, mode, generated))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failed unwrap is a failed test")]

    use super::*;

    fn sources(dir: &Path, vars: &[(&str, &str)]) -> Sources {
        let mut s = Sources::new(dir.join("config"), vars.iter().copied());
        s.set_var_dir(dir.join("var"));
        s
    }

    #[test]
    fn development_generates_a_key_once_and_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let first =
            MasterKeys::load(&sources(dir.path(), &[]), AppEnv::Development).unwrap().unwrap();
        assert!(matches!(first.origin(), KeyOrigin::DevelopmentFile { generated: true, .. }));
        assert!(first.is_development() && first.ring().has_development_key());
        let second =
            MasterKeys::load(&sources(dir.path(), &[]), AppEnv::Development).unwrap().unwrap();
        assert!(matches!(second.origin(), KeyOrigin::DevelopmentFile { generated: false, .. }));
        assert_eq!(
            first.ring().newest().encoded().expose_secret(),
            second.ring().newest().encoded().expose_secret()
        );
        #[cfg(unix)]
        {
            assert_eq!(atomic::mode_of(&dir.path().join("var/master.key")).unwrap(), Some(0o600));
            assert_eq!(atomic::mode_of(&dir.path().join("var")).unwrap(), Some(0o700));
        }
    }

    #[test]
    fn test_and_production_never_generate_a_key() {
        let dir = tempfile::tempdir().unwrap();
        for env in [AppEnv::Test, AppEnv::Production] {
            assert!(MasterKeys::load(&sources(dir.path(), &[]), env).unwrap().is_none());
        }
        assert!(!dir.path().join("var").exists());
    }

    #[test]
    fn keys_come_from_the_variable_or_the_file_but_not_both() {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::generate().unwrap();
        let text = key.encoded().expose_secret().to_owned();
        let file = dir.path().join("k");
        std::fs::write(&file, format!("{text}\n")).unwrap();
        let file = file.display().to_string();

        let from_var =
            MasterKeys::load(&sources(dir.path(), &[(MASTER_KEY_VAR, &text)]), AppEnv::Production)
                .unwrap()
                .unwrap();
        assert_eq!(from_var.origin(), &KeyOrigin::Variable);
        let from_file = MasterKeys::load(
            &sources(dir.path(), &[(MASTER_KEY_FILE_VAR, &file)]),
            AppEnv::Production,
        )
        .unwrap()
        .unwrap();
        assert!(matches!(from_file.origin(), KeyOrigin::File { .. }));
        assert!(!from_file.is_development());
        let both = MasterKeys::load(
            &sources(dir.path(), &[(MASTER_KEY_VAR, &text), (MASTER_KEY_FILE_VAR, &file)]),
            AppEnv::Production,
        );
        assert!(matches!(both, Err(MasterKeyError::BothSet)));
    }

    #[test]
    fn a_bad_key_in_the_variable_is_reported_without_its_value() {
        let dir = tempfile::tempdir().unwrap();
        let err = MasterKeys::load(
            &sources(dir.path(), &[(MASTER_KEY_VAR, "canary-not-a-key")]),
            AppEnv::Production,
        )
        .unwrap_err();
        assert!(err.to_string().starts_with(MASTER_KEY_VAR), "{err}");
        assert!(!err.to_string().contains("canary"), "{err}");
    }
}
