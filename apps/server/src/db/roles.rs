//! Storage of roles (`user_roles`, read with `role_permissions`): who holds which role, what a
//! role permits, and the "last admin" guard.
//!
//! The functions that write run inside the caller's transaction (`db/auth_store.rs`), which
//! also bumps the account's privilege epoch.

use diesel::prelude::*;
use sec_auth::{Change, Permission, PermissionSet, ROLE_ADMIN};

use super::error::Tx;
use super::schema::{role_permissions, user_roles, users};
use super::{DbConnection, DbError};

/// Key of the PostgreSQL advisory lock that serialises "last admin" checks.
const PG_ADMIN_GUARD_LOCK: i64 = 0x5ec_5e2e_0002;

/// Gives `user` the role `role` (the first role of a new account).
pub(super) fn insert(
    conn: &mut DbConnection,
    user: &str,
    role: &str,
    now: i64,
) -> Result<(), DbError> {
    insert_row(conn, user, role, now)?;
    Ok(())
}

fn insert_row(conn: &mut DbConnection, user: &str, role: &str, now: i64) -> QueryResult<usize> {
    diesel::insert_into(user_roles::table)
        .values((
            user_roles::user_id.eq(user),
            user_roles::role.eq(role),
            user_roles::granted_at.eq(now),
        ))
        .execute(conn)
}

/// Grants `role` to `user`; refuses with `Unchanged` when it is held already and `NotFound`
/// when the account or the role does not exist.
pub(super) fn grant(conn: &mut DbConnection, user: &str, role: &str, now: i64) -> Result<(), Tx> {
    // The write first (see `db/auth_store.rs`): a held role fails the primary key, a missing
    // account or role the foreign keys.
    match insert_row(conn, user, role, now) {
        Ok(_) => Ok(()),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Err(Tx::Refused(Change::Unchanged)),
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ForeignKeyViolation,
            _,
        )) => Err(Tx::Refused(Change::NotFound)),
        Err(other) => Err(other.into()),
    }
}

/// Takes `role` from `user`; refuses with `Unchanged` when it was not held and `NotFound`
/// when the account does not exist.
pub(super) fn revoke(conn: &mut DbConnection, user: &str, role: &str) -> Result<(), Tx> {
    let removed = diesel::delete(user_roles::table.find((user, role))).execute(conn)?;
    if removed == 0 {
        return Err(super::users::refusal_for(conn, user)?);
    }
    Ok(())
}

/// The roles `user` holds, by name.
pub(super) fn of(conn: &mut DbConnection, user: &str) -> Result<Vec<String>, DbError> {
    Ok(user_roles::table
        .filter(user_roles::user_id.eq(user))
        .select(user_roles::role)
        .order(user_roles::role.asc())
        .load(conn)?)
}

/// What the roles of `user` permit.
pub(super) fn permissions_of(
    conn: &mut DbConnection,
    user: &str,
) -> Result<PermissionSet, DbError> {
    let names: Vec<String> = user_roles::table
        .inner_join(role_permissions::table.on(role_permissions::role.eq(user_roles::role)))
        .filter(user_roles::user_id.eq(user))
        .select(role_permissions::permission)
        .load(conn)?;
    Ok(names.iter().filter_map(|n| Permission::parse(n)).collect())
}

/// Takes the advisory lock that serialises "last admin" checks (PostgreSQL only; SQLite
/// transactions that start with a write are serialised already).
pub(super) fn lock_admin_guard(conn: &mut DbConnection) -> Result<(), DbError> {
    if let DbConnection::Postgres(_) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({PG_ADMIN_GUARD_LOCK})"))
            .execute(conn)?;
    }
    Ok(())
}

/// Enabled accounts holding the admin role.
pub(super) fn enabled_admins(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(user_roles::table
        .inner_join(users::table)
        .filter(user_roles::role.eq(ROLE_ADMIN))
        .filter(users::disabled.eq(false))
        .count()
        .get_result(conn)?)
}
