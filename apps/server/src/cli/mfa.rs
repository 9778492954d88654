//! `server mfa keygen|reseal`: the key that seals TOTP secrets at rest (`auth.mfa_keys`).
//!
//! Rotation, with the reason for each step: generate a key (`keygen`) and put it *first* in
//! `auth.mfa_keys`, keeping the old one after it (`printf %s "NEW,OLD" | server secrets set
//! auth.mfa_keys`), so new secrets are sealed with NEW while old ones still open; roll that
//! out; run `reseal`, which seals every stored secret again with NEW (secrets are also resealed
//! one by one when next used); then remove OLD from the list.

use anyhow::Context;
use clap::Subcommand;
use sec_config::{MasterKey, Settings};
use secrecy::ExposeSecret;

use crate::db::{Db, DbError, mfa};

/// `server mfa ...`.
#[derive(Debug, Subcommand)]
pub enum MfaCommand {
    /// Print a new random MFA key (a Fernet key) once on standard output, to put first in
    /// auth.mfa_keys: `server mfa keygen | server secrets set auth.mfa_keys` for a first key,
    /// or `(umask 077; server mfa keygen > FILE)` for the owner-only file that
    /// auth.mfa_keys_file (APP__AUTH__MFA_KEYS_FILE) names.
    Keygen,
    /// Seal every stored TOTP secret (active and pending enrollments) again with the newest key
    /// of auth.mfa_keys, so that older keys can be removed from the list. Prints how many were
    /// resealed; a secret no configured key opens is counted and left alone.
    Reseal,
}

/// `server mfa keygen`: needs no settings.
///
/// # Errors
/// The OS random number generator failed.
pub fn keygen() -> anyhow::Result<()> {
    let key = MasterKey::generate().context("cannot generate a key")?;
    #[allow(clippy::print_stdout, reason = "the command's output is the key, shown once")]
    {
        println!("{}", key.encoded().expose_secret());
    }
    Ok(())
}

/// Outcome of [`reseal`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Sealed again with the newest key.
    pub resealed: usize,
    /// Already sealed with the newest key.
    pub current: usize,
    /// No configured key opens them.
    pub unreadable: usize,
}

/// `server mfa reseal`.
///
/// # Errors
/// No MFA key configured, or the database fails.
pub fn run_reseal(settings: &Settings) -> anyhow::Result<()> {
    let db = Db::for_command(settings.database()).context("cannot open the database")?;
    let outcome = reseal(settings, &db)?;
    tracing::info!(?outcome, "MFA secrets resealed");
    #[allow(clippy::print_stdout, reason = "the command's result, for the terminal")]
    {
        println!(
            "resealed {} TOTP secret(s) with the newest key; {} already were; {} opened by no \
             configured key",
            outcome.resealed, outcome.current, outcome.unreadable
        );
    }
    if outcome.unreadable > 0 {
        anyhow::bail!("{} secret(s) could not be opened: keep the old keys", outcome.unreadable);
    }
    Ok(())
}

/// Reseals every stored secret with the newest key of the configured ring. Each update is
/// conditional on the old value, so a secret changed meanwhile by the running server (a
/// login resealing it, an enrollment) is left to that change.
///
/// # Errors
/// No MFA key configured, or the database fails.
pub fn reseal(settings: &Settings, db: &Db) -> anyhow::Result<Resealed> {
    let ring = settings
        .auth()
        .mfa_keys()
        .context("no MFA key is configured (auth.mfa_keys): nothing to reseal with")?
        .clone();
    let outcome = db.run_blocking(move |conn| {
        let mut out = Resealed::default();
        let active = mfa::sealed_totp_secrets(conn)?;
        let pending = mfa::sealed_pending_secrets(conn)?;
        for (table_active, rows) in [(true, active), (false, pending)] {
            for (user, sealed) in rows {
                let Ok(opened) = ring.decrypt(&sealed) else {
                    out.unreadable += 1;
                    continue;
                };
                if opened.key_index() == 0 {
                    out.current += 1;
                    continue;
                }
                let fresh = ring
                    .encrypt(opened.plaintext().expose_secret())
                    .map_err(DbError::step_failed)?;
                let n = if table_active {
                    mfa::reseal_totp(conn, &user, &sealed, &fresh)?
                } else {
                    mfa::reseal_pending_totp(conn, &user, &sealed, &fresh)?
                };
                out.resealed += n;
            }
        }
        Ok(out)
    })?;
    Ok(outcome)
}
