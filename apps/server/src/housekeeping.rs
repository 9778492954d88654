//! Housekeeping: deletes rows that no rule will ever read again, so that the auth tables stay
//! the size of what is in use rather than growing with every session and every name tried.
//!
//! - sessions past their idle or absolute timeout (otherwise deleted only when presented);
//! - pending second-factor steps and TOTP enrollments past their expiry (otherwise deleted
//!   only at the account's next login or enrollment);
//! - login-failure counters that are *stale*: their failures have decayed (no failure counted
//!   for `auth.throttle_reset_secs`, which is never shorter than the longest back-off, so their
//!   back-off has ended too) and they do not mark an address the account signed in from. A
//!   counter still in force is never deleted, so deleting cannot lift a back-off or a limit;
//! - audit chain heads (`audit_heads`) of trails not written for
//!   [`AUDIT_HEAD_RETENTION_SECS`]: each Kubernetes pod records its own under its pod name, which
//!   is never used again once the pod is gone. A server's head is rewritten whenever it writes
//!   an audit line, and it writes one at every start;
//! - the one-time tokens of mail (`account_tokens`) past their expiry (a used one is deleted
//!   when used);
//! - mail the outbox gave up on, [`FAILED_MAIL_RETENTION_SECS`] after it did (a sent message
//!   is deleted when sent).
//!
//! Every replica runs it ([`spawn`], every `auth.housekeeping_interval_secs`). Each batch of at
//! most `auth.housekeeping_batch_size` rows is claimed so that replicas running at once do not
//! fight over rows: on PostgreSQL the batch is selected `FOR UPDATE SKIP LOCKED` (a row one
//! replica is deleting is skipped by the other, and a row changed since it was selected is
//! checked again), on SQLite each batch is an immediate transaction (the write lock is taken
//! first, so batches take turns). Deleting is the only write, so a row is deleted once and
//! counted once, whichever replica got it.

use std::sync::{Arc, Weak};
use std::time::Duration;

use sec_auth::{Auth, AuthConfig};
use sec_config::Settings;

use crate::db::housekeeping::{
    ACCOUNT_TOKENS, AUDIT_HEADS, FAILED_MAIL, MFA_CHALLENGES, Rule, SESSIONS, THROTTLE_COUNTERS,
    TOTP_ENROLLMENTS, delete_batch,
};
use crate::db::{Db, DbError};

/// Most batches one run deletes from one table: a run stays short, and what is left waits for
/// the next run.
const MAX_BATCHES_PER_TABLE: u32 = 100;

/// How long the audit chain head of a trail that had nothing written stays recorded: 400 days.
/// A server stopped for longer starts without the tail check (docs/audit.md).
pub const AUDIT_HEAD_RETENTION_SECS: i64 = 400 * 24 * 60 * 60;

/// How long a message the outbox gave up on stays in the table for an operator to see (`server
/// mail status`): 7 days.
pub const FAILED_MAIL_RETENTION_SECS: i64 = 7 * 24 * 60 * 60;

/// How many rows one run deleted, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Expired sessions.
    pub sessions: u64,
    /// Expired pending second-factor steps.
    pub mfa_challenges: u64,
    /// Expired pending TOTP enrollments.
    pub totp_enrollments: u64,
    /// Stale login-failure counters.
    pub throttle_counters: u64,
    /// Audit chain heads of trails silent for [`AUDIT_HEAD_RETENTION_SECS`].
    pub audit_heads: u64,
    /// Expired one-time tokens of mail.
    pub account_tokens: u64,
    /// Mail given up on more than [`FAILED_MAIL_RETENTION_SECS`] ago.
    pub failed_mail: u64,
}

impl Swept {
    /// Rows deleted in all.
    pub fn total(&self) -> u64 {
        self.sessions
            + self.mfa_challenges
            + self.totp_enrollments
            + self.throttle_counters
            + self.audit_heads
            + self.account_tokens
            + self.failed_mail
    }
}

/// Deletes what has expired at `now` under `config`'s lifetimes, in batches of at most
/// `batch` rows. Safe to run on several replicas at once (see the module comment).
///
/// # Errors
/// A database failure; batches committed before it stay deleted.
pub fn sweep(db: &Db, config: &AuthConfig, now: i64, batch: u32) -> Result<Swept, DbError> {
    let sessions = &config.sessions;
    Ok(Swept {
        sessions: sweep_table(
            db,
            &SESSIONS,
            &[sessions.idle_cutoff(now), sessions.absolute_cutoff(now)],
            batch,
        )?,
        mfa_challenges: sweep_table(db, &MFA_CHALLENGES, &[now], batch)?,
        totp_enrollments: sweep_table(db, &TOTP_ENROLLMENTS, &[now], batch)?,
        throttle_counters: sweep_table(
            db,
            &THROTTLE_COUNTERS,
            &[config.throttle.forget_before(now)],
            batch,
        )?,
        audit_heads: sweep_table(
            db,
            &AUDIT_HEADS,
            &[now.saturating_sub(AUDIT_HEAD_RETENTION_SECS)],
            batch,
        )?,
        account_tokens: sweep_table(db, &ACCOUNT_TOKENS, &[now], batch)?,
        failed_mail: sweep_table(
            db,
            &FAILED_MAIL,
            &[now.saturating_sub(FAILED_MAIL_RETENTION_SECS)],
            batch,
        )?,
    })
}

fn sweep_table(db: &Db, rule: &Rule, binds: &[i64], batch: u32) -> Result<u64, DbError> {
    let mut deleted = 0;
    for _ in 0..MAX_BATCHES_PER_TABLE {
        let n = db.run_blocking(|conn| delete_batch(conn, rule, binds, batch))?;
        deleted += n;
        if n < u64::from(batch) {
            break;
        }
    }
    Ok(deleted)
}

/// Starts the periodic housekeeping on the current runtime: a run at once, then one every
/// `auth.housekeeping_interval_secs`, until `auth` (the running app's rules) is dropped. Time
/// is read from the rules' clock. Counts are logged at `info` when anything was deleted; a
/// failed run is logged and the next one tries again.
pub fn spawn(db: Db, auth: &Arc<Auth>, settings: &Settings) {
    let rules: Weak<Auth> = Arc::downgrade(auth);
    let every = Duration::from_secs(settings.auth().housekeeping_interval_secs());
    let batch = settings.auth().housekeeping_batch_size();
    actix_web::rt::spawn(async move {
        let mut ticks = actix_web::rt::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(auth) = rules.upgrade() else { break };
            let (config, now) = (auth.config().clone(), auth.now());
            drop(auth);
            let db = db.clone();
            let outcome = crate::blocking::run(move || sweep(&db, &config, now, batch)).await;
            match outcome {
                Ok(Ok(swept)) if swept.total() > 0 => tracing::info!(
                    sessions = swept.sessions,
                    mfa_challenges = swept.mfa_challenges,
                    totp_enrollments = swept.totp_enrollments,
                    throttle_counters = swept.throttle_counters,
                    audit_heads = swept.audit_heads,
                    account_tokens = swept.account_tokens,
                    failed_mail = swept.failed_mail,
                    "housekeeping deleted expired rows"
                ),
                Ok(Ok(_)) => tracing::debug!("housekeeping found nothing to delete"),
                Ok(Err(e)) => tracing::warn!(error = %e, "housekeeping run failed"),
                Err(_) => tracing::warn!("housekeeping task failed"),
            }
        }
    });
}
