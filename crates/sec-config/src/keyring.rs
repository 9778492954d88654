//! Master keys and Fernet tokens: the `fernet` crate, wrapped where it falls short.
//!
//! The crate does the cryptography (AES-128-CBC, HMAC-SHA256, constant-time tag check). This
//! module adds what a server needs around it:
//!
//! * **Timestamps are checked here first, with overflow-safe arithmetic.** The crate computes
//!   `timestamp + ttl`, which overflows on a forged token whose timestamp is `u64::MAX` (a panic
//!   in debug builds, a wrap-around in release). Every token is parsed and its timestamp
//!   judged here before the crate sees it, and the crate is then called without a TTL.
//! * **Typed errors.** The crate has one opaque error; here a structurally broken token, one
//!   from the future, an expired one and one no key authenticates are told apart.
//! * **Keys are secrets.** A [`MasterKey`] holds its text in a [`SecretString`]; nothing here
//!   implements a `Debug` that prints it. Keys are generated from the OS CSPRNG through
//!   `sec-core`, whose failure is an error instead of the crate's panic.
//! * **Rotation.** A [`KeyRing`] is a non-empty list, newest first: it encrypts with the first
//!   key and decrypts with any (the MultiFernet rule), and tells which key matched.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretSlice, SecretString};

/// How far in the future a token's timestamp may be (the Fernet specification's clock skew).
pub const MAX_CLOCK_SKEW_SECS: u64 = 60;

/// Marks a key generated for a developer's machine. Production refuses such a key.
pub const DEV_KEY_PREFIX: &str = "dev:";

const VERSION: u8 = 0x80;
const HEADER_LEN: usize = 1 + 8 + 16;
const TAG_LEN: usize = 32;
const BLOCK: usize = 16;
const KEY_BYTES: usize = 32;

/// A key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not 32 bytes in URL-safe Base64 (the Fernet key format).
    #[error("key {position} is not a Fernet key (32 bytes, URL-safe Base64, 44 characters)")]
    NotAFernetKey {
        /// 1-based position in the key list.
        position: usize,
    },
    /// No key was given.
    #[error("no key given")]
    Empty,
    /// The OS random number generator failed.
    #[error("the operating system's random number generator failed")]
    Randomness,
}

/// A Fernet token was refused. No variant carries any part of the token or the plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Not Base64, wrong version byte, too short, or a ciphertext that is not whole blocks.
    #[error("not a Fernet token (bad encoding, version or length)")]
    Malformed,
    /// The token's timestamp is more than [`MAX_CLOCK_SKEW_SECS`] ahead of this machine's clock.
    #[error(
        "the token is dated in the future (more than {MAX_CLOCK_SKEW_SECS} s ahead of this \
         machine's clock): check the clock, or the token was forged"
    )]
    FromTheFuture,
    /// The token is older than the time-to-live it was checked against.
    #[error("the token has expired")]
    Expired,
    /// No key authenticates it: it was encrypted with a key we do not hold, or altered.
    #[error("no configured key decrypts it: it was encrypted with another key, or it was altered")]
    NotAuthentic,
    /// This machine's clock reads a time a token cannot be checked against.
    #[error("the system clock is out of range")]
    ClockOutOfRange,
}

/// One Fernet key (256 bits: a signing half and an encryption half).
#[derive(Clone)]
pub struct MasterKey {
    fernet: fernet::Fernet,
    encoded: SecretString,
    development: bool,
}

impl MasterKey {
    /// Parses a key in the Fernet format (URL-safe Base64 of 32 bytes, padding optional),
    /// optionally prefixed with [`DEV_KEY_PREFIX`].
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        Self::parse_at(text, 1)
    }

    fn parse_at(text: &str, position: usize) -> Result<Self, KeyError> {
        let text = text.trim();
        let (development, bare) = match text.strip_prefix(DEV_KEY_PREFIX) {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        // Checked here as well as by the crate so that the error is ours and never echoes
        // the text.
        let decoded = URL_SAFE_NO_PAD
            .decode(bare.trim_end_matches('='))
            .map_err(|_| KeyError::NotAFernetKey { position })?;
        if decoded.len() != KEY_BYTES {
            return Err(KeyError::NotAFernetKey { position });
        }
        let fernet = fernet::Fernet::new(bare).ok_or(KeyError::NotAFernetKey { position })?;
        Ok(Self { fernet, encoded: SecretString::from(text.to_owned()), development })
    }

    /// A fresh key from the OS CSPRNG.
    pub fn generate() -> Result<Self, KeyError> {
        Self::generate_with_marker(false)
    }

    /// A fresh key marked as a development key (its text starts with [`DEV_KEY_PREFIX`]).
    pub fn generate_development() -> Result<Self, KeyError> {
        Self::generate_with_marker(true)
    }

    fn generate_with_marker(development: bool) -> Result<Self, KeyError> {
        let mut bytes = secrecy::zeroize::Zeroizing::new([0u8; KEY_BYTES]);
        sec_core::fill_random(bytes.as_mut_slice()).map_err(|_| KeyError::Randomness)?;
        let mut text = URL_SAFE.encode(bytes.as_slice());
        if development {
            text.insert_str(0, DEV_KEY_PREFIX);
        }
        let key = Self::parse(&text);
        secrecy::zeroize::Zeroize::zeroize(&mut text);
        key
    }

    /// The key in its text form (with its `dev:` marker, if any), to store or hand over.
    pub fn encoded(&self) -> &SecretString {
        &self.encoded
    }

    /// True for a key generated by [`MasterKey::generate_development`].
    pub fn is_development(&self) -> bool {
        self.development
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.development { "development" } else { "deployment" };
        write!(f, "MasterKey({kind}, redacted)")
    }
}

/// The plaintext of a token, and which key of the ring opened it.
pub struct Decrypted {
    plaintext: SecretSlice<u8>,
    key_index: usize,
}

impl Decrypted {
    /// The decrypted bytes.
    pub fn plaintext(&self) -> &SecretSlice<u8> {
        &self.plaintext
    }

    /// 0 when the newest key opened the token; more means it was encrypted with an older key
    /// (and should be re-encrypted: `secrets rotate`).
    pub fn key_index(&self) -> usize {
        self.key_index
    }
}

impl fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decrypted(key {}, redacted)", self.key_index)
    }
}

/// Keys in use, newest first: encrypt with the first, decrypt with any.
#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<MasterKey>,
}

impl KeyRing {
    /// A ring of `keys`, newest first.
    pub fn new(keys: Vec<MasterKey>) -> Result<Self, KeyError> {
        if keys.is_empty() { Err(KeyError::Empty) } else { Ok(Self { keys }) }
    }

    /// Parses a list of keys separated by commas or line breaks, newest first. Blank entries
    /// and lines starting with `#` are skipped.
    pub fn parse_list(text: &str) -> Result<Self, KeyError> {
        let keys = text
            .split([',', '\n', '\r'])
            .map(str::trim)
            .filter(|k| !k.is_empty() && !k.starts_with('#'))
            .enumerate()
            .map(|(i, k)| MasterKey::parse_at(k, i + 1))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys)
    }

    /// The keys, newest first.
    pub fn keys(&self) -> &[MasterKey] {
        &self.keys
    }

    /// The key new tokens are encrypted with.
    pub fn newest(&self) -> &MasterKey {
        // `new` refuses an empty list, so there is always a first key.
        &self.keys[0]
    }

    /// The ring with `key` put in front, as after a rotation.
    pub fn with_newest(&self, key: MasterKey) -> Self {
        let mut keys = Vec::with_capacity(self.keys.len() + 1);
        keys.push(key);
        keys.extend(self.keys.iter().cloned());
        Self { keys }
    }

    /// True when any key of the ring is a development key.
    pub fn has_development_key(&self) -> bool {
        self.keys.iter().any(MasterKey::is_development)
    }

    /// The list as text (one key per line, newest first), for a key file.
    pub fn to_key_file(&self) -> SecretString {
        let mut text = String::new();
        for key in &self.keys {
            text.push_str(key.encoded().expose_secret());
            text.push('\n');
        }
        SecretString::from(text)
    }

    /// Encrypts with the newest key, dated now.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<String, TokenError> {
        self.encrypt_at(plaintext, now()?)
    }

    /// Encrypts with the newest key, dated `unix_secs`.
    pub fn encrypt_at(&self, plaintext: &[u8], unix_secs: u64) -> Result<String, TokenError> {
        Ok(self.newest().fernet.encrypt_at_time(plaintext, unix_secs))
    }

    /// Decrypts with whichever key authenticates the token, checking its date against now
    /// (no time-to-live: a secrets file does not expire).
    pub fn decrypt(&self, token: &str) -> Result<Decrypted, TokenError> {
        self.decrypt_at(token, now()?, None)
    }

    /// Decrypts as of `now_unix_secs`; with `ttl_secs`, a token older than that is refused.
    pub fn decrypt_at(
        &self,
        token: &str,
        now_unix_secs: u64,
        ttl_secs: Option<u64>,
    ) -> Result<Decrypted, TokenError> {
        let token = token.trim();
        let timestamp = parse_timestamp(token)?;
        // The crate adds MAX_CLOCK_SKEW to `now`; a `now` that close to u64::MAX is no clock.
        let latest =
            now_unix_secs.checked_add(MAX_CLOCK_SKEW_SECS).ok_or(TokenError::ClockOutOfRange)?;
        if timestamp > latest {
            return Err(TokenError::FromTheFuture);
        }
        if let Some(ttl) = ttl_secs
            && timestamp.saturating_add(ttl) < now_unix_secs
        {
            return Err(TokenError::Expired);
        }
        for (key_index, key) in self.keys.iter().enumerate() {
            // No TTL handed to the crate: its `timestamp + ttl` is the overflow we avoid.
            if let Ok(bytes) = key.fernet.decrypt_at_time(token, None, now_unix_secs) {
                return Ok(Decrypted { plaintext: SecretSlice::from(bytes), key_index });
            }
        }
        Err(TokenError::NotAuthentic)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.keys).finish()
    }
}

/// Checks the token's structure and returns its timestamp, without trusting it.
fn parse_timestamp(token: &str) -> Result<u64, TokenError> {
    // Same alphabet and padding rule as the crate, so that both accept the same tokens.
    let raw =
        URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).map_err(|_| TokenError::Malformed)?;
    let Some(body_len) = raw.len().checked_sub(HEADER_LEN + TAG_LEN) else {
        return Err(TokenError::Malformed);
    };
    if raw.first() != Some(&VERSION) || body_len == 0 || body_len % BLOCK != 0 {
        return Err(TokenError::Malformed);
    }
    let mut ts = [0u8; 8];
    ts.copy_from_slice(raw.get(1..9).ok_or(TokenError::Malformed)?);
    Ok(u64::from_be_bytes(ts))
}

fn now() -> Result<u64, TokenError> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| TokenError::ClockOutOfRange)
}

#[cfg(test)]
mod tests;
