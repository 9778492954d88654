//! [`sec_auth::SecretSealer`] over the MFA key ring from the settings (`auth.mfa_keys`):
//! standard Fernet tokens (AES-128-CBC + HMAC-SHA-256), sealed with the newest key and opened
//! with any key of the ring, so the key can rotate without making stored secrets unreadable.
//!
//! Why Fernet and this key: it is the format and the key handling the secrets file already
//! uses (`sec_config::KeyRing`: typed errors, overflow-safe timestamp checks, rotation), so
//! there is one reviewed encryption path in the code base and one kind of key for operators to
//! handle. The key lives in the encrypted secrets file (or the environment), never in the
//! database, so a copy of the database, a backup or an SQL injection yields only ciphertext.

use sec_auth::{Opened, SealError, SecretSealer};
use sec_config::{KeyRing, TokenError};
use secrecy::{ExposeSecret, SecretSlice};

/// Seals with the newest key of a Fernet key ring, opens with any.
#[derive(Debug, Clone)]
pub struct KeyRingSealer {
    ring: KeyRing,
}

impl KeyRingSealer {
    /// A sealer over `ring` (newest key first).
    pub fn new(ring: KeyRing) -> Self {
        Self { ring }
    }
}

impl SecretSealer for KeyRingSealer {
    fn seal(&self, plaintext: &[u8]) -> Result<String, SealError> {
        // Only a broken system clock fails here.
        self.ring.encrypt(plaintext).map_err(|_| SealError::Malformed)
    }

    fn open(&self, sealed: &str) -> Result<Opened, SealError> {
        let opened = self.ring.decrypt(sealed).map_err(|e| match e {
            TokenError::NotAuthentic => SealError::NotAuthentic,
            _ => SealError::Malformed,
        })?;
        Ok(Opened {
            plaintext: SecretSlice::from(opened.plaintext().expose_secret().to_vec()),
            stale: opened.key_index() > 0,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use sec_config::MasterKey;

    use super::*;

    #[test]
    fn sealed_secrets_open_with_any_key_of_the_ring_and_say_when_they_are_stale() {
        let old = KeyRing::new(vec![MasterKey::generate().unwrap()]).unwrap();
        let rotated = old.with_newest(MasterKey::generate().unwrap());
        let sealed_old = KeyRingSealer::new(old.clone()).seal(b"totp-secret").unwrap();
        assert!(!sealed_old.contains("totp-secret"));
        let sealer = KeyRingSealer::new(rotated.clone());
        let opened = sealer.open(&sealed_old).unwrap();
        assert_eq!(opened.plaintext.expose_secret(), b"totp-secret");
        assert!(opened.stale, "sealed with the older key");
        let fresh = sealer.seal(b"totp-secret").unwrap();
        assert!(!sealer.open(&fresh).unwrap().stale);
        // Without the key that sealed it, nothing opens.
        let other = KeyRingSealer::new(KeyRing::new(vec![MasterKey::generate().unwrap()]).unwrap());
        assert_eq!(other.open(&fresh).unwrap_err(), SealError::NotAuthentic);
        assert_eq!(other.open("not a token").unwrap_err(), SealError::Malformed);
    }
}
