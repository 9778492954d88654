//! The `PasswordHasher` service: Argon2id (OWASP m=19456 KiB, t=2, p=1), 16-byte random salts,
//! PHC strings, an optional pepper with a key id, constant-time verification that reports when
//! a stored hash should be replaced, and a dummy verification for unknown users.
//!
//! Hashing is CPU- and memory-heavy (19 MiB per hash at the default): run it off the async
//! workers through a [`HashingPool`], whose few threads own and reuse their Argon2 memory and
//! are the only ones that hash, so memory stays bounded however many logins arrive.

mod calibrate;
mod phc;
mod pool;

use std::fmt;

use argon2::{Algorithm, Argon2, AssociatedData, Block, ParamsBuilder, Version};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::{Deserialize, Serialize};

pub use self::calibrate::{CALIBRATION_MAX_M_COST_KIB, calibrate, calibrate_with_memory_limit};
pub use self::pool::{
    DEFAULT_HASH_QUEUE, HashingPool, PoolBusy, PoolError, WorkerLost, default_max_concurrent_hashes,
};

use crate::Password;
use crate::tokens::{RandomnessError, constant_time_eq, fill_random};

/// Salt length for new hashes (RFC 9106 recommends 16 bytes).
pub const SALT_LEN: usize = 16;
/// Tag (output) length for new hashes.
pub const HASH_LEN: usize = 32;
/// Highest memory cost accepted, in KiB (1 GiB), for new and stored hashes alike: a stored hash
/// naming more is refused rather than allowed to exhaust memory.
pub const MAX_M_COST_KIB: u32 = 1024 * 1024;
/// Highest time cost accepted.
pub const MAX_T_COST: u32 = 64;
/// Highest parallelism accepted.
pub const MAX_P_COST: u32 = 16;
const PEPPER_MIN_LEN: usize = 16;
const PEPPER_MAX_LEN: usize = 128;
const PEPPER_ID_MAX_LEN: usize = 8;

/// Argon2id cost parameters. Every value is at or above the OWASP minimum for its time cost
/// (m=47104 t=1, 19456 t=2, 12288 t=3, 9216 t=4, 7168 t≥5 KiB), so a configuration cannot make
/// hashing weaker than that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawHashParams", into = "RawHashParams")]
pub struct HashParams {
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHashParams {
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
}

impl TryFrom<RawHashParams> for HashParams {
    type Error = HashConfigError;

    fn try_from(raw: RawHashParams) -> Result<Self, Self::Error> {
        Self::new(raw.m_cost_kib, raw.t_cost, raw.p_cost)
    }
}

impl From<HashParams> for RawHashParams {
    fn from(p: HashParams) -> Self {
        Self { m_cost_kib: p.m_cost_kib, t_cost: p.t_cost, p_cost: p.p_cost }
    }
}

/// A hasher configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashConfigError {
    /// Memory cost below the OWASP minimum for this time cost, or above [`MAX_M_COST_KIB`].
    #[error("memory cost {got} KiB is outside {min}..={MAX_M_COST_KIB} KiB for this time cost")]
    MemoryCostOutOfRange {
        /// The value refused.
        got: u32,
        /// The minimum for the time cost given.
        min: u32,
    },
    /// Time cost of 0 or above [`MAX_T_COST`].
    #[error("time cost {got} is outside 1..={MAX_T_COST}")]
    TimeCostOutOfRange {
        /// The value refused.
        got: u32,
    },
    /// Parallelism of 0 or above [`MAX_P_COST`].
    #[error("parallelism {got} is outside 1..={MAX_P_COST}")]
    ParallelismOutOfRange {
        /// The value refused.
        got: u32,
    },
    /// The pepper is shorter than 16 or longer than 128 bytes.
    #[error("the pepper must be between {PEPPER_MIN_LEN} and {PEPPER_MAX_LEN} bytes")]
    PepperLength,
    /// The pepper id is not 1 to 8 ASCII letters or digits.
    #[error("the pepper id must be 1 to {PEPPER_ID_MAX_LEN} ASCII letters or digits")]
    PepperId,
    /// Two peppers share an id.
    #[error("two peppers have the same id")]
    DuplicatePepperId,
}

impl HashParams {
    /// The OWASP Password Storage Cheat Sheet's Argon2id minimum, and the default.
    pub const OWASP_MINIMUM: Self = Self { m_cost_kib: 19_456, t_cost: 2, p_cost: 1 };

    /// Validated parameters.
    ///
    /// # Errors
    /// [`HashConfigError`] naming the out-of-range value.
    pub fn new(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self, HashConfigError> {
        if !(1..=MAX_T_COST).contains(&t_cost) {
            return Err(HashConfigError::TimeCostOutOfRange { got: t_cost });
        }
        if !(1..=MAX_P_COST).contains(&p_cost) {
            return Err(HashConfigError::ParallelismOutOfRange { got: p_cost });
        }
        // Argon2 itself needs 8 KiB per lane.
        let min = owasp_min_m_cost(t_cost).max(8 * p_cost);
        if !(min..=MAX_M_COST_KIB).contains(&m_cost_kib) {
            return Err(HashConfigError::MemoryCostOutOfRange { got: m_cost_kib, min });
        }
        Ok(Self { m_cost_kib, t_cost, p_cost })
    }

    /// Memory cost in KiB.
    pub fn m_cost_kib(&self) -> u32 {
        self.m_cost_kib
    }

    /// Time cost (passes over memory).
    pub fn t_cost(&self) -> u32 {
        self.t_cost
    }

    /// Parallelism (lanes).
    pub fn p_cost(&self) -> u32 {
        self.p_cost
    }
}

impl Default for HashParams {
    fn default() -> Self {
        Self::OWASP_MINIMUM
    }
}

/// OWASP Password Storage Cheat Sheet, Argon2id equivalent minimums for p=1.
fn owasp_min_m_cost(t_cost: u32) -> u32 {
    match t_cost {
        0 | 1 => 47_104,
        2 => 19_456,
        3 => 12_288,
        4 => 9_216,
        _ => 7_168,
    }
}

/// A pepper: a secret key mixed into every hash (Argon2's `secret` input), kept outside the
/// database. Its id is written into each PHC string (`keyid=`), so a rotated-out pepper can
/// still verify old hashes and the hasher knows which key a hash needs.
pub struct Pepper {
    id: Box<str>,
    secret: SecretSlice<u8>,
}

impl Pepper {
    /// A pepper with an id of 1–8 ASCII letters or digits and 16–128 secret bytes (32 random
    /// bytes is the recommendation).
    ///
    /// # Errors
    /// [`HashConfigError::PepperId`] or [`HashConfigError::PepperLength`].
    pub fn new(id: &str, secret: SecretSlice<u8>) -> Result<Self, HashConfigError> {
        if id.is_empty()
            || id.len() > PEPPER_ID_MAX_LEN
            || !id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(HashConfigError::PepperId);
        }
        if !(PEPPER_MIN_LEN..=PEPPER_MAX_LEN).contains(&secret.expose_secret().len()) {
            return Err(HashConfigError::PepperLength);
        }
        Ok(Self { id: id.into(), secret })
    }

    /// The id written into PHC strings.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pepper").field("id", &self.id()).field("secret", &"[REDACTED]").finish()
    }
}

/// A PHC-format hash string, ready to store: `$argon2id$v=19$m=…,t=…,p=…$salt$tag`.
///
/// Its `Debug` output stops before the salt, so logging one does not hand out cracking material.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Consumes the hash and returns the PHC string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl AsRef<str> for PasswordHash {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<PasswordHash> for String {
    fn from(hash: PasswordHash) -> Self {
        hash.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `$alg$v=..$params$salt$tag`: keep the first three fields.
        let head: Vec<&str> = self.0.splitn(5, '$').take(4).collect();
        write!(f, "PasswordHash(\"{}$…\")", head.join("$"))
    }
}

/// The outcome of a successful verification. Only [`PasswordHasher::verify`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    needs_rehash: bool,
}

impl Verified {
    /// The stored hash uses another algorithm, version, parameters, salt or tag length, or pepper
    /// than the current configuration: hash the password again now that it is known, and store
    /// the new hash.
    pub fn needs_rehash(&self) -> bool {
        self.needs_rehash
    }
}

/// Hashing a new password failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// No salt could be drawn from the operating system.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    /// Argon2 refused its inputs (not expected with validated parameters).
    #[error("the password could not be hashed")]
    Internal,
}

/// A verification failed. Treat every variant as "wrong password" towards the user; log the
/// ones other than [`VerifyError::Mismatch`], which mean the stored hash or the configuration is
/// wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The password does not match.
    #[error("the password does not match")]
    Mismatch,
    /// The stored string is not a well-formed PHC Argon2 hash.
    #[error("the stored password hash is malformed: {reason}")]
    MalformedHash {
        /// What is wrong with it (never includes the hash).
        reason: &'static str,
    },
    /// The stored hash names an algorithm or version this hasher does not verify.
    #[error("the stored password hash uses an unsupported algorithm or version")]
    UnsupportedAlgorithm,
    /// The stored hash's parameters are outside the accepted range.
    #[error("the stored password hash has parameters outside the accepted range")]
    ParamsOutOfRange,
    /// The stored hash names a pepper id this hasher was not given.
    #[error("the stored password hash needs a pepper that is not configured")]
    UnknownPepper,
    /// Argon2 refused its inputs.
    #[error("the password could not be verified")]
    Internal,
}

/// Hashes and verifies passwords. Cheap to share (`Arc` or a [`HashingPool`]); every method
/// takes `&self`.
pub struct PasswordHasher {
    params: HashParams,
    pepper: Option<Pepper>,
    retired_peppers: Vec<Pepper>,
    /// A well-formed hash at the current parameters (and pepper id) that no password matches:
    /// verifying against it costs exactly what a real failed verification costs.
    dummy_phc: String,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .field("pepper", &self.pepper)
            .field("retired_peppers", &self.retired_peppers)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher for these parameters and optional pepper. Both arguments were validated when
    /// they were built, so this cannot fail.
    pub fn new(params: HashParams, pepper: Option<Pepper>) -> Self {
        let dummy = phc::PhcHash {
            algorithm: Algorithm::Argon2id,
            version: Version::V0x13,
            m_cost: params.m_cost_kib,
            t_cost: params.t_cost,
            p_cost: params.p_cost,
            keyid: pepper.as_ref().map(|p| p.id.as_bytes().to_vec()),
            data: None,
            // No password has an all-zero Argon2 tag that anyone can find; the salt is fixed
            // because nothing is ever stored under it.
            salt: vec![0; SALT_LEN],
            hash: vec![0; HASH_LEN],
        };
        Self { params, pepper, retired_peppers: Vec::new(), dummy_phc: phc::encode(&dummy) }
    }

    /// Keeps an old pepper so hashes made with it still verify (and report `needs_rehash`).
    ///
    /// # Errors
    /// [`HashConfigError::DuplicatePepperId`] if its id is already known.
    pub fn with_retired_pepper(mut self, pepper: Pepper) -> Result<Self, HashConfigError> {
        let clash = self.pepper.iter().chain(&self.retired_peppers).any(|p| p.id == pepper.id);
        if clash {
            return Err(HashConfigError::DuplicatePepperId);
        }
        self.retired_peppers.push(pepper);
        Ok(self)
    }

    /// The current parameters.
    pub fn params(&self) -> HashParams {
        self.params
    }

    /// Hashes a new password with a fresh random salt, the current parameters and pepper.
    ///
    /// # Errors
    /// [`HashError::Randomness`] if no salt could be drawn.
    pub fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        self.hash_normalized(password.normalized_bytes(), &mut WorkArea::default())
    }

    /// Hashes again, at the current parameters and pepper, a password that has *just verified*
    /// against its stored hash with [`Verified::needs_rehash`] set. It skips the policy on
    /// purpose: the password was accepted when it was set, and refusing a login because the
    /// policy has since tightened would lock the user out rather than protect them. Call it
    /// only with a candidate that `verify` accepted.
    ///
    /// # Errors
    /// [`HashError::Randomness`] if no salt could be drawn.
    pub fn rehash_verified(&self, candidate: &SecretString) -> Result<PasswordHash, HashError> {
        crate::nfkc::with_nfkc(candidate.expose_secret(), |normalized| {
            self.hash_normalized(normalized.as_bytes(), &mut WorkArea::default())
        })
    }

    /// Hashes NFKC-normalised password bytes, in `area` when it is large enough.
    pub(crate) fn hash_normalized(
        &self,
        normalized: &[u8],
        area: &mut WorkArea,
    ) -> Result<PasswordHash, HashError> {
        let mut salt = [0u8; SALT_LEN];
        fill_random(&mut salt)?;
        let mut tag = [0u8; HASH_LEN];
        let work = Work {
            algorithm: Algorithm::Argon2id,
            version: Version::V0x13,
            m_cost: self.params.m_cost_kib,
            t_cost: self.params.t_cost,
            p_cost: self.params.p_cost,
            secret: self.pepper.as_ref().map(|p| p.secret.expose_secret()),
            data: None,
        };
        work.run_in(normalized, &salt, &mut tag, area).map_err(|_| HashError::Internal)?;
        Ok(PasswordHash(phc::encode(&phc::PhcHash {
            algorithm: Algorithm::Argon2id,
            version: Version::V0x13,
            m_cost: self.params.m_cost_kib,
            t_cost: self.params.t_cost,
            p_cost: self.params.p_cost,
            keyid: self.pepper.as_ref().map(|p| p.id.as_bytes().to_vec()),
            data: None,
            salt: salt.to_vec(),
            hash: tag.to_vec(),
        })))
    }

    /// Verifies a password typed at login against a stored PHC string, with the parameters the
    /// string names. The candidate is NFKC-normalised as new passwords are, and is *not*
    /// checked against the password policy. The tag comparison is constant-time.
    ///
    /// Accepts Argon2id, Argon2i and Argon2d, versions 0x10 and 0x13, with or without a pepper
    /// id; anything but the current configuration verifies with `needs_rehash`.
    ///
    /// # Errors
    /// [`VerifyError::Mismatch`] for a wrong password; the other variants for a stored hash
    /// that cannot be checked.
    pub fn verify(&self, candidate: &SecretString, stored: &str) -> Result<Verified, VerifyError> {
        crate::nfkc::with_nfkc(candidate.expose_secret(), |normalized| {
            self.verify_normalized(normalized.as_bytes(), stored, &mut WorkArea::default())
        })
    }

    /// Spends exactly the work of a failed [`verify`](Self::verify) at the current parameters
    /// (the same code path, against a built-in hash no password matches). Call it when the
    /// account does not exist, so response time does not reveal which accounts exist.
    pub fn dummy_verify(&self, candidate: &SecretString) {
        let outcome = self.verify(candidate, &self.dummy_phc);
        // The result is unused by design; keep the optimiser from reasoning the work away.
        std::hint::black_box(outcome).ok();
    }

    /// The built-in hash [`dummy_verify`](Self::dummy_verify) verifies against.
    pub(crate) fn dummy_phc(&self) -> &str {
        &self.dummy_phc
    }

    /// Verifies NFKC-normalised password bytes against a stored PHC string, in `area` when it
    /// is large enough for the parameters the string names.
    pub(crate) fn verify_normalized(
        &self,
        password: &[u8],
        stored: &str,
        area: &mut WorkArea,
    ) -> Result<Verified, VerifyError> {
        let parsed = phc::parse(stored).map_err(|e| match e {
            phc::PhcError::Malformed(reason) => VerifyError::MalformedHash { reason },
            phc::PhcError::Unsupported => VerifyError::UnsupportedAlgorithm,
        })?;
        if parsed.m_cost > MAX_M_COST_KIB
            || parsed.t_cost > MAX_T_COST
            || parsed.p_cost == 0
            || parsed.p_cost > MAX_P_COST
            || parsed.t_cost == 0
            || parsed.m_cost < 8 * parsed.p_cost
        {
            return Err(VerifyError::ParamsOutOfRange);
        }
        let (secret, pepper_is_current) = match &parsed.keyid {
            None => (None, self.pepper.is_none()),
            Some(id) => {
                let current = self.pepper.as_ref().filter(|p| p.id.as_bytes() == id.as_slice());
                let retired =
                    self.retired_peppers.iter().find(|p| p.id.as_bytes() == id.as_slice());
                match (current, retired) {
                    (Some(p), _) => (Some(p.secret.expose_secret()), true),
                    (None, Some(p)) => (Some(p.secret.expose_secret()), false),
                    (None, None) => return Err(VerifyError::UnknownPepper),
                }
            }
        };
        let work = Work {
            algorithm: parsed.algorithm,
            version: parsed.version,
            m_cost: parsed.m_cost,
            t_cost: parsed.t_cost,
            p_cost: parsed.p_cost,
            secret,
            data: parsed.data.as_deref(),
        };
        let mut tag = vec![0u8; parsed.hash.len()];
        work.run_in(password, &parsed.salt, &mut tag, area).map_err(|_| VerifyError::Internal)?;
        if !constant_time_eq(&tag, &parsed.hash) {
            return Err(VerifyError::Mismatch);
        }
        let needs_rehash = parsed.algorithm != Algorithm::Argon2id
            || parsed.version != Version::V0x13
            || parsed.m_cost != self.params.m_cost_kib
            || parsed.t_cost != self.params.t_cost
            || parsed.p_cost != self.params.p_cost
            || parsed.salt.len() != SALT_LEN
            || parsed.hash.len() != HASH_LEN
            || parsed.data.is_some()
            || !pepper_is_current;
        Ok(Verified { needs_rehash })
    }
}

/// One Argon2 computation: every hash and every verification goes through [`Work::run`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Work<'a> {
    pub(crate) algorithm: Algorithm,
    pub(crate) version: Version,
    pub(crate) m_cost: u32,
    pub(crate) t_cost: u32,
    pub(crate) p_cost: u32,
    pub(crate) secret: Option<&'a [u8]>,
    pub(crate) data: Option<&'a [u8]>,
}

/// Argon2's working memory (`m_cost` KiB of 1 KiB blocks), kept by a hashing thread from one
/// computation to the next so that a hash allocates nothing large. Argon2 overwrites every
/// block in its first pass before reading it, so what a previous hash left does not matter.
#[derive(Default)]
pub(crate) struct WorkArea {
    blocks: Vec<Block>,
}

impl WorkArea {
    /// An area large enough for hashes at `params`.
    pub(crate) fn for_params(params: HashParams) -> Self {
        let blocks = usize::try_from(params.m_cost_kib).unwrap_or(0);
        Self { blocks: vec![Block::default(); blocks] }
    }

    /// Its size in blocks (KiB).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.blocks.len()
    }
}

impl fmt::Debug for WorkArea {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkArea").field("kib", &self.blocks.len()).finish()
    }
}

impl Work<'_> {
    /// Runs with memory of its own, allocated for this computation and freed after it.
    pub(crate) fn run(
        &self,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<(), argon2::Error> {
        self.run_in(password, salt, out, &mut WorkArea::default())
    }

    /// Runs in `area` when it holds enough blocks for these parameters (a stored hash at
    /// other parameters may need more); otherwise in memory allocated for this computation.
    pub(crate) fn run_in(
        &self,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
        area: &mut WorkArea,
    ) -> Result<(), argon2::Error> {
        #[cfg(test)]
        work_log::record(self, salt.len(), out.len());
        let mut builder = ParamsBuilder::new();
        builder.m_cost(self.m_cost).t_cost(self.t_cost).p_cost(self.p_cost).output_len(out.len());
        if let Some(data) = self.data {
            builder.data(AssociatedData::new(data)?);
        }
        let params = builder.build()?;
        let argon2 = match self.secret {
            Some(secret) => Argon2::new_with_secret(secret, self.algorithm, self.version, params)?,
            None => Argon2::new(self.algorithm, self.version, params),
        };
        let needed = argon2.params().block_count();
        match area.blocks.get_mut(..needed) {
            Some(blocks) => argon2.hash_password_into_with_memory(password, salt, out, blocks),
            None => argon2.hash_password_into(password, salt, out),
        }
    }
}

/// Test-only record of every Argon2 computation on this thread, so tests can compare the work
/// two calls did by its parameters instead of by timing.
#[cfg(test)]
pub(crate) mod work_log {
    use std::cell::RefCell;

    use super::Work;

    /// What one computation cost: everything that determines Argon2's running time.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) struct Entry {
        pub(crate) algorithm: argon2::Algorithm,
        pub(crate) version: argon2::Version,
        pub(crate) m_cost: u32,
        pub(crate) t_cost: u32,
        pub(crate) p_cost: u32,
        pub(crate) peppered: bool,
        pub(crate) salt_len: usize,
        pub(crate) out_len: usize,
    }

    thread_local! {
        static LOG: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
    }

    pub(crate) fn record(work: &Work<'_>, salt_len: usize, out_len: usize) {
        LOG.with(|log| {
            log.borrow_mut().push(Entry {
                algorithm: work.algorithm,
                version: work.version,
                m_cost: work.m_cost,
                t_cost: work.t_cost,
                p_cost: work.p_cost,
                peppered: work.secret.is_some(),
                salt_len,
                out_len,
            });
        });
    }

    /// Returns and clears this thread's log.
    pub(crate) fn take() -> Vec<Entry> {
        LOG.with(|log| std::mem::take(&mut *log.borrow_mut()))
    }
}

#[cfg(test)]
mod tests;
