//! Storage of the one-time tokens mail carries (`account_tokens`): verification, a new
//! address's confirmation, password reset. Only SHA-256 hashes (hex) are stored.

use diesel::prelude::*;
use sec_auth::{AccountToken, TokenHash, TokenPurpose};

use super::error::corrupt;
use super::schema::account_tokens;
use super::{DbConnection, DbError};

#[derive(Queryable, Selectable)]
#[diesel(table_name = account_tokens)]
struct TokenRow {
    user_id: String,
    purpose: String,
    email: Option<String>,
    created_at: i64,
    expires_at: i64,
}

/// Stores a token, first deleting the account's tokens of the same purpose (inside the
/// caller's transaction): one live link per purpose.
pub(super) fn insert_replacing(
    conn: &mut DbConnection,
    hash: &TokenHash,
    token: &AccountToken,
) -> Result<(), DbError> {
    let user = token.user_id.to_string();
    delete_of(conn, &user, token.purpose)?;
    diesel::insert_into(account_tokens::table)
        .values((
            account_tokens::token_hash.eq(hash.to_hex()),
            account_tokens::user_id.eq(&user),
            account_tokens::purpose.eq(token.purpose.as_str()),
            account_tokens::email.eq(token.email.as_deref()),
            account_tokens::created_at.eq(token.created_at),
            account_tokens::expires_at.eq(token.expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The token with this hash.
pub(super) fn find(
    conn: &mut DbConnection,
    hash: &TokenHash,
) -> Result<Option<AccountToken>, DbError> {
    let row = account_tokens::table
        .find(hash.to_hex())
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?;
    row.map(|row| {
        let user_id = super::users::parse_id(&row.user_id)?;
        let purpose = TokenPurpose::parse(&row.purpose)
            .ok_or_else(|| corrupt(format!("account token with purpose {:?}", row.purpose)))?;
        Ok(AccountToken {
            user_id,
            purpose,
            email: row.email,
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    })
    .transpose()
}

/// Deletes the token `hash` of `user`; true when it was there. One statement, and the first
/// write of the caller's transaction: of two requests using one link, one deletes it and goes
/// on, the other finds it gone.
pub(super) fn take(conn: &mut DbConnection, hash: &TokenHash, user: &str) -> Result<bool, DbError> {
    let n = diesel::delete(
        account_tokens::table
            .filter(account_tokens::token_hash.eq(hash.to_hex()))
            .filter(account_tokens::user_id.eq(user)),
    )
    .execute(conn)?;
    Ok(n == 1)
}

/// Deletes every token of `user` with this purpose; returns how many.
pub(super) fn delete_of(
    conn: &mut DbConnection,
    user: &str,
    purpose: TokenPurpose,
) -> Result<usize, DbError> {
    Ok(diesel::delete(
        account_tokens::table
            .filter(account_tokens::user_id.eq(user))
            .filter(account_tokens::purpose.eq(purpose.as_str())),
    )
    .execute(conn)?)
}
