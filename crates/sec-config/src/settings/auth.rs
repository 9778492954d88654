//! Account, session and password-hashing settings: the `auth` section, its raw form and its
//! checks.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::in_range;
use crate::env::AppEnv;
use crate::keyring::KeyRing;
use crate::problem::Problem;

/// Longest `auth.totp_issuer`, in characters (authenticator apps show it in a list).
const TOTP_ISSUER_MAX_CHARS: usize = 64;

/// How often a session's `last_seen_at` is written at most, in seconds: the store is spared a
/// write per request, so the recorded last use lags the real one by up to this much. Not a
/// setting; the idle timeout is checked against it (it must be at least twice as long).
pub const SESSION_TOUCH_INTERVAL_SECS: u64 = 60;

/// Account, session and password-hashing settings.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    session_idle_timeout_secs: u64,
    session_absolute_timeout_secs: u64,
    password_min_chars: usize,
    argon2_memory_kib: u32,
    argon2_iterations: u32,
    argon2_parallelism: u32,
    hash_wait: Duration,
    hash_concurrency: Option<usize>,
    hash_queue: usize,
    reauth_window_secs: u64,
    admin_requires_mfa: bool,
    require_verified_email: bool,
    verify_email_ttl_secs: u64,
    password_reset_ttl_secs: u64,
    totp_issuer: String,
    // The loader fills these two after validation: from the file `auth.mfa_keys_file` names,
    // or with the development key ring it keeps under the var folder.
    pub(super) mfa_keys: Option<KeyRing>,
    pub(super) mfa_keys_file: Option<PathBuf>,
    throttle_base_delay_secs: u64,
    throttle_max_delay_secs: u64,
    throttle_hard_limit: u32,
    throttle_reset_secs: u64,
    max_sessions_per_account: u32,
    housekeeping_interval_secs: u64,
    housekeeping_batch_size: u32,
}

impl AuthSettings {
    /// A session unused this long ends (`auth.session_idle_timeout_secs`, default 1800).
    pub fn session_idle_timeout_secs(&self) -> u64 {
        self.session_idle_timeout_secs
    }

    /// Least time between two writes of a session's `last_seen_at`
    /// ([`SESSION_TOUCH_INTERVAL_SECS`]).
    pub fn session_touch_interval_secs(&self) -> u64 {
        SESSION_TOUCH_INTERVAL_SECS
    }

    /// A session this old ends however busy it is (`auth.session_absolute_timeout_secs`,
    /// default 43200 = 12 h).
    pub fn session_absolute_timeout_secs(&self) -> u64 {
        self.session_absolute_timeout_secs
    }

    /// Shortest new password, in characters (`auth.password_min_chars`, default 15, never
    /// below 8).
    pub fn password_min_chars(&self) -> usize {
        self.password_min_chars
    }

    /// Argon2id memory cost in KiB (`auth.argon2_memory_kib`, default 19456).
    pub fn argon2_memory_kib(&self) -> u32 {
        self.argon2_memory_kib
    }

    /// Argon2id passes (`auth.argon2_iterations`, default 2).
    pub fn argon2_iterations(&self) -> u32 {
        self.argon2_iterations
    }

    /// Argon2id lanes (`auth.argon2_parallelism`, default 1).
    pub fn argon2_parallelism(&self) -> u32 {
        self.argon2_parallelism
    }

    /// How long a login waits for a free hashing slot before answering 503
    /// (`auth.hash_wait_ms`, default 5000).
    pub fn hash_wait(&self) -> Duration {
        self.hash_wait
    }

    /// Most password hashes computed at once (`auth.hash_concurrency`); `None` (the default)
    /// lets the app choose from the number of cores.
    pub fn hash_concurrency(&self) -> Option<usize> {
        self.hash_concurrency
    }

    /// Logins and registrations that may wait for a hashing thread beyond those hashing
    /// (`auth.hash_queue`, default 64); one more is answered 503 `busy` at once.
    pub fn hash_queue(&self) -> usize {
        self.hash_queue
    }

    /// Sensitive actions need an authentication at most this old, in seconds
    /// (`auth.reauth_window_secs`, default 600).
    pub fn reauth_window_secs(&self) -> u64 {
        self.reauth_window_secs
    }

    /// First login back-off delay once the free failures are used up
    /// (`auth.throttle_base_delay_secs`, default 1); it doubles per further failure.
    pub fn throttle_base_delay_secs(&self) -> u64 {
        self.throttle_base_delay_secs
    }

    /// Longest login back-off delay (`auth.throttle_max_delay_secs`, default 900).
    pub fn throttle_max_delay_secs(&self) -> u64 {
        self.throttle_max_delay_secs
    }

    /// Consecutive failures after which an account refuses every address that never signed
    /// in to it (`auth.throttle_hard_limit`, default 100, the NIST SP 800-63B maximum; at
    /// least 11, above the 10 free account-wide failures).
    pub fn throttle_hard_limit(&self) -> u32 {
        self.throttle_hard_limit
    }

    /// Seconds without a counted failure after which a failure counter is forgotten, which
    /// also ends a hard limit (`auth.throttle_reset_secs`, default 86400; at least
    /// `auth.throttle_max_delay_secs`).
    pub fn throttle_reset_secs(&self) -> u64 {
        self.throttle_reset_secs
    }

    /// Most sessions one account may hold; a new one beyond it ends the oldest first
    /// (`auth.max_sessions_per_account`, default 10).
    pub fn max_sessions_per_account(&self) -> u32 {
        self.max_sessions_per_account
    }

    /// How often each instance deletes expired sessions, MFA steps and enrollments and stale
    /// throttle counters, in seconds (`auth.housekeeping_interval_secs`, default 300).
    pub fn housekeeping_interval_secs(&self) -> u64 {
        self.housekeeping_interval_secs
    }

    /// Most rows one housekeeping transaction deletes from one table
    /// (`auth.housekeeping_batch_size`, default 500).
    pub fn housekeeping_batch_size(&self) -> u32 {
        self.housekeeping_batch_size
    }

    /// Whether administration needs an active second factor (`auth.admin_requires_mfa`,
    /// default true).
    pub fn admin_requires_mfa(&self) -> bool {
        self.admin_requires_mfa
    }

    /// Whether an account whose address is not verified is refused at sign-in
    /// (`auth.require_verified_email`; default true in production, false elsewhere).
    pub fn require_verified_email(&self) -> bool {
        self.require_verified_email
    }

    /// How long an address-verification link works, in seconds
    /// (`auth.verify_email_ttl_secs`, default 86400: 24 hours).
    pub fn verify_email_ttl_secs(&self) -> u64 {
        self.verify_email_ttl_secs
    }

    /// How long a password-reset link works, in seconds (`auth.password_reset_ttl_secs`,
    /// default 1800: 30 minutes).
    pub fn password_reset_ttl_secs(&self) -> u64 {
        self.password_reset_ttl_secs
    }

    /// The issuer named in TOTP enrollment URIs (`auth.totp_issuer`, default `server`).
    pub fn totp_issuer(&self) -> &str {
        &self.totp_issuer
    }

    /// The key ring that seals TOTP secrets at rest, newest first (`auth.mfa_keys`, a secret:
    /// from the secrets file or `APP__AUTH__MFA_KEYS`; generated under `./var` in
    /// development). `None` when none is configured: MFA is then unavailable.
    pub fn mfa_keys(&self) -> Option<&KeyRing> {
        self.mfa_keys.as_ref()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawAuth {
    session_idle_timeout_secs: Option<u64>,
    session_absolute_timeout_secs: Option<u64>,
    password_min_chars: Option<usize>,
    argon2_memory_kib: Option<u32>,
    argon2_iterations: Option<u32>,
    argon2_parallelism: Option<u32>,
    hash_wait_ms: Option<u64>,
    hash_concurrency: Option<usize>,
    hash_queue: Option<usize>,
    reauth_window_secs: Option<u64>,
    admin_requires_mfa: Option<bool>,
    require_verified_email: Option<bool>,
    verify_email_ttl_secs: Option<u64>,
    password_reset_ttl_secs: Option<u64>,
    totp_issuer: Option<String>,
    mfa_keys: Option<String>,
    mfa_keys_file: Option<String>,
    throttle_base_delay_secs: Option<u64>,
    throttle_max_delay_secs: Option<u64>,
    throttle_hard_limit: Option<u32>,
    throttle_reset_secs: Option<u64>,
    max_sessions_per_account: Option<u32>,
    housekeeping_interval_secs: Option<u64>,
    housekeeping_batch_size: Option<u32>,
}

/// `auth.mfa_keys_file`: a path, and only when `auth.mfa_keys` is not set too (which one wins
/// would be a guess). The file is read by
/// [`Settings::load`](super::Settings::load).
fn validate_mfa_keys_file(raw: &RawAuth, problems: &mut Vec<Problem>) -> Option<PathBuf> {
    let file = raw.mfa_keys_file.as_deref()?;
    if file.trim().is_empty() {
        problems.push(Problem::new("auth.mfa_keys_file", "must not be empty when set"));
        return None;
    }
    if raw.mfa_keys.as_deref().is_some_and(|k| !k.trim().is_empty()) {
        problems.push(Problem::new(
            "auth.mfa_keys_file",
            "auth.mfa_keys is set too: keep one of the two",
        ));
        return None;
    }
    Some(PathBuf::from(file))
}

/// The `auth` section. Every problem is pushed; the value is only used when there are none.
pub(super) fn validate(raw: &RawAuth, env: AppEnv, problems: &mut Vec<Problem>) -> AuthSettings {
    let idle = in_range(
        "auth.session_idle_timeout_secs",
        raw.session_idle_timeout_secs,
        1800,
        60,
        86_400,
        problems,
    );
    let absolute = in_range(
        "auth.session_absolute_timeout_secs",
        raw.session_absolute_timeout_secs,
        43_200,
        300,
        30 * 86_400,
        problems,
    );
    if idle > absolute {
        problems.push(Problem::new(
            "auth.session_idle_timeout_secs",
            format!("must not exceed auth.session_absolute_timeout_secs ({absolute})"),
        ));
    }
    // The last use is recorded at most once per touch interval, so a session can end after
    // `idle - touch` seconds of real inactivity: at or below the interval, sessions in use
    // would end; twice the interval keeps a full interval of grace.
    let least_idle = SESSION_TOUCH_INTERVAL_SECS.saturating_mul(2);
    if idle < least_idle {
        problems.push(Problem::new(
            "auth.session_idle_timeout_secs",
            format!(
                "must be at least {least_idle} (twice the {SESSION_TOUCH_INTERVAL_SECS} s \
                 interval at which a session's last use is recorded; a shorter idle timeout \
                 ends sessions that are in use)"
            ),
        ));
    }
    let memory =
        in_range("auth.argon2_memory_kib", raw.argon2_memory_kib, 19_456, 8, 4_194_304, problems);
    let iterations = in_range("auth.argon2_iterations", raw.argon2_iterations, 2, 1, 64, problems);
    let parallelism =
        in_range("auth.argon2_parallelism", raw.argon2_parallelism, 1, 1, 16, problems);
    // sec-core refuses anything weaker than the OWASP table (m=47104/t=1 ... m=7168/t=5) in
    // every environment: a weak hash is as bad on a laptop whose database gets copied.
    if let Err(e) = sec_core::HashParams::new(memory, iterations, parallelism) {
        problems.push(Problem::new("auth.argon2_memory_kib", e.to_string()));
    }
    let base_delay = in_range(
        "auth.throttle_base_delay_secs",
        raw.throttle_base_delay_secs,
        1,
        1,
        3600,
        problems,
    );
    let max_delay = in_range(
        "auth.throttle_max_delay_secs",
        raw.throttle_max_delay_secs,
        900,
        1,
        86_400,
        problems,
    );
    if base_delay > max_delay {
        problems.push(Problem::new(
            "auth.throttle_base_delay_secs",
            format!("must not exceed auth.throttle_max_delay_secs ({max_delay})"),
        ));
    }
    let reset = in_range(
        "auth.throttle_reset_secs",
        raw.throttle_reset_secs,
        86_400,
        1,
        30 * 86_400,
        problems,
    );
    // A counter forgotten before its back-off ends would let an attacker wait out the decay
    // instead of the back-off.
    if reset < max_delay {
        problems.push(Problem::new(
            "auth.throttle_reset_secs",
            format!("must not be below auth.throttle_max_delay_secs ({max_delay})"),
        ));
    }
    AuthSettings {
        session_idle_timeout_secs: idle,
        session_absolute_timeout_secs: absolute,
        password_min_chars: in_range(
            "auth.password_min_chars",
            raw.password_min_chars,
            15,
            8,
            128,
            problems,
        ),
        argon2_memory_kib: memory,
        argon2_iterations: iterations,
        argon2_parallelism: parallelism,
        hash_wait: Duration::from_millis(in_range(
            "auth.hash_wait_ms",
            raw.hash_wait_ms,
            5000,
            10,
            60_000,
            problems,
        )),
        hash_concurrency: raw
            .hash_concurrency
            .map(|n| in_range("auth.hash_concurrency", Some(n), n, 1, 256, problems)),
        hash_queue: in_range("auth.hash_queue", raw.hash_queue, 64, 0, 4096, problems),
        reauth_window_secs: in_range(
            "auth.reauth_window_secs",
            raw.reauth_window_secs,
            600,
            30,
            86_400,
            problems,
        ),
        admin_requires_mfa: raw.admin_requires_mfa.unwrap_or(true),
        require_verified_email: raw
            .require_verified_email
            .unwrap_or(matches!(env, AppEnv::Production)),
        verify_email_ttl_secs: in_range(
            "auth.verify_email_ttl_secs",
            raw.verify_email_ttl_secs,
            86_400,
            300,
            7 * 86_400,
            problems,
        ),
        password_reset_ttl_secs: in_range(
            "auth.password_reset_ttl_secs",
            raw.password_reset_ttl_secs,
            1800,
            300,
            86_400,
            problems,
        ),
        totp_issuer: validate_issuer(raw.totp_issuer.as_deref(), problems),
        // The message names the setting, never the value: it is a key list.
        mfa_keys: raw.mfa_keys.as_deref().filter(|k| !k.trim().is_empty()).and_then(|text| {
            KeyRing::parse_list(text)
                .map_err(|e| problems.push(Problem::new("auth.mfa_keys", e.to_string())))
                .ok()
        }),
        mfa_keys_file: validate_mfa_keys_file(raw, problems),
        throttle_base_delay_secs: base_delay,
        throttle_max_delay_secs: max_delay,
        throttle_hard_limit: in_range(
            "auth.throttle_hard_limit",
            raw.throttle_hard_limit,
            100,
            11,
            100,
            problems,
        ),
        throttle_reset_secs: reset,
        max_sessions_per_account: in_range(
            "auth.max_sessions_per_account",
            raw.max_sessions_per_account,
            10,
            1,
            1000,
            problems,
        ),
        housekeeping_interval_secs: in_range(
            "auth.housekeeping_interval_secs",
            raw.housekeeping_interval_secs,
            300,
            1,
            86_400,
            problems,
        ),
        housekeeping_batch_size: in_range(
            "auth.housekeeping_batch_size",
            raw.housekeeping_batch_size,
            500,
            1,
            10_000,
            problems,
        ),
    }
}

/// The issuer goes into the label of the `otpauth://` URI (`issuer:account`), where a colon
/// would split it wrongly, and into authenticator apps' lists.
fn validate_issuer(raw: Option<&str>, problems: &mut Vec<Problem>) -> String {
    let issuer = raw.unwrap_or("server").trim();
    let chars = issuer.chars().count();
    if chars == 0 || chars > TOTP_ISSUER_MAX_CHARS {
        problems.push(Problem::new(
            "auth.totp_issuer",
            format!("must have 1 to {TOTP_ISSUER_MAX_CHARS} characters"),
        ));
    } else if issuer.chars().any(|c| c == ':' || c.is_control()) {
        problems
            .push(Problem::new("auth.totp_issuer", "must not contain ':' or control characters"));
    }
    issuer.to_owned()
}
