//! Password hashing as the rules use it: behind a trait so tests can count verifications, and
//! bounded so a flood of logins queues for a hashing slot instead of starving the server.

use std::time::Duration;

use sec_core::{HashingPool, Password, PasswordHash, SecretString, Verified, VerifyError};

/// Hashing could not be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashFailure {
    /// Every hashing slot stayed busy for the whole wait: answer 503 and let the client retry.
    #[error("every password-hashing slot is busy")]
    Busy,
    /// The hash could not be computed (no randomness for a salt, Argon2 refused its inputs).
    #[error("password hashing failed")]
    Failed,
}

/// Hashes and verifies passwords. Every method blocks: call them on a blocking thread.
pub trait CredentialHasher: Send + Sync {
    /// Hashes a new password (already checked against the policy).
    fn hash(&self, password: &Password) -> Result<PasswordHash, HashFailure>;

    /// Hashes again a password that has just verified (see
    /// [`sec_core::PasswordHasher::rehash_verified`]).
    fn rehash_verified(&self, candidate: &SecretString) -> Result<PasswordHash, HashFailure>;

    /// Verifies `candidate` against a stored PHC string: `Ok(Some(_))` if it matches,
    /// `Ok(None)` if not. A stored hash that cannot be checked counts as no match (and is
    /// logged), so a damaged row locks its account rather than opening it.
    fn verify(
        &self,
        candidate: &SecretString,
        stored: &str,
    ) -> Result<Option<Verified>, HashFailure>;

    /// Spends the work of a failed verification, for an account that does not exist.
    fn dummy_verify(&self, candidate: &SecretString) -> Result<(), HashFailure>;
}

/// [`CredentialHasher`] over a [`HashingPool`]: waits at most `wait` for a slot.
#[derive(Debug, Clone)]
pub struct PooledHasher {
    pool: HashingPool,
    wait: Duration,
}

impl PooledHasher {
    /// Hashing through `pool`, waiting up to `wait` for a free slot.
    pub fn new(pool: HashingPool, wait: Duration) -> Self {
        Self { pool, wait }
    }

    /// The pool.
    pub fn pool(&self) -> &HashingPool {
        &self.pool
    }
}

impl CredentialHasher for PooledHasher {
    fn hash(&self, password: &Password) -> Result<PasswordHash, HashFailure> {
        let hasher = self.pool.acquire_timeout(self.wait).map_err(|_| HashFailure::Busy)?;
        hasher.hash(password).map_err(|_| HashFailure::Failed)
    }

    fn rehash_verified(&self, candidate: &SecretString) -> Result<PasswordHash, HashFailure> {
        let hasher = self.pool.acquire_timeout(self.wait).map_err(|_| HashFailure::Busy)?;
        hasher.rehash_verified(candidate).map_err(|_| HashFailure::Failed)
    }

    fn verify(
        &self,
        candidate: &SecretString,
        stored: &str,
    ) -> Result<Option<Verified>, HashFailure> {
        let hasher = self.pool.acquire_timeout(self.wait).map_err(|_| HashFailure::Busy)?;
        match hasher.verify(candidate, stored) {
            Ok(verified) => Ok(Some(verified)),
            Err(VerifyError::Mismatch) => Ok(None),
            Err(other) => {
                tracing::error!(error = %other, "a stored password hash cannot be checked");
                Ok(None)
            }
        }
    }

    fn dummy_verify(&self, candidate: &SecretString) -> Result<(), HashFailure> {
        let hasher = self.pool.acquire_timeout(self.wait).map_err(|_| HashFailure::Busy)?;
        hasher.dummy_verify(candidate);
        Ok(())
    }
}
