//! Storage of accounts (`users` table). Validation happens before this layer: it stores what
//! it is given and reports conflicts on the unique columns.

use std::fmt;

use diesel::prelude::*;
use sec_auth::{Change, UserId, UserLookup, UserRecord};

use super::error::{Tx, corrupt};
use super::page::Page;
use super::schema::users;
use super::{DbConnection, DbError};

/// An account as stored.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    /// Random UUID.
    pub id: String,
    /// Display form of the user name.
    pub username: String,
    /// Form that uniqueness is checked on.
    pub username_canonical: String,
    /// Address as given.
    pub email: String,
    /// Form that uniqueness is checked on.
    pub email_canonical: String,
    /// PHC string.
    pub password_hash: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// A disabled account cannot log in.
    pub disabled: bool,
    /// Bumped on every role change.
    pub privilege_epoch: i64,
    /// When the current address was verified; `None` until then.
    pub email_verified_at: Option<i64>,
}

// Hand-written so that a stray `{:?}` in a log line cannot print a password hash, which is
// offline-crackable material.
impl fmt::Debug for UserRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish_non_exhaustive()
    }
}

/// A new account to insert.
#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    /// Random UUID.
    pub id: &'a str,
    /// Display form of the user name.
    pub username: &'a str,
    /// Form that uniqueness is checked on.
    pub username_canonical: &'a str,
    /// Address as given.
    pub email: &'a str,
    /// Form that uniqueness is checked on.
    pub email_canonical: &'a str,
    /// PHC string.
    pub password_hash: &'a str,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// Set when the address is known to be the owner's already (an operator created it).
    pub email_verified_at: Option<i64>,
}

/// Inserts an account. A taken user name or e-mail gives [`DbError::Conflict`]
/// (see [`DbError::is_conflict_on`]) and writes nothing.
pub fn insert(conn: &mut DbConnection, user: &NewUser<'_>) -> Result<(), DbError> {
    diesel::insert_into(users::table).values(user).execute(conn)?;
    Ok(())
}

/// The account with this id.
pub fn find_by_id(conn: &mut DbConnection, id: &str) -> Result<Option<UserRow>, DbError> {
    Ok(users::table.find(id).select(UserRow::as_select()).first(conn).optional()?)
}

/// The account whose canonical user name is `canonical`.
pub fn find_by_username(
    conn: &mut DbConnection,
    canonical: &str,
) -> Result<Option<UserRow>, DbError> {
    Ok(users::table
        .filter(users::username_canonical.eq(canonical))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

/// The account whose canonical e-mail is `canonical`.
pub fn find_by_email(conn: &mut DbConnection, canonical: &str) -> Result<Option<UserRow>, DbError> {
    Ok(users::table
        .filter(users::email_canonical.eq(canonical))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

/// Replaces the stored password hash (after a re-hash or a password change).
pub fn set_password_hash(
    conn: &mut DbConnection,
    id: &str,
    password_hash: &str,
    now: i64,
) -> Result<(), DbError> {
    let n = diesel::update(users::table.find(id))
        .set((users::password_hash.eq(password_hash), users::updated_at.eq(now)))
        .execute(conn)?;
    if n == 0 { Err(DbError::NotFound) } else { Ok(()) }
}

/// Number of accounts.
pub fn count(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(users::table.count().get_result(conn)?)
}

/// The account `by` names, as the rules see it.
pub(super) fn lookup(
    conn: &mut DbConnection,
    by: UserLookup<'_>,
) -> Result<Option<UserRecord>, DbError> {
    let query = users::table.select(UserRow::as_select()).into_boxed();
    let query = match by {
        UserLookup::Id(id) => query.filter(users::id.eq(id.to_string())),
        UserLookup::Username(name) => query.filter(users::username_canonical.eq(name.to_owned())),
        UserLookup::Email(email) => query.filter(users::email_canonical.eq(email.to_owned())),
    };
    query.first(conn).optional()?.map(record).transpose()
}

/// One page of accounts, oldest first.
pub(super) fn page(
    conn: &mut DbConnection,
    offset: u32,
    limit: u32,
) -> Result<Vec<UserRow>, DbError> {
    Ok(users::table
        .select(UserRow::as_select())
        .order((users::created_at.asc(), users::id.asc()))
        .offset(i64::from(offset))
        .limit(i64::from(Page::new(offset, limit).limit()))
        .load(conn)?)
}

/// Marks the address of `user` verified at `now`, if it is still `email` (inside the caller's
/// transaction). True when the account has that address (verified before, or now).
pub(super) fn mark_email_verified(
    conn: &mut DbConnection,
    id: &str,
    email: &str,
    now: i64,
) -> Result<bool, DbError> {
    let matching = users::table.find(id).filter(users::email.eq(email));
    let n = diesel::update(matching.filter(users::email_verified_at.is_null()))
        .set(users::email_verified_at.eq(now))
        .execute(conn)?;
    if n == 1 {
        return Ok(true);
    }
    let still: i64 = matching.count().get_result(conn)?;
    Ok(still == 1)
}

/// Gives `user` a new address, verified at `now` (inside the caller's transaction).
/// [`DbError::Conflict`] when another account has it.
pub(super) fn set_email(
    conn: &mut DbConnection,
    id: &str,
    email: &str,
    email_canonical: &str,
    now: i64,
) -> Result<(), DbError> {
    let n = diesel::update(users::table.find(id))
        .set((
            users::email.eq(email),
            users::email_canonical.eq(email_canonical),
            users::email_verified_at.eq(now),
            users::updated_at.eq(now),
        ))
        .execute(conn)?;
    if n == 0 { Err(DbError::NotFound) } else { Ok(()) }
}

/// Sets the disabled flag by a write that happens only when it changes something; refuses
/// with `Unchanged` (already so) or `NotFound` (no such account) when it changed nothing.
pub(super) fn set_disabled(
    conn: &mut DbConnection,
    id: &str,
    disabled: bool,
    now: i64,
) -> Result<(), Tx> {
    let changed = diesel::update(users::table.find(id).filter(users::disabled.ne(disabled)))
        .set((users::disabled.eq(disabled), users::updated_at.eq(now)))
        .execute(conn)?;
    if changed == 0 {
        return Err(refusal_for(conn, id)?);
    }
    Ok(())
}

/// The refusal of a write that found nothing to change: `Unchanged` when the account exists,
/// `NotFound` when it does not.
pub(super) fn refusal_for(conn: &mut DbConnection, id: &str) -> Result<Tx, DbError> {
    let exists = exists(conn, id)?;
    Ok(Tx::Refused(if exists { Change::Unchanged } else { Change::NotFound }))
}

/// Bumps the account's privilege epoch, so that its sessions pick up a role change.
pub(super) fn bump_epoch(conn: &mut DbConnection, id: &str, now: i64) -> Result<(), DbError> {
    diesel::update(users::table.find(id))
        .set((users::privilege_epoch.eq(users::privilege_epoch + 1), users::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

fn exists(conn: &mut DbConnection, id: &str) -> Result<bool, DbError> {
    Ok(users::table.find(id).count().get_result::<i64>(conn)? > 0)
}

/// A stored account id as the rules' type.
pub(super) fn parse_id(s: &str) -> Result<UserId, DbError> {
    UserId::parse(s).ok_or_else(|| corrupt(format!("malformed user id in the database: {s:?}")))
}

/// A row as the rules' record.
pub(super) fn record(row: UserRow) -> Result<UserRecord, DbError> {
    Ok(UserRecord {
        id: parse_id(&row.id)?,
        username: row.username,
        email: row.email,
        password_hash: row.password_hash,
        disabled: row.disabled,
        privilege_epoch: row.privilege_epoch,
        email_verified_at: row.email_verified_at,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}
