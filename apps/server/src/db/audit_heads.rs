//! Storage of audit chain heads (`audit_heads` table): one row per instance, holding the last
//! line its audit trail wrote (docs/audit.md, "The head outside the files").

use diesel::prelude::*;
use sec_audit::ChainHead;

use super::schema::audit_heads;
use super::{DbConnection, DbError};

/// The head recorded for `instance`, if any.
pub fn recorded(conn: &mut DbConnection, instance: &str) -> Result<Option<ChainHead>, DbError> {
    let row = audit_heads::table
        .filter(audit_heads::instance.eq(instance))
        .select((audit_heads::seq, audit_heads::hash))
        .first::<(i64, String)>(conn)
        .optional()?;
    Ok(row.map(|(seq, hash)| ChainHead { seq: u64::try_from(seq).unwrap_or(0), hash }))
}

/// Records `head` for `instance` when it is newer than the recorded one (or none is): heads
/// only move forward, so a late write of an older head changes nothing.
pub fn advance(
    conn: &mut DbConnection,
    instance: &str,
    head: &ChainHead,
    now: i64,
) -> Result<(), DbError> {
    let seq = i64::try_from(head.seq).unwrap_or(i64::MAX);
    conn.transaction(|conn| {
        let moved = diesel::update(
            audit_heads::table
                .filter(audit_heads::instance.eq(instance))
                .filter(audit_heads::seq.lt(seq)),
        )
        .set((
            audit_heads::seq.eq(seq),
            audit_heads::hash.eq(&head.hash),
            audit_heads::updated_at.eq(now),
        ))
        .execute(conn)?;
        if moved == 0 && recorded(conn, instance)?.is_none() {
            insert(conn, instance, seq, &head.hash, now)?;
        }
        Ok(())
    })
}

/// Records `head` for `instance` whatever was recorded before: after a discontinuity was
/// acknowledged, the folder's chain is the one that counts, even if it is shorter.
pub fn replace(
    conn: &mut DbConnection,
    instance: &str,
    head: &ChainHead,
    now: i64,
) -> Result<(), DbError> {
    let seq = i64::try_from(head.seq).unwrap_or(i64::MAX);
    conn.transaction(|conn| {
        diesel::delete(audit_heads::table.filter(audit_heads::instance.eq(instance)))
            .execute(conn)?;
        insert(conn, instance, seq, &head.hash, now)
    })
}

/// Forgets `instance`'s head, for a folder that holds no line at all once a discontinuity was
/// acknowledged.
pub fn forget(conn: &mut DbConnection, instance: &str) -> Result<(), DbError> {
    diesel::delete(audit_heads::table.filter(audit_heads::instance.eq(instance))).execute(conn)?;
    Ok(())
}

fn insert(
    conn: &mut DbConnection,
    instance: &str,
    seq: i64,
    hash: &str,
    now: i64,
) -> Result<(), DbError> {
    diesel::insert_into(audit_heads::table)
        .values((
            audit_heads::instance.eq(instance),
            audit_heads::seq.eq(seq),
            audit_heads::hash.eq(hash),
            audit_heads::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}
