//! The batched deletes of housekeeping (`housekeeping.rs`): for each table, the condition that
//! makes a row deletable, and one claimed batch deleted per call with the SQL of its backend
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL, an immediate transaction on SQLite), so that
//! replicas sweeping at once do not fight over rows.

use diesel::RunQueryDsl;
use diesel::sql_types::BigInt;

use super::{DbConnection, DbError};

/// One table's rule: its key columns, and the condition (with `?` for each bound value) that
/// makes a row deletable.
pub(crate) struct Rule {
    table: &'static str,
    key: &'static str,
    condition: &'static str,
}

pub(crate) const SESSIONS: Rule =
    Rule { table: "sessions", key: "id", condition: "last_seen_at <= ? OR created_at <= ?" };
pub(crate) const MFA_CHALLENGES: Rule =
    Rule { table: "mfa_challenges", key: "id", condition: "expires_at <= ?" };
pub(crate) const TOTP_ENROLLMENTS: Rule =
    Rule { table: "mfa_totp_pending", key: "user_id", condition: "expires_at <= ?" };
pub(crate) const THROTTLE_COUNTERS: Rule = Rule {
    table: "login_throttle",
    key: "subject, ip",
    condition: "last_failure_at <= ? AND last_success_at IS NULL",
};
pub(crate) const ACCOUNT_TOKENS: Rule =
    Rule { table: "account_tokens", key: "token_hash", condition: "expires_at <= ?" };
pub(crate) const FAILED_MAIL: Rule =
    Rule { table: "mail_outbox", key: "id", condition: "failed_at <= ?" };
pub(crate) const AUDIT_HEADS: Rule =
    Rule { table: "audit_heads", key: "trail", condition: "updated_at <= ?" };

/// Deletes one claimed batch; returns how many rows.
pub(crate) fn delete_batch(
    conn: &mut DbConnection,
    rule: &Rule,
    binds: &[i64],
    batch: u32,
) -> Result<u64, DbError> {
    let Rule { table, key, condition } = rule;
    let n = match conn {
        DbConnection::Postgres(pg) => {
            let sql = numbered(&format!(
                "DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} \
                 WHERE {condition} LIMIT ? FOR UPDATE SKIP LOCKED)"
            ));
            let mut query = diesel::sql_query(sql).into_boxed::<diesel::pg::Pg>();
            for value in binds.iter().copied().chain([i64::from(batch)]) {
                query = query.bind::<BigInt, _>(value);
            }
            query.execute(pg)?
        }
        DbConnection::Sqlite(lite) => {
            let sql = format!(
                "DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} \
                 WHERE {condition} LIMIT ?)"
            );
            let mut query = diesel::sql_query(sql).into_boxed::<diesel::sqlite::Sqlite>();
            for value in binds.iter().copied().chain([i64::from(batch)]) {
                query = query.bind::<BigInt, _>(value);
            }
            lite.immediate_transaction::<_, diesel::result::Error, _>(|c| query.execute(c))?
        }
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// PostgreSQL numbers its placeholders: `?` becomes `$1`, `$2`, ... (the statements here are
/// constants of this module; no `?` appears in them but as a placeholder).
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(numbered("a <= ? OR b <= ? LIMIT ?"), "a <= $1 OR b <= $2 LIMIT $3");
    }
}
