//! Storage of audit chain heads (`audit_heads` table): one row per trail (host name and audit
//! folder), holding the last line it wrote (docs/audit.md, "The head outside the files").

use diesel::prelude::*;
use sec_audit::ChainHead;

use super::schema::audit_heads;
use super::{DbConnection, DbError};

/// The head recorded for `trail`, if any.
pub fn recorded(conn: &mut DbConnection, trail: &str) -> Result<Option<ChainHead>, DbError> {
    let row = audit_heads::table
        .filter(audit_heads::trail.eq(trail))
        .select((audit_heads::seq, audit_heads::hash))
        .first::<(i64, String)>(conn)
        .optional()?;
    Ok(row.map(|(seq, hash)| ChainHead { seq: u64::try_from(seq).unwrap_or(0), hash }))
}

/// Records `head` for `trail` when it is newer than the recorded one (or none is): heads
/// only move forward, so a late write of an older head changes nothing.
pub fn advance(
    conn: &mut DbConnection,
    trail: &str,
    head: &ChainHead,
    now: i64,
) -> Result<(), DbError> {
    let seq = i64::try_from(head.seq).unwrap_or(i64::MAX);
    conn.transaction(|conn| {
        let moved = diesel::update(
            audit_heads::table
                .filter(audit_heads::trail.eq(trail))
                .filter(audit_heads::seq.lt(seq)),
        )
        .set((
            audit_heads::seq.eq(seq),
            audit_heads::hash.eq(&head.hash),
            audit_heads::updated_at.eq(now),
        ))
        .execute(conn)?;
        if moved == 0 && recorded(conn, trail)?.is_none() {
            insert(conn, trail, seq, &head.hash, now)?;
        }
        Ok(())
    })
}

/// Records `head` for `trail` whatever was recorded before: after a discontinuity was
/// acknowledged, the folder's chain is the one that counts, even if it is shorter.
pub fn replace(
    conn: &mut DbConnection,
    trail: &str,
    head: &ChainHead,
    now: i64,
) -> Result<(), DbError> {
    let seq = i64::try_from(head.seq).unwrap_or(i64::MAX);
    conn.transaction(|conn| {
        diesel::delete(audit_heads::table.filter(audit_heads::trail.eq(trail))).execute(conn)?;
        insert(conn, trail, seq, &head.hash, now)
    })
}

fn insert(
    conn: &mut DbConnection,
    trail: &str,
    seq: i64,
    hash: &str,
    now: i64,
) -> Result<(), DbError> {
    diesel::insert_into(audit_heads::table)
        .values((
            audit_heads::trail.eq(trail),
            audit_heads::seq.eq(seq),
            audit_heads::hash.eq(hash),
            audit_heads::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}
