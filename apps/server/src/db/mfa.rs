//! Storage of the second factor: active TOTP factors (`mfa_totp`), pending enrollments
//! (`mfa_totp_pending`), recovery codes (`mfa_recovery_codes`, as hashes) and pending
//! second-factor login steps (`mfa_challenges`). TOTP secrets arrive sealed; nothing here can
//! open them.
//!
//! Whatever must happen once (a TOTP step accepted, a recovery code used, a step completed, an
//! enrollment activated) is one conditional write or delete, so that of two requests on any
//! replicas exactly one succeeds.

use diesel::prelude::*;
use sec_auth::{
    Activation, MfaChallenge, PendingTotp, RecoveryCodeHash, TokenHash, TotpRecord, UserRecord,
};

use super::error::{REFUSED, Tx, committed, corrupt};
use super::schema::{mfa_challenges, mfa_recovery_codes, mfa_totp, mfa_totp_pending, users};
use super::users::UserRow;
use super::{DbConnection, DbError};

/// The active factor of `user`.
pub(super) fn totp_of(conn: &mut DbConnection, user: &str) -> Result<Option<TotpRecord>, DbError> {
    let row: Option<(String, i64, i64)> = mfa_totp::table
        .find(user)
        .select((mfa_totp::secret_sealed, mfa_totp::last_step, mfa_totp::enabled_at))
        .first(conn)
        .optional()?;
    Ok(row.map(|(sealed_secret, last_step, enabled_at)| TotpRecord {
        sealed_secret,
        last_step,
        enabled_at,
    }))
}

/// Moves the last accepted step of `user` to `step` if it is later; true when it did.
pub(super) fn accept_totp_step(
    conn: &mut DbConnection,
    user: &str,
    step: i64,
) -> Result<bool, DbError> {
    // One conditional write: of two requests presenting the same step, on any replicas,
    // the database lets exactly one move `last_step`.
    let n = diesel::update(mfa_totp::table.find(user).filter(mfa_totp::last_step.lt(step)))
        .set(mfa_totp::last_step.eq(step))
        .execute(conn)?;
    Ok(n == 1)
}

/// Every active factor's sealed secret, with its account id (for `server mfa reseal`).
pub(crate) fn sealed_totp_secrets(
    conn: &mut DbConnection,
) -> Result<Vec<(String, String)>, DbError> {
    Ok(mfa_totp::table.select((mfa_totp::user_id, mfa_totp::secret_sealed)).load(conn)?)
}

/// Every pending enrollment's sealed secret, with its account id (for `server mfa reseal`).
pub(crate) fn sealed_pending_secrets(
    conn: &mut DbConnection,
) -> Result<Vec<(String, String)>, DbError> {
    Ok(mfa_totp_pending::table
        .select((mfa_totp_pending::user_id, mfa_totp_pending::secret_sealed))
        .load(conn)?)
}

/// Replaces the sealed secret of the active factor of `user` if it still is `old`; returns
/// how many rows changed (0 or 1).
pub(crate) fn reseal_totp(
    conn: &mut DbConnection,
    user: &str,
    old: &str,
    new: &str,
) -> Result<usize, DbError> {
    Ok(diesel::update(mfa_totp::table.find(user).filter(mfa_totp::secret_sealed.eq(old)))
        .set(mfa_totp::secret_sealed.eq(new))
        .execute(conn)?)
}

/// Replaces the sealed secret of the pending enrollment of `user` if it still is `old`;
/// returns how many rows changed (0 or 1).
pub(crate) fn reseal_pending_totp(
    conn: &mut DbConnection,
    user: &str,
    old: &str,
    new: &str,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        mfa_totp_pending::table.find(user).filter(mfa_totp_pending::secret_sealed.eq(old)),
    )
    .set(mfa_totp_pending::secret_sealed.eq(new))
    .execute(conn)?)
}

/// Stores the pending enrollment of `user`, replacing any earlier one.
pub(super) fn put_pending_totp(
    conn: &mut DbConnection,
    user: &str,
    pending: &PendingTotp,
) -> Result<(), DbError> {
    conn.transaction(|conn| {
        diesel::delete(mfa_totp_pending::table.find(user)).execute(conn)?;
        diesel::insert_into(mfa_totp_pending::table)
            .values((
                mfa_totp_pending::user_id.eq(user),
                mfa_totp_pending::secret_sealed.eq(&pending.sealed_secret),
                mfa_totp_pending::created_at.eq(pending.created_at),
                mfa_totp_pending::expires_at.eq(pending.expires_at),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// The pending enrollment of `user`.
pub(super) fn pending_totp_of(
    conn: &mut DbConnection,
    user: &str,
) -> Result<Option<PendingTotp>, DbError> {
    let row: Option<(String, i64, i64)> = mfa_totp_pending::table
        .find(user)
        .select((
            mfa_totp_pending::secret_sealed,
            mfa_totp_pending::created_at,
            mfa_totp_pending::expires_at,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(sealed_secret, created_at, expires_at)| PendingTotp {
        sealed_secret,
        created_at,
        expires_at,
    }))
}

/// Turns the checked enrollment into the active factor with its recovery codes (inside the
/// caller's transaction); refuses when the enrollment is gone or changed, or when the factor
/// it replaces is not the one the rules saw.
pub(super) fn activate_totp(
    conn: &mut DbConnection,
    user: &str,
    activation: &Activation<'_>,
) -> Result<(), Tx> {
    let active = activation.active;
    // The write first (see `db/auth_store.rs`): only the enrollment that was checked may be
    // activated, once.
    let taken = diesel::delete(
        mfa_totp_pending::table
            .find(user)
            .filter(mfa_totp_pending::secret_sealed.eq(activation.pending_sealed)),
    )
    .execute(conn)?;
    if taken != 1 {
        return Err(REFUSED);
    }
    // The factor the rules saw is the factor replaced: a first enrollment must not
    // overwrite a factor confirmed meanwhile without the proof that demands.
    let replaced = diesel::delete(mfa_totp::table.find(user)).execute(conn)?;
    if (replaced == 1) != activation.replacing {
        return Err(REFUSED);
    }
    diesel::insert_into(mfa_totp::table)
        .values((
            mfa_totp::user_id.eq(user),
            mfa_totp::secret_sealed.eq(&active.sealed_secret),
            mfa_totp::last_step.eq(active.last_step),
            mfa_totp::enabled_at.eq(active.enabled_at),
        ))
        .execute(conn)?;
    store_recovery_codes(conn, user, activation.codes, activation.now)
}

/// Removes the second factor of `user` with everything that belongs to it: the active factor,
/// a pending enrollment, the recovery codes and pending steps (inside the caller's
/// transaction); refuses when no factor was active.
pub(super) fn remove_totp(conn: &mut DbConnection, user: &str) -> Result<(), Tx> {
    let removed = diesel::delete(mfa_totp::table.find(user)).execute(conn)?;
    if removed != 1 {
        return Err(REFUSED);
    }
    diesel::delete(mfa_totp_pending::table.find(user)).execute(conn)?;
    diesel::delete(mfa_recovery_codes::table.filter(mfa_recovery_codes::user_id.eq(user)))
        .execute(conn)?;
    diesel::delete(mfa_challenges::table.filter(mfa_challenges::user_id.eq(user))).execute(conn)?;
    Ok(())
}

/// Deletes the pending second-factor steps of `user` (inside the caller's transaction): after a
/// password reset, no login that passed the old password may go on.
pub(super) fn delete_challenges_of(conn: &mut DbConnection, user: &str) -> Result<(), DbError> {
    diesel::delete(mfa_challenges::table.filter(mfa_challenges::user_id.eq(user))).execute(conn)?;
    Ok(())
}

/// Replaces the recovery codes of `user` if TOTP is active; true when it was.
pub(super) fn replace_recovery_codes(
    conn: &mut DbConnection,
    user: &str,
    codes: &[RecoveryCodeHash],
    now: i64,
) -> Result<bool, DbError> {
    let done = conn.transaction(|conn| {
        // A write that changes nothing, first: it takes SQLite's write lock and tells
        // whether TOTP is active, in one statement.
        let active = diesel::update(mfa_totp::table.find(user))
            .set(mfa_totp::last_step.eq(mfa_totp::last_step))
            .execute(conn)?;
        if active != 1 {
            return Err(REFUSED);
        }
        store_recovery_codes(conn, user, codes, now)?;
        Ok(())
    });
    Ok(committed(done)?.is_some())
}

/// Uses up one recovery code of `user`; true when it was there.
pub(super) fn use_recovery_code(
    conn: &mut DbConnection,
    user: &str,
    code: &RecoveryCodeHash,
) -> Result<bool, DbError> {
    // One DELETE: two requests presenting the same code cannot both see it.
    let n = diesel::delete(mfa_recovery_codes::table.find((user, code.as_str()))).execute(conn)?;
    Ok(n == 1)
}

/// How many recovery codes `user` has left.
pub(super) fn recovery_codes_left(conn: &mut DbConnection, user: &str) -> Result<u32, DbError> {
    let n: i64 = mfa_recovery_codes::table
        .filter(mfa_recovery_codes::user_id.eq(user))
        .count()
        .get_result(conn)?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Replaces an account's recovery codes (inside the caller's transaction).
fn store_recovery_codes(
    conn: &mut DbConnection,
    user: &str,
    codes: &[RecoveryCodeHash],
    now: i64,
) -> Result<(), Tx> {
    diesel::delete(mfa_recovery_codes::table.filter(mfa_recovery_codes::user_id.eq(user)))
        .execute(conn)?;
    for code in codes {
        diesel::insert_into(mfa_recovery_codes::table)
            .values((
                mfa_recovery_codes::user_id.eq(user),
                mfa_recovery_codes::code_hash.eq(code.as_str()),
                mfa_recovery_codes::created_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Stores a pending second-factor step, its token as a hash.
pub(super) fn create_challenge(
    conn: &mut DbConnection,
    challenge: &MfaChallenge,
    token_hash: &TokenHash,
) -> Result<(), DbError> {
    let user = challenge.user_id.to_string();
    conn.transaction(|conn| {
        // Expired steps of this account are dropped here, so they cannot pile up.
        diesel::delete(
            mfa_challenges::table
                .filter(mfa_challenges::user_id.eq(&user))
                .filter(mfa_challenges::expires_at.le(challenge.created_at)),
        )
        .execute(conn)?;
        diesel::insert_into(mfa_challenges::table)
            .values((
                mfa_challenges::id.eq(challenge.id.to_string()),
                mfa_challenges::user_id.eq(&user),
                mfa_challenges::token_hash.eq(token_hash.to_hex()),
                mfa_challenges::created_at.eq(challenge.created_at),
                mfa_challenges::expires_at.eq(challenge.expires_at),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// The pending step whose token hashes to `hash`, with its account.
pub(super) fn challenge_by_token(
    conn: &mut DbConnection,
    hash: &TokenHash,
) -> Result<Option<(MfaChallenge, UserRecord)>, DbError> {
    let hex = hash.to_hex();
    let found: Option<((String, String, i64, i64), UserRow)> = mfa_challenges::table
        .inner_join(users::table)
        .filter(mfa_challenges::token_hash.eq(&hex))
        .select((
            (
                mfa_challenges::id,
                mfa_challenges::user_id,
                mfa_challenges::created_at,
                mfa_challenges::expires_at,
            ),
            UserRow::as_select(),
        ))
        .first(conn)
        .optional()?;
    let Some(((id, user_id, created_at, expires_at), user)) = found else {
        return Ok(None);
    };
    let id = uuid::Uuid::try_parse(&id)
        .map_err(|_| corrupt(format!("malformed challenge id in the database: {id:?}")))?;
    let challenge =
        MfaChallenge { id, user_id: super::users::parse_id(&user_id)?, created_at, expires_at };
    Ok(Some((challenge, super::users::record(user)?)))
}

/// Deletes a pending step; true when it was there.
pub(super) fn delete_challenge(conn: &mut DbConnection, id: uuid::Uuid) -> Result<bool, DbError> {
    let n = diesel::delete(mfa_challenges::table.find(id.to_string())).execute(conn)?;
    Ok(n == 1)
}

/// Consumes a pending step as the first write of the caller's transaction: of two
/// completions, one deletes it, the other finds it gone and is refused.
pub(super) fn take_challenge(conn: &mut DbConnection, id: uuid::Uuid) -> Result<(), Tx> {
    let taken = diesel::delete(mfa_challenges::table.find(id.to_string())).execute(conn)?;
    if taken != 1 {
        return Err(REFUSED);
    }
    Ok(())
}
