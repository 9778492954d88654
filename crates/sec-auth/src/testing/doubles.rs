//! Stand-ins for the parts the app gives [`crate::Auth`]: a hasher that counts its work, an
//! audit sink that keeps what it is told, and a sealer that only encodes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use sec_audit::{AuditEvent, AuditRecord};
use sec_core::{HashParams, Password, PasswordHash, PasswordHasher, SecretString, Verified};
use secrecy::SecretSlice;

use crate::hasher::{CredentialHasher, HashFailure};
use crate::mfa::{Opened, SealError, SecretSealer};
use crate::service::AuditSink;

/// Real Argon2id at the cheapest parameters sec-core accepts (the OWASP floor for t=5:
/// 7 MiB), and a count of every verification, real or dummy: the work an attacker could time.
///
/// `Verified` can only come from sec-core's own hasher, so this wraps it rather than faking
/// hashes; what it maps to `Ok(None)` is what `PooledHasher` maps.
pub(crate) struct CountingHasher {
    hasher: PasswordHasher,
    verifications: AtomicUsize,
    hashes: AtomicUsize,
}

impl CountingHasher {
    /// A hasher at the cheapest accepted parameters.
    pub(crate) fn new() -> Result<Self, sec_core::HashConfigError> {
        let params = HashParams::new(7_168, 5, 1)?;
        Ok(Self {
            hasher: PasswordHasher::new(params, None),
            verifications: AtomicUsize::new(0),
            hashes: AtomicUsize::new(0),
        })
    }

    /// Verifications so far, dummy ones included.
    pub(crate) fn verifications(&self) -> usize {
        self.verifications.load(Ordering::SeqCst)
    }

    /// New hashes made so far (registrations, password changes, resets).
    pub(crate) fn hashes(&self) -> usize {
        self.hashes.load(Ordering::SeqCst)
    }
}

impl CredentialHasher for CountingHasher {
    fn hash(&self, password: &Password) -> Result<PasswordHash, HashFailure> {
        self.hashes.fetch_add(1, Ordering::SeqCst);
        self.hasher.hash(password).map_err(|_| HashFailure::Failed)
    }

    fn rehash_verified(&self, candidate: &SecretString) -> Result<PasswordHash, HashFailure> {
        self.hasher.rehash_verified(candidate).map_err(|_| HashFailure::Failed)
    }

    fn verify(
        &self,
        candidate: &SecretString,
        stored: &str,
    ) -> Result<Option<Verified>, HashFailure> {
        self.verifications.fetch_add(1, Ordering::SeqCst);
        match self.hasher.verify(candidate, stored) {
            Ok(verified) => Ok(Some(verified)),
            // A mismatch, and a stored hash that cannot be checked: no match either way.
            Err(_) => Ok(None),
        }
    }

    fn dummy_verify(&self, candidate: &SecretString) -> Result<(), HashFailure> {
        self.verifications.fetch_add(1, Ordering::SeqCst);
        self.hasher.dummy_verify(candidate);
        Ok(())
    }
}

/// Keeps every audit event, in order.
#[derive(Default)]
pub(crate) struct RecordingAudit {
    events: Mutex<Vec<AuditEvent>>,
}

impl RecordingAudit {
    /// The events recorded so far.
    pub(crate) fn events(&self) -> Vec<AuditEvent> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// How many recorded events `matches` accepts.
    pub(crate) fn count(&self, matches: impl Fn(&AuditEvent) -> bool) -> usize {
        self.events().iter().filter(|e| matches(e)).count()
    }
}

impl AuditSink for RecordingAudit {
    fn record(&self, record: AuditRecord) {
        self.events.lock().unwrap_or_else(PoisonError::into_inner).push(record.event().clone());
    }
}

/// A [`SecretSealer`] that hex-encodes behind a prefix: it keeps the sealed form opaque to the
/// rules, as the app's sealer does, and provides no secrecy whatever. Tests only.
pub(crate) struct HexSealer;

/// What every value [`HexSealer`] seals starts with.
const HEX_SEALED: &str = "hex-sealed:";

impl SecretSealer for HexSealer {
    fn seal(&self, plaintext: &[u8]) -> Result<String, SealError> {
        Ok(format!("{HEX_SEALED}{}", hex::encode(plaintext)))
    }

    fn open(&self, sealed: &str) -> Result<Opened, SealError> {
        let encoded = sealed.strip_prefix(HEX_SEALED).ok_or(SealError::NotAuthentic)?;
        let plaintext = hex::decode(encoded).map_err(|_| SealError::Malformed)?;
        Ok(Opened { plaintext: SecretSlice::from(plaintext), stale: false })
    }
}
