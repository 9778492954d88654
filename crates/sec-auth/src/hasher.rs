//! Password hashing as the rules use it: behind a trait so tests can count verifications, and
//! bounded so a flood of logins queues for a hashing slot instead of starving the server.

use std::time::Duration;

use sec_core::{
    HashError, HashingPool, Password, PasswordHash, PoolError, SecretString, Verified, VerifyError,
};

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

/// Hashes and verifies passwords. Every method blocks until the work is done: call them on a
/// blocking thread.
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

/// [`CredentialHasher`] over a [`HashingPool`]: the work runs on the pool's hashing threads
/// (the calling thread only waits), and a job that cannot start within `wait`, or finds the
/// pool's queue full, is [`HashFailure::Busy`].
#[derive(Debug, Clone)]
pub struct PooledHasher {
    pool: HashingPool,
    wait: Duration,
}

impl PooledHasher {
    /// Hashing through `pool`, waiting up to `wait` for a hashing thread.
    pub fn new(pool: HashingPool, wait: Duration) -> Self {
        Self { pool, wait }
    }

    /// The pool.
    pub fn pool(&self) -> &HashingPool {
        &self.pool
    }
}

fn hash_failure(e: PoolError<HashError>) -> HashFailure {
    match e {
        PoolError::Busy(_) => HashFailure::Busy,
        _ => HashFailure::Failed,
    }
}

impl CredentialHasher for PooledHasher {
    fn hash(&self, password: &Password) -> Result<PasswordHash, HashFailure> {
        self.pool.hash(password, self.wait).map_err(hash_failure)
    }

    fn rehash_verified(&self, candidate: &SecretString) -> Result<PasswordHash, HashFailure> {
        self.pool.rehash_verified(candidate, self.wait).map_err(hash_failure)
    }

    fn verify(
        &self,
        candidate: &SecretString,
        stored: &str,
    ) -> Result<Option<Verified>, HashFailure> {
        match self.pool.verify(candidate, stored, self.wait) {
            Ok(verified) => Ok(Some(verified)),
            Err(PoolError::Busy(_)) => Err(HashFailure::Busy),
            Err(PoolError::Failed(VerifyError::Mismatch)) => Ok(None),
            Err(PoolError::Failed(other)) => {
                tracing::error!(error = %other, "a stored password hash cannot be checked");
                Ok(None)
            }
            Err(other) => {
                tracing::error!(error = %other, "a password could not be verified");
                Ok(None)
            }
        }
    }

    fn dummy_verify(&self, candidate: &SecretString) -> Result<(), HashFailure> {
        self.pool.dummy_verify(candidate, self.wait).map_err(|_| HashFailure::Busy)
    }
}
