//! The mail outbox (`mail_outbox`): rows written in the transaction of the change they report,
//! claimed by the worker of one replica at a time (`outbox.rs`), deleted once sent.
//!
//! A claim is a lease: the worker sets `claim` to its own random id and `claimed_until` to the
//! end of the lease in one statement over the due rows (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so replicas claiming at once take different rows; an immediate transaction on
//! SQLite, which serialises them). Only the holder of the claim may finish a row. A worker
//! that dies mid-send leaves its rows to be claimed again when the lease ends: a message can
//! then go out twice (with the same Message-ID), never not at all.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use sec_auth::QueuedMail;

use super::schema::mail_outbox;
use super::{DbConnection, DbError};

/// A claimed row.
#[derive(QueryableByName)]
pub struct Claimed {
    /// The row's id (the message's Message-ID).
    #[diesel(sql_type = Text)]
    pub id: String,
    /// The sealed message.
    #[diesel(sql_type = Text)]
    pub payload: String,
    /// Attempts so far, this one included.
    #[diesel(sql_type = BigInt)]
    pub attempts: i64,
}

// The payload may carry a one-time link (sealed in production, plain without a key ring).
impl std::fmt::Debug for Claimed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claimed")
            .field("id", &self.id)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// Queues a message (inside the caller's transaction, when there is one).
pub(super) fn insert(conn: &mut DbConnection, mail: &QueuedMail) -> Result<(), DbError> {
    diesel::insert_into(mail_outbox::table)
        .values((
            mail_outbox::id.eq(mail.id.to_string()),
            mail_outbox::payload.eq(&mail.payload),
            mail_outbox::created_at.eq(mail.created_at),
            mail_outbox::attempts.eq(0_i64),
            mail_outbox::next_attempt_at.eq(mail.created_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Claims up to `limit` due rows (not given up, next attempt at or before `now`, no live claim)
/// for `claim` until `until`, counting the attempt; returns them.
pub fn claim(
    conn: &mut DbConnection,
    claim: &str,
    now: i64,
    until: i64,
    limit: i64,
) -> Result<Vec<Claimed>, DbError> {
    const DUE: &str = "failed_at IS NULL AND next_attempt_at <= {now} \
                       AND (claimed_until IS NULL OR claimed_until <= {now})";
    Ok(match conn {
        DbConnection::Postgres(pg) => {
            let due = DUE.replace("{now}", "$3");
            diesel::sql_query(format!(
                "UPDATE mail_outbox SET claim = $1, claimed_until = $2, attempts = attempts + 1 \
                 WHERE id IN (SELECT id FROM mail_outbox WHERE {due} \
                 ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 RETURNING id, payload, attempts"
            ))
            .bind::<Text, _>(claim)
            .bind::<BigInt, _>(until)
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(limit)
            .load(pg)?
        }
        DbConnection::Sqlite(lite) => {
            let due = DUE.replace("{now}", "?3");
            let query = diesel::sql_query(format!(
                "UPDATE mail_outbox SET claim = ?1, claimed_until = ?2, attempts = attempts + 1 \
                 WHERE id IN (SELECT id FROM mail_outbox WHERE {due} \
                 ORDER BY next_attempt_at LIMIT ?4) \
                 RETURNING id, payload, attempts"
            ))
            .bind::<Text, _>(claim)
            .bind::<BigInt, _>(until)
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(limit);
            lite.immediate_transaction::<_, diesel::result::Error, _>(|c| query.load(c))?
        }
    })
}

/// Deletes a sent row, if `claim` still holds it; true when it did.
pub fn sent(conn: &mut DbConnection, id: &str, claim: &str) -> Result<bool, DbError> {
    let n = diesel::delete(
        mail_outbox::table.filter(mail_outbox::id.eq(id)).filter(mail_outbox::claim.eq(claim)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// Releases a row whose send failed: tried again from `next_attempt_at`, or given up at `now`
/// when `give_up`. `error` says why, without any of the message.
pub fn failed(
    conn: &mut DbConnection,
    id: &str,
    claim: &str,
    now: i64,
    next_attempt_at: i64,
    give_up: bool,
    error: &str,
) -> Result<(), DbError> {
    diesel::update(
        mail_outbox::table.filter(mail_outbox::id.eq(id)).filter(mail_outbox::claim.eq(claim)),
    )
    .set((
        mail_outbox::claim.eq(None::<String>),
        mail_outbox::claimed_until.eq(None::<i64>),
        mail_outbox::next_attempt_at.eq(next_attempt_at),
        mail_outbox::last_error.eq(error),
        mail_outbox::failed_at.eq(give_up.then_some(now)),
    ))
    .execute(conn)?;
    Ok(())
}

/// How many messages wait to be sent, and how many were given up.
pub fn counts(conn: &mut DbConnection) -> Result<(i64, i64), DbError> {
    let waiting =
        mail_outbox::table.filter(mail_outbox::failed_at.is_null()).count().get_result(conn)?;
    let failed =
        mail_outbox::table.filter(mail_outbox::failed_at.is_not_null()).count().get_result(conn)?;
    Ok((waiting, failed))
}

/// Why the most recently tried message that failed did (no message content), if any.
pub fn last_error(conn: &mut DbConnection) -> Result<Option<String>, DbError> {
    Ok(mail_outbox::table
        .filter(mail_outbox::last_error.is_not_null())
        .order(mail_outbox::next_attempt_at.desc())
        .select(mail_outbox::last_error)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}
