//! How an audit line is sealed to the one before it, and the key that seals it.
//!
//! A line is a JSON object whose last member is `"hash"`: the HMAC-SHA-256 (keyed chain) or
//! SHA-256 (unkeyed chain) of the line's own text up to that member, with the closing brace
//! put back. That text includes `"prev"`, the hash of the line before, so each line commits to
//! the whole history. Hashing the exact bytes written avoids any JSON canonicalisation: the
//! verifier strips the fixed-size tail and hashes what is left.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, ExposeSecretMut, SecretBox, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The last line of a chain: its sequence number and its hash (lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// Sequence number of the line.
    pub seq: u64,
    /// Its hash, as written in the line's `hash` member.
    pub hash: String,
}

/// `"prev"` of the very first line of a chain.
pub(crate) const ZERO_HASH: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// The member that ends every line, before the hex hash and `"}`.
const HASH_FIELD: &[u8] = b",\"hash\":\"";

/// Length of the fixed tail `,"hash":"<64 hex>"}`.
const TAIL_LEN: usize = HASH_FIELD.len() + 64 + 2;

/// Version of the line format, written in every genesis line.
pub(crate) const FORMAT: u32 = 1;

/// The secret key of a keyed audit chain: without it, nobody can write a line that verifies.
///
/// Holds only the HMAC state derived from the key (zeroed on drop); `Debug` shows nothing.
#[derive(Clone)]
pub struct ChainKey {
    mac: Hmac<Sha256>,
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChainKey([REDACTED])")
    }
}

/// A key file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The file could not be read or created.
    #[error("audit key file {}: {reason}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The file does not hold 64 hexadecimal characters.
    #[error("audit key file {} must hold exactly 64 hexadecimal characters (32 bytes)", path.display())]
    Format {
        /// The file.
        path: PathBuf,
    },
    /// Other users may read the file.
    #[error(
        "audit key file {} is readable by other users (mode {mode:o}); run: chmod 600 {}",
        path.display(),
        path.display()
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The operating system's random source failed.
    #[error("no randomness for a new audit key: {0}")]
    Random(String),
}

impl ChainKey {
    /// Length of a key in bytes.
    pub const LEN: usize = 32;

    /// A chain key from 32 secret bytes (as the secrets store will hand them over).
    pub fn new(key: &SecretBox<[u8; Self::LEN]>) -> Self {
        // HMAC pads a key shorter than the hash's block with zeros; padding it here lets the
        // infallible constructor take it, and the padded copy is zeroed on drop.
        let mut padded = SecretBox::new(Box::new([0u8; 64]));
        padded.expose_secret_mut()[..Self::LEN].copy_from_slice(key.expose_secret());
        let mac = <Hmac<Sha256> as KeyInit>::new(padded.expose_secret().into());
        Self { mac }
    }

    /// Parses 64 hexadecimal characters (surrounding whitespace ignored).
    fn from_hex(text: &SecretString) -> Option<Self> {
        let trimmed = text.expose_secret().trim();
        if trimmed.len() != 2 * Self::LEN {
            return None;
        }
        let mut ok = false;
        let key = SecretBox::<[u8; Self::LEN]>::init_with_mut(|bytes| {
            ok = hex::decode_to_slice(trimmed, bytes).is_ok();
        });
        ok.then(|| Self::new(&key))
    }

    /// Reads a key file: 64 hexadecimal characters, readable by its owner only.
    pub fn load_file(path: &Path) -> Result<Self, KeyError> {
        let io =
            |e: std::io::Error| KeyError::Io { path: path.to_path_buf(), reason: e.to_string() };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
            if !crate::owner_only::is_owner_only(mode) {
                return Err(KeyError::Permissions { path: path.to_path_buf(), mode });
            }
        }
        let text = SecretString::from(fs::read_to_string(path).map_err(io)?);
        Self::from_hex(&text).ok_or_else(|| KeyError::Format { path: path.to_path_buf() })
    }

    /// Creates a key file with a fresh random key, readable by its owner only. Refuses to
    /// overwrite an existing file: that would orphan the chain written with the old key.
    pub fn create_file(path: &Path) -> Result<Self, KeyError> {
        let io =
            |e: std::io::Error| KeyError::Io { path: path.to_path_buf(), reason: e.to_string() };
        let mut failure = None;
        let key = SecretBox::<[u8; Self::LEN]>::init_with_mut(|bytes| {
            failure = getrandom::fill(bytes).err();
        });
        if let Some(e) = failure {
            return Err(KeyError::Random(e.to_string()));
        }
        let text = SecretString::from(hex::encode(key.expose_secret()));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::owner_only::create_dir_all(dir).map_err(io)?;
        }
        let mut options = crate::owner_only::file_options();
        options.write(true).create_new(true);
        let mut file = options.open(path).map_err(io)?;
        file.write_all(text.expose_secret().as_bytes()).map_err(io)?;
        file.write_all(b"\n").map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(Self::new(&key))
    }
}

/// What seals lines: HMAC with a key, or plain SHA-256.
#[derive(Clone)]
pub(crate) enum Sealer {
    Keyed(Hmac<Sha256>),
    Plain,
}

impl Sealer {
    pub(crate) fn new(key: Option<&ChainKey>) -> Self {
        key.map_or(Self::Plain, |k| Self::Keyed(k.mac.clone()))
    }

    /// The name written in each genesis line.
    pub(crate) fn alg(&self) -> &'static str {
        match self {
            Self::Keyed(_) => ALG_KEYED,
            Self::Plain => ALG_PLAIN,
        }
    }

    /// The hash of `body_open` (a line up to, not including, its closing brace) plus `}`.
    pub(crate) fn seal(&self, body_open: &[u8]) -> [u8; 32] {
        match self {
            Self::Keyed(mac) => {
                let mut mac = mac.clone();
                mac.update(body_open);
                mac.update(b"}");
                mac.finalize().into_bytes().into()
            }
            Self::Plain => {
                let mut hash = Sha256::new();
                hash.update(body_open);
                hash.update(b"}");
                hash.finalize().into()
            }
        }
    }

    /// Whether `tag` is the seal of `body_open`; constant-time for the keyed chain.
    pub(crate) fn check(&self, body_open: &[u8], tag: &[u8; 32]) -> bool {
        match self {
            Self::Keyed(mac) => {
                let mut mac = mac.clone();
                mac.update(body_open);
                mac.update(b"}");
                mac.verify_slice(tag).is_ok()
            }
            Self::Plain => self.seal(body_open) == *tag,
        }
    }
}

/// `alg` of a keyed chain.
pub(crate) const ALG_KEYED: &str = "hmac-sha256";
/// `alg` of an unkeyed chain.
pub(crate) const ALG_PLAIN: &str = "sha256";

/// Appends `,"hash":"<hex>"}` and a newline to `line`, which holds a JSON object without its
/// closing brace.
pub(crate) fn finish_line(line: &mut Vec<u8>, tag: &[u8; 32]) {
    let mut hex_tag = [0u8; 64];
    // The buffer is exactly twice the tag's length, so encoding cannot fail.
    let _ = hex::encode_to_slice(tag, &mut hex_tag);
    line.extend_from_slice(HASH_FIELD);
    line.extend_from_slice(&hex_tag);
    line.extend_from_slice(b"\"}\n");
}

/// Splits a line (without its newline) into the sealed text (up to the closing brace) and the
/// hash; `None` if the line does not end with a well-formed hash member.
pub(crate) fn split_line(line: &[u8]) -> Option<(&[u8], [u8; 32])> {
    let at = line.len().checked_sub(TAIL_LEN)?;
    let (body_open, tail) = line.split_at(at);
    let hex_tag = tail.strip_prefix(HASH_FIELD)?.strip_suffix(b"\"}")?;
    let mut tag = [0u8; 32];
    hex::decode_to_slice(hex_tag, &mut tag).ok()?;
    // Only lowercase hex is ever written; anything else is an edit.
    if hex_tag.iter().any(u8::is_ascii_uppercase) {
        return None;
    }
    Some((body_open, tag))
}

/// The first line of every file: which chain, which instance, which file in the sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Genesis {
    /// Line format version.
    pub(crate) format: u32,
    /// `hmac-sha256` or `sha256`.
    pub(crate) alg: String,
    /// The server instance (host name) that wrote the file.
    pub(crate) instance: String,
    /// Position of the file in the chain, from 0.
    pub(crate) file: u64,
}

/// The members of a line the verifier needs; the rest is the event, sealed but not interpreted.
#[derive(Debug, Deserialize)]
pub(crate) struct LineHead {
    pub(crate) seq: u64,
    pub(crate) prev: String,
    #[serde(default)]
    pub(crate) genesis: Option<Genesis>,
    #[serde(default)]
    pub(crate) event: Option<String>,
}

impl LineHead {
    /// Parses the sealed text of a line (given without its closing brace).
    pub(crate) fn parse(body_open: &[u8]) -> Option<Self> {
        let mut body = Vec::with_capacity(body_open.len() + 1);
        body.extend_from_slice(body_open);
        body.push(b'}');
        serde_json::from_slice(&body).ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use super::*;

    fn key(byte: u8) -> ChainKey {
        ChainKey::new(&SecretBox::new(Box::new([byte; 32])))
    }

    #[test]
    fn a_sealed_line_splits_back_into_what_was_sealed() {
        let sealer = Sealer::new(Some(&key(7)));
        let mut line = br#"{"seq":1,"prev":"00"#.to_vec();
        let tag = sealer.seal(&line);
        let body_len = line.len();
        finish_line(&mut line, &tag);
        assert!(line.ends_with(b"\"}\n"));
        let (body, parsed) = split_line(&line[..line.len() - 1]).unwrap();
        assert_eq!(body.len(), body_len);
        assert_eq!(parsed, tag);
        assert!(sealer.check(body, &parsed));
    }

    #[test]
    fn seals_are_hmac_sha256_or_sha256_of_the_line_with_its_closing_brace() {
        // Known answers computed independently (Python's hmac and hashlib) over `{"seq":1}`.
        let body_open = br#"{"seq":1"#;
        let keyed = Sealer::new(Some(&key(0x0b))).seal(body_open);
        assert_eq!(
            hex::encode(keyed),
            "15f4e0f5a804d5c0a3d33df25e6aa923048bb7d20a40e9fcf68b9d83a8de4655"
        );
        let plain = Sealer::new(None).seal(body_open);
        assert_eq!(
            hex::encode(plain),
            "b41e95c43f388d561b146326d84e3a6b9e31c4ef32ab97c04774c31aada3246a"
        );
    }

    #[test]
    fn another_key_or_no_key_does_not_verify_a_keyed_seal() {
        let body = br#"{"seq":1"#;
        let tag = Sealer::new(Some(&key(1))).seal(body);
        assert!(Sealer::new(Some(&key(1))).check(body, &tag));
        assert!(!Sealer::new(Some(&key(2))).check(body, &tag));
        assert!(!Sealer::new(None).check(body, &tag));
    }

    #[test]
    fn key_files_are_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k/audit.key");
        let created = ChainKey::create_file(&path).unwrap();
        let loaded = ChainKey::load_file(&path).unwrap();
        let body = b"{";
        assert_eq!(Sealer::new(Some(&created)).seal(body), Sealer::new(Some(&loaded)).seal(body));
        assert!(matches!(ChainKey::create_file(&path), Err(KeyError::Io { .. })), "no overwrite");
        assert_eq!(format!("{loaded:?}"), "ChainKey([REDACTED])");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(ChainKey::load_file(&path), Err(KeyError::Permissions { .. })));
        }
    }

    #[test]
    fn a_key_file_must_hold_64_hex_characters() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", "abcd", &"g".repeat(64), &"a".repeat(66)] {
            let path = dir.path().join("bad.key");
            let _ = fs::remove_file(&path);
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            options.open(&path).unwrap().write_all(bad.as_bytes()).unwrap();
            assert!(matches!(ChainKey::load_file(&path), Err(KeyError::Format { .. })), "{bad:?}");
        }
    }
}
