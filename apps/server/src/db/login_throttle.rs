//! Storage of login-failure counters (`login_throttle` table): one row per account (`ip` empty)
//! and one per account and address, updated by compare-and-set on the values read and retried
//! when another writer got there first, so that no attempt goes uncounted.

use diesel::prelude::*;
use sec_auth::{Change, Decision, ThrottleCounter, ThrottleView};

use super::error::Tx;
use super::schema::login_throttle;
use super::{DbConnection, DbError};

/// Compare-and-set rounds before an attempt is given up as contended (and refused).
const THROTTLE_CAS_ROUNDS: usize = 8;

#[derive(Queryable, Selectable)]
#[diesel(table_name = login_throttle)]
struct ThrottleRow {
    ip: String,
    failures: i64,
    last_failure_at: i64,
    last_success_at: Option<i64>,
}

/// Reads the counters of `subject` (the account's and the pair with `ip`), lets `decide`
/// judge them, and when it allows the attempt counts it as a failure in advance; see
/// `sec_auth::AuthStore::throttle_reserve`.
pub(super) fn reserve(
    conn: &mut DbConnection,
    subject: &str,
    ip: &str,
    now: i64,
    forget_before: i64,
    decide: &dyn Fn(&ThrottleView) -> Decision,
) -> Result<Decision, DbError> {
    for _ in 0..THROTTLE_CAS_ROUNDS {
        let rows: Vec<ThrottleRow> = login_throttle::table
            .filter(login_throttle::subject.eq(subject))
            .filter(login_throttle::ip.eq(ip).or(login_throttle::ip.eq("")))
            .select(ThrottleRow::as_select())
            .load(conn)?;
        let account = rows.iter().find(|r| r.ip.is_empty());
        let pair = rows.iter().find(|r| !r.ip.is_empty());
        let view = ThrottleView {
            account: account.map(|r| counter(r, forget_before)),
            pair: pair.map(|r| counter(r, forget_before)),
        };
        let decision = decide(&view);
        if decision != Decision::Allow {
            return Ok(decision);
        }
        let counted = conn.transaction(|conn| {
            let a = count_failure(conn, subject, "", account, now, forget_before)?;
            let p = count_failure(conn, subject, ip, pair, now, forget_before)?;
            if a && p { Ok(true) } else { Err(Tx::Refused(Change::Unchanged)) }
        });
        match counted {
            Ok(_) => return Ok(Decision::Allow),
            // Another attempt changed a counter between the read and the write; read
            // again and judge on the new counts.
            Err(Tx::Refused(_)) | Err(Tx::Db(DbError::Conflict { .. })) => continue,
            Err(Tx::Db(e)) => return Err(e),
        }
    }
    tracing::warn!("login throttle counters stayed contended; attempt refused");
    Ok(Decision::Deny { reason: sec_auth::DenyReason::AccountBackoff, retry_after_secs: 1 })
}

/// A successful login: the account's failures and the pair's are reset, and the pair marks
/// an address the account signed in from.
pub(super) fn succeeded(
    conn: &mut DbConnection,
    subject: &str,
    ip: &str,
    now: i64,
) -> Result<(), DbError> {
    conn.transaction(|conn| {
        diesel::update(
            login_throttle::table
                .filter(login_throttle::subject.eq(subject))
                .filter(login_throttle::ip.eq("")),
        )
        .set(login_throttle::failures.eq(0))
        .execute(conn)?;
        diesel::update(
            login_throttle::table
                .filter(login_throttle::subject.eq(subject))
                .filter(login_throttle::ip.eq(ip)),
        )
        .set((login_throttle::failures.eq(0), login_throttle::last_success_at.eq(Some(now))))
        .execute(conn)?;
        Ok(())
    })
}

/// Resets the failures of every counter of `subjects`; returns how many were counting.
pub(super) fn clear(conn: &mut DbConnection, subjects: &[&str]) -> Result<u64, DbError> {
    let n = diesel::update(
        login_throttle::table
            .filter(login_throttle::subject.eq_any(subjects))
            .filter(login_throttle::failures.gt(0)),
    )
    .set(login_throttle::failures.eq(0))
    .execute(conn)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The counter a row holds, read as zero failures once it has decayed (its last failure at
/// or before `forget_before`).
fn counter(row: &ThrottleRow, forget_before: i64) -> ThrottleCounter {
    ThrottleCounter {
        failures: if row.last_failure_at <= forget_before {
            0
        } else {
            u32::try_from(row.failures).unwrap_or(u32::MAX)
        },
        last_failure_at: row.last_failure_at,
        last_success_at: row.last_success_at,
    }
}

/// Adds one failure to a counter if it still holds what was read (`seen`); inserts it when
/// none was read, and starts it again from one when it had decayed (last failure at or before
/// `forget_before`). False when another writer changed it first.
fn count_failure(
    conn: &mut DbConnection,
    subject: &str,
    ip: &str,
    seen: Option<&ThrottleRow>,
    now: i64,
    forget_before: i64,
) -> Result<bool, Tx> {
    match seen {
        None => {
            diesel::insert_into(login_throttle::table)
                .values((
                    login_throttle::subject.eq(subject),
                    login_throttle::ip.eq(ip),
                    login_throttle::failures.eq(1_i64),
                    login_throttle::last_failure_at.eq(now),
                ))
                .execute(conn)?;
            Ok(true)
        }
        Some(row) => {
            let n = diesel::update(
                login_throttle::table
                    .filter(login_throttle::subject.eq(subject))
                    .filter(login_throttle::ip.eq(ip))
                    .filter(login_throttle::failures.eq(row.failures))
                    .filter(login_throttle::last_failure_at.eq(row.last_failure_at)),
            )
            .set((
                login_throttle::failures.eq(if row.last_failure_at <= forget_before {
                    1
                } else {
                    row.failures.saturating_add(1)
                }),
                login_throttle::last_failure_at.eq(now),
            ))
            .execute(conn)?;
            Ok(n == 1)
        }
    }
}
