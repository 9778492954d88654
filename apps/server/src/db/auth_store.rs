//! [`sec_auth::AuthStore`] on the database: accounts, roles, sessions, throttle counters and
//! MFA state (TOTP factors, enrollments, recovery codes, pending second-factor steps).
//!
//! Each method takes its own pooled connection, so nothing holds a connection while a password
//! is hashed. Writes that touch several rows run in one transaction. Two rules keep concurrent
//! writers (threads or replicas) correct on both backends:
//!
//! - a transaction that reads and then writes starts with its write, so SQLite takes its write
//!   lock (waiting up to `busy_timeout`) before it reads, instead of failing when its read
//!   snapshot turns stale; on PostgreSQL the "last admin" checks also take a transaction-level
//!   advisory lock, because READ COMMITTED would let two revocations each see the other admin;
//! - throttle counters are updated by compare-and-set on the values read, retried when another
//!   writer got there first, so no attempt goes uncounted.

use diesel::prelude::*;
use sec_auth::{
    Aal, Activation, AuthStore, Change, Decision, MfaChallenge, NewAccount, NewSession,
    PendingTotp, Permission, PermissionSet, Proof, ROLE_ADMIN, RecoveryCodeHash, SessionId,
    SessionLookup, SessionRecord, StoreError, ThrottleCounter, ThrottleView, TokenHash, TotpRecord,
    UniqueField, UserId, UserLookup, UserRecord,
};

use super::page::Page;
use super::schema::{
    login_throttle, mfa_challenges, mfa_recovery_codes, mfa_totp, mfa_totp_pending,
    role_permissions, sessions, user_roles, users,
};
use super::users::UserRow;
use super::{Db, DbConnection, DbError};

/// Compare-and-set rounds before an attempt is given up as contended (and refused).
const THROTTLE_CAS_ROUNDS: usize = 8;
/// Key of the PostgreSQL advisory lock that serialises "last admin" checks.
const PG_ADMIN_GUARD_LOCK: i64 = 0x5ec_5e2e_0002;

/// The app's [`AuthStore`].
#[derive(Debug, Clone)]
pub struct DbAuthStore {
    db: Db,
}

impl DbAuthStore {
    /// A store over `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    fn with<T>(
        &self,
        work: impl FnOnce(&mut DbConnection) -> Result<T, DbError>,
    ) -> Result<T, StoreError> {
        self.db.run_blocking(work).map_err(store_error)
    }
}

fn store_error(e: DbError) -> StoreError {
    match e {
        DbError::Unavailable(_) => StoreError::Unavailable(Box::new(e)),
        DbError::Conflict { .. } if e.is_conflict_on("username") => {
            StoreError::Conflict(UniqueField::Username)
        }
        DbError::Conflict { .. } if e.is_conflict_on("email") => {
            StoreError::Conflict(UniqueField::Email)
        }
        other => StoreError::Other(Box::new(other)),
    }
}

/// A transaction that may end in a refusal rather than an error.
#[derive(Debug)]
enum Tx {
    Db(DbError),
    Refused(Change),
}

impl From<diesel::result::Error> for Tx {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.into())
    }
}

impl From<DbError> for Tx {
    fn from(e: DbError) -> Self {
        Self::Db(e)
    }
}

fn finish(result: Result<Change, Tx>) -> Result<Change, DbError> {
    match result {
        Ok(change) | Err(Tx::Refused(change)) => Ok(change),
        Err(Tx::Db(e)) => Err(e),
    }
}

/// `Some` when the transaction committed, `None` when it was refused (and rolled back).
fn committed<T>(result: Result<T, Tx>) -> Result<Option<T>, DbError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(Tx::Refused(_)) => Ok(None),
        Err(Tx::Db(e)) => Err(e),
    }
}

/// Ends a transaction without writing anything it did.
const REFUSED: Tx = Tx::Refused(Change::Unchanged);

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

#[derive(Queryable, Selectable)]
#[diesel(table_name = login_throttle)]
struct ThrottleRow {
    ip: String,
    failures: i64,
    last_failure_at: i64,
    last_success_at: Option<i64>,
}

fn parse_user_id(s: &str) -> Result<UserId, DbError> {
    UserId::parse(s).ok_or_else(|| corrupt(format!("malformed user id in the database: {s:?}")))
}

/// A row the database returned that the code cannot read: a bug or a damaged table.
fn corrupt(message: String) -> DbError {
    DbError::Query(diesel::result::Error::DeserializationError(message.into()))
}

fn user_record(row: UserRow) -> Result<UserRecord, DbError> {
    Ok(UserRecord {
        id: parse_user_id(&row.id)?,
        username: row.username,
        email: row.email,
        password_hash: row.password_hash,
        disabled: row.disabled,
        privilege_epoch: row.privilege_epoch,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn session_record(row: SessionRow) -> Result<SessionRecord, DbError> {
    let id = SessionId::parse(&row.id)
        .ok_or_else(|| corrupt(format!("malformed session id in the database: {:?}", row.id)))?;
    Ok(SessionRecord {
        id,
        user_id: parse_user_id(&row.user_id)?,
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

/// Takes the advisory lock that serialises "last admin" checks (PostgreSQL only; SQLite
/// transactions that start with a write are serialised already).
fn lock_admin_guard(conn: &mut DbConnection) -> Result<(), DbError> {
    if let DbConnection::Postgres(_) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({PG_ADMIN_GUARD_LOCK})"))
            .execute(conn)?;
    }
    Ok(())
}

/// Enabled accounts holding the admin role.
fn enabled_admins(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(user_roles::table
        .inner_join(users::table)
        .filter(user_roles::role.eq(ROLE_ADMIN))
        .filter(users::disabled.eq(false))
        .count()
        .get_result(conn)?)
}

fn bump_epoch(conn: &mut DbConnection, id: &str, now: i64) -> Result<(), DbError> {
    diesel::update(users::table.find(id))
        .set((users::privilege_epoch.eq(users::privilege_epoch + 1), users::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

fn user_exists(conn: &mut DbConnection, id: &str) -> Result<bool, DbError> {
    Ok(users::table.find(id).count().get_result::<i64>(conn)? > 0)
}

impl AuthStore for DbAuthStore {
    fn create_user(&self, account: &NewAccount<'_>) -> Result<(), StoreError> {
        let id = account.id.to_string();
        self.with(|conn| {
            conn.transaction(|conn| {
                diesel::insert_into(users::table)
                    .values((
                        users::id.eq(&id),
                        users::username.eq(account.username),
                        users::username_canonical.eq(account.username_canonical),
                        users::email.eq(account.email),
                        users::email_canonical.eq(account.email_canonical),
                        users::password_hash.eq(account.password_hash),
                        users::created_at.eq(account.now),
                        users::updated_at.eq(account.now),
                    ))
                    .execute(conn)?;
                diesel::insert_into(user_roles::table)
                    .values((
                        user_roles::user_id.eq(&id),
                        user_roles::role.eq(account.role),
                        user_roles::granted_at.eq(account.now),
                    ))
                    .execute(conn)?;
                Ok(())
            })
        })
    }

    fn find_user(&self, by: UserLookup<'_>) -> Result<Option<UserRecord>, StoreError> {
        self.with(|conn| {
            let query = users::table.select(UserRow::as_select()).into_boxed();
            let query = match by {
                UserLookup::Id(id) => query.filter(users::id.eq(id.to_string())),
                UserLookup::Username(name) => {
                    query.filter(users::username_canonical.eq(name.to_owned()))
                }
                UserLookup::Email(email) => {
                    query.filter(users::email_canonical.eq(email.to_owned()))
                }
            };
            query.first(conn).optional()?.map(user_record).transpose()
        })
    }

    fn set_password_hash(&self, id: UserId, hash: &str, now: i64) -> Result<(), StoreError> {
        self.with(|conn| super::users::set_password_hash(conn, &id.to_string(), hash, now))
    }

    fn change_password(
        &self,
        id: UserId,
        hash: &str,
        now: i64,
        keep: SessionId,
        keep_token: &TokenHash,
    ) -> Result<u64, StoreError> {
        let (id, keep) = (id.to_string(), keep.to_string());
        self.with(|conn| {
            conn.transaction(|conn| {
                super::users::set_password_hash(conn, &id, hash, now)?;
                let ended = end_other_sessions(conn, &id, &keep)?;
                diesel::update(sessions::table.find(&keep))
                    .set((
                        sessions::token_hash.eq(keep_token.to_hex()),
                        sessions::authenticated_at.eq(now),
                        sessions::last_seen_at.eq(now),
                    ))
                    .execute(conn)?;
                Ok(ended)
            })
        })
    }

    fn set_disabled(&self, id: UserId, disabled: bool, now: i64) -> Result<Change, StoreError> {
        let id = id.to_string();
        self.with(|conn| {
            finish(conn.transaction(|conn| {
                let changed =
                    diesel::update(users::table.find(&id).filter(users::disabled.ne(disabled)))
                        .set((users::disabled.eq(disabled), users::updated_at.eq(now)))
                        .execute(conn)?;
                if changed == 0 {
                    let exists = user_exists(conn, &id)?;
                    return Err(Tx::Refused(if exists {
                        Change::Unchanged
                    } else {
                        Change::NotFound
                    }));
                }
                if disabled {
                    lock_admin_guard(conn)?;
                    if enabled_admins(conn)? == 0 {
                        return Err(Tx::Refused(Change::LastAdmin));
                    }
                    diesel::delete(sessions::table.filter(sessions::user_id.eq(&id)))
                        .execute(conn)?;
                }
                Ok(Change::Done)
            }))
        })
    }

    fn list_users(
        &self,
        offset: u32,
        limit: u32,
    ) -> Result<Vec<(UserRecord, Vec<String>)>, StoreError> {
        self.with(|conn| {
            let rows: Vec<UserRow> = users::table
                .select(UserRow::as_select())
                .order((users::created_at.asc(), users::id.asc()))
                .offset(i64::from(offset))
                .limit(i64::from(Page::new(offset, limit).limit()))
                .load(conn)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let roles = roles_of(conn, &row.id)?;
                out.push((user_record(row)?, roles));
            }
            Ok(out)
        })
    }

    fn roles_of(&self, id: UserId) -> Result<Vec<String>, StoreError> {
        self.with(|conn| roles_of(conn, &id.to_string()))
    }

    fn permissions_of(&self, id: UserId) -> Result<PermissionSet, StoreError> {
        self.with(|conn| {
            let names: Vec<String> = user_roles::table
                .inner_join(role_permissions::table.on(role_permissions::role.eq(user_roles::role)))
                .filter(user_roles::user_id.eq(id.to_string()))
                .select(role_permissions::permission)
                .load(conn)?;
            Ok(names.iter().filter_map(|n| Permission::parse(n)).collect())
        })
    }

    fn grant_role(&self, id: UserId, role: &str, now: i64) -> Result<Change, StoreError> {
        let id = id.to_string();
        self.with(|conn| {
            finish(conn.transaction(|conn| {
                // The write first (see the module comment): a held role fails the primary key,
                // a missing account or role the foreign keys.
                let inserted = diesel::insert_into(user_roles::table)
                    .values((
                        user_roles::user_id.eq(&id),
                        user_roles::role.eq(role),
                        user_roles::granted_at.eq(now),
                    ))
                    .execute(conn);
                match inserted {
                    Ok(_) => {}
                    Err(diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _,
                    )) => return Err(Tx::Refused(Change::Unchanged)),
                    Err(diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                        _,
                    )) => return Err(Tx::Refused(Change::NotFound)),
                    Err(other) => return Err(other.into()),
                }
                bump_epoch(conn, &id, now)?;
                Ok(Change::Done)
            }))
        })
    }

    fn revoke_role(&self, id: UserId, role: &str, now: i64) -> Result<Change, StoreError> {
        let id = id.to_string();
        self.with(|conn| {
            finish(conn.transaction(|conn| {
                let removed = diesel::delete(user_roles::table.find((&id, role))).execute(conn)?;
                if removed == 0 {
                    let exists = user_exists(conn, &id)?;
                    return Err(Tx::Refused(if exists {
                        Change::Unchanged
                    } else {
                        Change::NotFound
                    }));
                }
                if role == ROLE_ADMIN {
                    lock_admin_guard(conn)?;
                    if enabled_admins(conn)? == 0 {
                        return Err(Tx::Refused(Change::LastAdmin));
                    }
                }
                bump_epoch(conn, &id, now)?;
                Ok(Change::Done)
            }))
        })
    }

    fn create_session(&self, session: &NewSession<'_>) -> Result<u64, StoreError> {
        let row = NewSessionRow::of(session);
        self.with(|conn| {
            conn.transaction::<_, DbError, _>(|conn| {
                let ended = make_room(conn, &row.user_id, session.max_per_account)?;
                diesel::insert_into(sessions::table).values(&row).execute(conn)?;
                Ok(ended)
            })
        })
    }

    fn session_by_token(&self, hash: &TokenHash) -> Result<Option<SessionLookup>, StoreError> {
        let hex = hash.to_hex();
        self.with(|conn| {
            let found: Option<(SessionRow, UserRow)> = sessions::table
                .inner_join(users::table)
                .filter(sessions::token_hash.eq(&hex))
                .select((SessionRow::as_select(), UserRow::as_select()))
                .first(conn)
                .optional()?;
            let Some((session, user)) = found else { return Ok(None) };
            let roles = roles_of(conn, &user.id)?;
            Ok(Some(SessionLookup {
                session: session_record(session)?,
                user: user_record(user)?,
                roles,
            }))
        })
    }

    fn touch_session(&self, id: SessionId, now: i64) -> Result<(), StoreError> {
        self.with(|conn| {
            diesel::update(sessions::table.find(id.to_string()))
                .set(sessions::last_seen_at.eq(now))
                .execute(conn)?;
            Ok(())
        })
    }

    fn reissue_session(
        &self,
        id: SessionId,
        old: &TokenHash,
        new: &TokenHash,
        privilege_epoch: i64,
        proof: Option<Proof>,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.with(|conn| {
            let target =
                sessions::table.find(id.to_string()).filter(sessions::token_hash.eq(old.to_hex()));
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
        })
    }

    fn sessions_of(&self, user: UserId) -> Result<Vec<SessionRecord>, StoreError> {
        self.with(|conn| {
            let rows: Vec<SessionRow> = sessions::table
                .filter(sessions::user_id.eq(user.to_string()))
                .select(SessionRow::as_select())
                .order((sessions::created_at.desc(), sessions::id.asc()))
                .load(conn)?;
            rows.into_iter().map(session_record).collect()
        })
    }

    fn delete_session(&self, user: UserId, id: SessionId) -> Result<bool, StoreError> {
        self.with(|conn| {
            let n = diesel::delete(
                sessions::table.find(id.to_string()).filter(sessions::user_id.eq(user.to_string())),
            )
            .execute(conn)?;
            Ok(n == 1)
        })
    }

    fn delete_sessions_of(
        &self,
        user: UserId,
        except: Option<SessionId>,
    ) -> Result<u64, StoreError> {
        self.with(|conn| {
            let keep = except.map(|s| s.to_string()).unwrap_or_default();
            end_other_sessions(conn, &user.to_string(), &keep)
        })
    }

    fn throttle_reserve(
        &self,
        subject: &str,
        ip: &str,
        now: i64,
        forget_before: i64,
        decide: &dyn Fn(&ThrottleView) -> Decision,
    ) -> Result<Decision, StoreError> {
        self.with(|conn| {
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
        })
    }

    fn throttle_success(&self, subject: &str, ip: &str, now: i64) -> Result<(), StoreError> {
        self.with(|conn| {
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
                .set((
                    login_throttle::failures.eq(0),
                    login_throttle::last_success_at.eq(Some(now)),
                ))
                .execute(conn)?;
                Ok(())
            })
        })
    }

    fn throttle_clear(&self, subjects: &[&str]) -> Result<u64, StoreError> {
        self.with(|conn| {
            let n = diesel::update(
                login_throttle::table
                    .filter(login_throttle::subject.eq_any(subjects))
                    .filter(login_throttle::failures.gt(0)),
            )
            .set(login_throttle::failures.eq(0))
            .execute(conn)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn totp_of(&self, user: UserId) -> Result<Option<TotpRecord>, StoreError> {
        self.with(|conn| {
            let row: Option<(String, i64, i64)> = mfa_totp::table
                .find(user.to_string())
                .select((mfa_totp::secret_sealed, mfa_totp::last_step, mfa_totp::enabled_at))
                .first(conn)
                .optional()?;
            Ok(row.map(|(sealed_secret, last_step, enabled_at)| TotpRecord {
                sealed_secret,
                last_step,
                enabled_at,
            }))
        })
    }

    fn accept_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError> {
        // One conditional write: of two requests presenting the same step, on any replicas,
        // the database lets exactly one move `last_step`.
        self.with(|conn| {
            let n = diesel::update(
                mfa_totp::table.find(user.to_string()).filter(mfa_totp::last_step.lt(step)),
            )
            .set(mfa_totp::last_step.eq(step))
            .execute(conn)?;
            Ok(n == 1)
        })
    }

    fn reseal_totp(&self, user: UserId, old: &str, new: &str) -> Result<bool, StoreError> {
        self.with(|conn| {
            let n = diesel::update(
                mfa_totp::table.find(user.to_string()).filter(mfa_totp::secret_sealed.eq(old)),
            )
            .set(mfa_totp::secret_sealed.eq(new))
            .execute(conn)?;
            Ok(n == 1)
        })
    }

    fn put_pending_totp(&self, user: UserId, pending: &PendingTotp) -> Result<(), StoreError> {
        let id = user.to_string();
        self.with(|conn| {
            conn.transaction(|conn| {
                diesel::delete(mfa_totp_pending::table.find(&id)).execute(conn)?;
                diesel::insert_into(mfa_totp_pending::table)
                    .values((
                        mfa_totp_pending::user_id.eq(&id),
                        mfa_totp_pending::secret_sealed.eq(&pending.sealed_secret),
                        mfa_totp_pending::created_at.eq(pending.created_at),
                        mfa_totp_pending::expires_at.eq(pending.expires_at),
                    ))
                    .execute(conn)?;
                Ok(())
            })
        })
    }

    fn pending_totp_of(&self, user: UserId) -> Result<Option<PendingTotp>, StoreError> {
        self.with(|conn| {
            let row: Option<(String, i64, i64)> = mfa_totp_pending::table
                .find(user.to_string())
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
        })
    }

    fn activate_totp(
        &self,
        user: UserId,
        activation: &Activation<'_>,
    ) -> Result<Option<u64>, StoreError> {
        let id = user.to_string();
        let keep = activation.keep.to_string();
        let active = activation.active;
        self.with(|conn| {
            committed(conn.transaction(|conn| {
                // The write first (see the module comment): only the enrollment that was
                // checked may be activated, once.
                let taken = diesel::delete(
                    mfa_totp_pending::table
                        .find(&id)
                        .filter(mfa_totp_pending::secret_sealed.eq(activation.pending_sealed)),
                )
                .execute(conn)?;
                if taken != 1 {
                    return Err(REFUSED);
                }
                // The factor the rules saw is the factor replaced: a first enrollment must not
                // overwrite a factor confirmed meanwhile without the proof that demands.
                let replaced = diesel::delete(mfa_totp::table.find(&id)).execute(conn)?;
                if (replaced == 1) != activation.replacing {
                    return Err(REFUSED);
                }
                diesel::insert_into(mfa_totp::table)
                    .values((
                        mfa_totp::user_id.eq(&id),
                        mfa_totp::secret_sealed.eq(&active.sealed_secret),
                        mfa_totp::last_step.eq(active.last_step),
                        mfa_totp::enabled_at.eq(active.enabled_at),
                    ))
                    .execute(conn)?;
                store_recovery_codes(conn, &id, activation.codes, activation.now)?;
                Ok(end_other_sessions(conn, &id, &keep)?)
            }))
        })
    }

    fn replace_recovery_codes(
        &self,
        user: UserId,
        codes: &[RecoveryCodeHash],
        now: i64,
    ) -> Result<bool, StoreError> {
        let id = user.to_string();
        self.with(|conn| {
            let done = conn.transaction(|conn| {
                // A write that changes nothing, first: it takes SQLite's write lock and tells
                // whether TOTP is active, in one statement.
                let active = diesel::update(mfa_totp::table.find(&id))
                    .set(mfa_totp::last_step.eq(mfa_totp::last_step))
                    .execute(conn)?;
                if active != 1 {
                    return Err(REFUSED);
                }
                store_recovery_codes(conn, &id, codes, now)?;
                Ok(())
            });
            Ok(committed(done)?.is_some())
        })
    }

    fn use_recovery_code(&self, user: UserId, code: &RecoveryCodeHash) -> Result<bool, StoreError> {
        // One DELETE: two requests presenting the same code cannot both see it.
        self.with(|conn| {
            let n =
                diesel::delete(mfa_recovery_codes::table.find((user.to_string(), code.as_str())))
                    .execute(conn)?;
            Ok(n == 1)
        })
    }

    fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError> {
        self.with(|conn| {
            let n: i64 = mfa_recovery_codes::table
                .filter(mfa_recovery_codes::user_id.eq(user.to_string()))
                .count()
                .get_result(conn)?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        })
    }

    fn disable_totp(&self, user: UserId, keep: SessionId) -> Result<Option<u64>, StoreError> {
        let (id, keep) = (user.to_string(), keep.to_string());
        self.with(|conn| {
            committed(conn.transaction(|conn| {
                let removed = diesel::delete(mfa_totp::table.find(&id)).execute(conn)?;
                if removed != 1 {
                    return Err(REFUSED);
                }
                diesel::delete(mfa_totp_pending::table.find(&id)).execute(conn)?;
                diesel::delete(
                    mfa_recovery_codes::table.filter(mfa_recovery_codes::user_id.eq(&id)),
                )
                .execute(conn)?;
                diesel::delete(mfa_challenges::table.filter(mfa_challenges::user_id.eq(&id)))
                    .execute(conn)?;
                Ok(end_other_sessions(conn, &id, &keep)?)
            }))
        })
    }

    fn create_mfa_challenge(
        &self,
        challenge: &MfaChallenge,
        token_hash: &TokenHash,
    ) -> Result<(), StoreError> {
        let user = challenge.user_id.to_string();
        self.with(|conn| {
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
        })
    }

    fn mfa_challenge_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(MfaChallenge, UserRecord)>, StoreError> {
        let hex = hash.to_hex();
        self.with(|conn| {
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
                MfaChallenge { id, user_id: parse_user_id(&user_id)?, created_at, expires_at };
            Ok(Some((challenge, user_record(user)?)))
        })
    }

    fn delete_mfa_challenge(&self, id: uuid::Uuid) -> Result<bool, StoreError> {
        self.with(|conn| {
            let n = diesel::delete(mfa_challenges::table.find(id.to_string())).execute(conn)?;
            Ok(n == 1)
        })
    }

    fn complete_mfa_challenge(
        &self,
        id: uuid::Uuid,
        session: &NewSession<'_>,
    ) -> Result<Option<u64>, StoreError> {
        let row = NewSessionRow::of(session);
        self.with(|conn| {
            let done = conn.transaction(|conn| {
                // Consuming the step is the first write: of two completions, one deletes it
                // and stores its session, the other finds it gone and stores nothing.
                let taken =
                    diesel::delete(mfa_challenges::table.find(id.to_string())).execute(conn)?;
                if taken != 1 {
                    return Err(REFUSED);
                }
                let ended = make_room(conn, &row.user_id, session.max_per_account)?;
                diesel::insert_into(sessions::table).values(&row).execute(conn)?;
                Ok(ended)
            });
            committed(done)
        })
    }
}

/// Ends every session of `user` but `keep` (inside the caller's transaction, if any); returns
/// how many.
fn end_other_sessions(conn: &mut DbConnection, user: &str, keep: &str) -> Result<u64, DbError> {
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

fn roles_of(conn: &mut DbConnection, id: &str) -> Result<Vec<String>, DbError> {
    Ok(user_roles::table
        .filter(user_roles::user_id.eq(id))
        .select(user_roles::role)
        .order(user_roles::role.asc())
        .load(conn)?)
}
