//! Storage of sessions (`sessions` table): a session is stored with its token's hash only,
//! found by that hash, reissued by a write conditional on the old hash, and capped per account.

use diesel::prelude::*;
use sec_auth::{
    Aal, NewSession, Proof, SessionId, SessionLookup, SessionRecord, TokenHash, UserId,
};

use super::error::corrupt;
use super::schema::{sessions, user_roles, users};
use super::users::UserRow;
use super::{DbConnection, DbError};

#[derive(Queryable, Selectable)]
#[diesel(table_name = sessions)]
struct SessionRow {
    id: String,
    user_id: String,
    created_at: i64,
    last_seen_at: i64,
    authenticated_at: i64,
    aal: i64,
    second_factor_at: Option<i64>,
    privilege_epoch: i64,
    ip: Option<String>,
    user_agent: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = sessions)]
struct NewSessionRow<'a> {
    id: String,
    user_id: String,
    token_hash: String,
    created_at: i64,
    last_seen_at: i64,
    authenticated_at: i64,
    aal: i64,
    second_factor_at: Option<i64>,
    privilege_epoch: i64,
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
}

impl<'a> NewSessionRow<'a> {
    fn of(session: &'a NewSession<'_>) -> Self {
        let r = session.record;
        Self {
            id: r.id.to_string(),
            user_id: r.user_id.to_string(),
            token_hash: session.token_hash.to_hex(),
            created_at: r.created_at,
            last_seen_at: r.last_seen_at,
            authenticated_at: r.authenticated_at,
            aal: r.aal.as_i64(),
            second_factor_at: r.second_factor_at,
            privilege_epoch: r.privilege_epoch,
            ip: r.ip.as_deref(),
            user_agent: r.user_agent.as_deref(),
        }
    }
}

fn record(row: SessionRow) -> Result<SessionRecord, DbError> {
    let id = SessionId::parse(&row.id)
        .ok_or_else(|| corrupt(format!("malformed session id in the database: {:?}", row.id)))?;
    Ok(SessionRecord {
        id,
        user_id: super::users::parse_id(&row.user_id)?,
        created_at: row.created_at,
        last_seen_at: row.last_seen_at,
        authenticated_at: row.authenticated_at,
        aal: Aal::from_i64(row.aal),
        second_factor_at: row.second_factor_at,
        privilege_epoch: row.privilege_epoch,
        ip: row.ip,
        user_agent: row.user_agent,
    })
}

/// Stores `session`, first ending the oldest sessions of its account so that it fits under
/// `max_per_account` (inside the caller's transaction); returns how many ended.
pub(super) fn insert(conn: &mut DbConnection, session: &NewSession<'_>) -> Result<u64, DbError> {
    let row = NewSessionRow::of(session);
    let ended = make_room(conn, &row.user_id, session.max_per_account)?;
    diesel::insert_into(sessions::table).values(&row).execute(conn)?;
    Ok(ended)
}

/// The session whose token hashes to `hash`, with its account and the account's roles, in
/// one statement: one row per role (one row with no role for an account without any), the
/// session and account repeated on each.
///
/// This runs on every authenticated request, so it is one round trip, and it runs on the
/// backend's own connection type ([`on_backend!`]): through the two-backend connection, diesel
/// writes the statement's SQL out twice on every execution (to decide whether it may be cached
/// and again to bind its parameters), even when the prepared statement is reused; on the
/// backend's own type, a statement whose SQL is fixed at compile time is looked up by its
/// type and only its parameter is bound (docs/performance.md).
pub(super) fn by_token(
    conn: &mut DbConnection,
    hash: &TokenHash,
) -> Result<Option<SessionLookup>, DbError> {
    let hex = hash.to_hex();
    let rows: Vec<(SessionRow, UserRow, Option<String>)> = super::on_backend!(conn, |c| {
        sessions::table
            .inner_join(users::table.left_join(user_roles::table))
            .filter(sessions::token_hash.eq(&hex))
            .select((SessionRow::as_select(), UserRow::as_select(), user_roles::role.nullable()))
            .load(c)
    })?;
    let mut rows = rows.into_iter();
    let Some((session, user, first_role)) = rows.next() else { return Ok(None) };
    // Sorted here rather than by the statement: a sort node costs the database more per
    // execution than sorting a role or two costs us.
    let mut roles: Vec<String> =
        first_role.into_iter().chain(rows.filter_map(|(_, _, role)| role)).collect();
    roles.sort_unstable();
    Ok(Some(SessionLookup { session: record(session)?, user: super::users::record(user)?, roles }))
}

/// Records that the session was used at `now`.
pub(super) fn touch(conn: &mut DbConnection, id: SessionId, now: i64) -> Result<(), DbError> {
    diesel::update(sessions::table.find(id.to_string()))
        .set(sessions::last_seen_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// Gives the session a new token (and, with `proof`, a new authentication time and level),
/// if it still holds `old`: of two reissues of one token, one wins. True when it did.
pub(super) fn reissue(
    conn: &mut DbConnection,
    id: SessionId,
    old: &TokenHash,
    new: &TokenHash,
    privilege_epoch: i64,
    proof: Option<Proof>,
    now: i64,
) -> Result<bool, DbError> {
    let target = sessions::table.find(id.to_string()).filter(sessions::token_hash.eq(old.to_hex()));
    let n = match proof {
        Some(proof) if proof.second_factor => diesel::update(target)
            .set((
                sessions::token_hash.eq(new.to_hex()),
                sessions::privilege_epoch.eq(privilege_epoch),
                sessions::authenticated_at.eq(proof.at),
                sessions::aal.eq(proof.aal.as_i64()),
                sessions::second_factor_at.eq(proof.at),
                sessions::last_seen_at.eq(now),
            ))
            .execute(conn)?,
        Some(proof) => diesel::update(target)
            .set((
                sessions::token_hash.eq(new.to_hex()),
                sessions::privilege_epoch.eq(privilege_epoch),
                sessions::authenticated_at.eq(proof.at),
                sessions::aal.eq(proof.aal.as_i64()),
                sessions::last_seen_at.eq(now),
            ))
            .execute(conn)?,
        None => diesel::update(target)
            .set((
                sessions::token_hash.eq(new.to_hex()),
                sessions::privilege_epoch.eq(privilege_epoch),
                sessions::last_seen_at.eq(now),
            ))
            .execute(conn)?,
    };
    Ok(n == 1)
}

/// Gives the session that changed the password a new token and a fresh authentication time.
pub(super) fn reauthenticated(
    conn: &mut DbConnection,
    id: &str,
    token: &TokenHash,
    now: i64,
) -> Result<(), DbError> {
    diesel::update(sessions::table.find(id))
        .set((
            sessions::token_hash.eq(token.to_hex()),
            sessions::authenticated_at.eq(now),
            sessions::last_seen_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The sessions of `user`, newest first.
pub(super) fn of_user(
    conn: &mut DbConnection,
    user: UserId,
) -> Result<Vec<SessionRecord>, DbError> {
    let rows: Vec<SessionRow> = sessions::table
        .filter(sessions::user_id.eq(user.to_string()))
        .select(SessionRow::as_select())
        .order((sessions::created_at.desc(), sessions::id.asc()))
        .load(conn)?;
    rows.into_iter().map(record).collect()
}

/// Ends one session of `user`; true when it existed.
pub(super) fn delete(
    conn: &mut DbConnection,
    user: UserId,
    id: SessionId,
) -> Result<bool, DbError> {
    let n = diesel::delete(
        sessions::table.find(id.to_string()).filter(sessions::user_id.eq(user.to_string())),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// Ends every session of `user`.
pub(super) fn delete_all_of(conn: &mut DbConnection, user: &str) -> Result<(), DbError> {
    diesel::delete(sessions::table.filter(sessions::user_id.eq(user))).execute(conn)?;
    Ok(())
}

/// Ends every session of `user` but `keep` (inside the caller's transaction, if any); returns
/// how many.
pub(super) fn end_others(conn: &mut DbConnection, user: &str, keep: &str) -> Result<u64, DbError> {
    let n = diesel::delete(
        sessions::table.filter(sessions::user_id.eq(user)).filter(sessions::id.ne(keep)),
    )
    .execute(conn)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Deletes the oldest sessions of `user` until one more fits under `cap` (inside the
/// caller's transaction); returns how many. It starts with a write to the account's row, so
/// that two logins of one account take turns (PostgreSQL's row lock; SQLite's write lock) and
/// neither counts before the other's session is stored.
fn make_room(conn: &mut DbConnection, user: &str, cap: u32) -> Result<u64, DbError> {
    diesel::update(users::table.find(user))
        .set(users::updated_at.eq(users::updated_at))
        .execute(conn)?;
    let held: i64 = sessions::table.filter(sessions::user_id.eq(user)).count().get_result(conn)?;
    let excess = held.saturating_sub(i64::from(cap.max(1))).saturating_add(1);
    if excess <= 0 {
        return Ok(0);
    }
    let oldest: Vec<String> = sessions::table
        .filter(sessions::user_id.eq(user))
        .select(sessions::id)
        .order((sessions::created_at.asc(), sessions::id.asc()))
        .limit(excess)
        .load(conn)?;
    let n = diesel::delete(sessions::table.filter(sessions::id.eq_any(&oldest))).execute(conn)?;
    Ok(u64::try_from(n).unwrap_or(0))
}
