//! [`sec_auth::AuthStore`] on the database: each method takes a pooled connection, opens the
//! transaction a step needs, and calls the repositories (`users`, `roles`, `sessions`,
//! `login_throttle`, `mfa`); their errors become [`StoreError`]s.
//!
//! Each method takes its own pooled connection, so nothing holds a connection while a password
//! is hashed. Writes that touch several rows run in one transaction; a transaction that spans
//! several repositories is written here, so its order of writes and locks reads in one place.
//! Two rules keep concurrent writers (threads or replicas) correct on both backends:
//!
//! - a transaction that reads and then writes starts with its write, so SQLite takes its write
//!   lock (waiting up to `busy_timeout`) before it reads, instead of failing when its read
//!   snapshot turns stale; on PostgreSQL the "last admin" checks also take a transaction-level
//!   advisory lock, because READ COMMITTED would let two revocations each see the other admin;
//! - throttle counters are updated by compare-and-set on the values read, retried when another
//!   writer got there first, so no attempt goes uncounted (`db/login_throttle.rs`).

use diesel::Connection;
use sec_auth::{
    AccountToken, Activation, AuthStore, Change, Decision, MfaChallenge, NewAccount,
    NewAccountToken, NewSession, PendingTotp, PermissionSet, Proof, QueuedMail, ROLE_ADMIN,
    RecoveryCodeHash, SessionId, SessionLookup, SessionRecord, StoreError, ThrottleView, TokenHash,
    TokenPurpose, TotpRecord, UniqueField, UserId, UserLookup, UserRecord,
};

use super::error::{REFUSED, Tx, committed, finish};
use super::users::NewUser;
use super::{
    Db, DbConnection, DbError, account_tokens, login_throttle, mfa, outbox, roles, sessions, users,
};

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

    /// [`DbAuthStore::with`] for a step that queues mail: once it committed, this replica's
    /// outbox worker is woken.
    fn with_mail<T>(
        &self,
        work: impl FnOnce(&mut DbConnection) -> Result<T, DbError>,
    ) -> Result<T, StoreError> {
        let done = self.with(work)?;
        self.db.mail_queued().notify_one();
        Ok(done)
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

/// The "last admin" guard, inside a transaction that has just taken an admin away (a role
/// revoked, an account disabled): refuses when no enabled admin would be left.
fn keep_an_admin(conn: &mut DbConnection) -> Result<(), Tx> {
    roles::lock_admin_guard(conn)?;
    if roles::enabled_admins(conn)? == 0 {
        return Err(Tx::Refused(Change::LastAdmin));
    }
    Ok(())
}

impl AuthStore for DbAuthStore {
    fn create_user(&self, account: &NewAccount<'_>) -> Result<(), StoreError> {
        let id = account.id.to_string();
        self.with(|conn| {
            conn.transaction(|conn| {
                users::insert(
                    conn,
                    &NewUser {
                        id: &id,
                        username: account.username,
                        username_canonical: account.username_canonical,
                        email: account.email,
                        email_canonical: account.email_canonical,
                        password_hash: account.password_hash,
                        created_at: account.now,
                        updated_at: account.now,
                        email_verified_at: account.email_verified.then_some(account.now),
                    },
                )?;
                roles::insert(conn, &id, account.role, account.now)
            })
        })
    }

    fn find_user(&self, by: UserLookup<'_>) -> Result<Option<UserRecord>, StoreError> {
        self.with(|conn| users::lookup(conn, by))
    }

    fn set_password_hash(&self, id: UserId, hash: &str, now: i64) -> Result<(), StoreError> {
        self.with(|conn| users::set_password_hash(conn, &id.to_string(), hash, now))
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
                users::set_password_hash(conn, &id, hash, now)?;
                // A new password voids every reset link of the account.
                account_tokens::delete_of(conn, &id, TokenPurpose::ResetPassword)?;
                let ended = sessions::end_others(conn, &id, &keep)?;
                sessions::reauthenticated(conn, &keep, keep_token, now)?;
                Ok(ended)
            })
        })
    }

    fn set_disabled(&self, id: UserId, disabled: bool, now: i64) -> Result<Change, StoreError> {
        let id = id.to_string();
        self.with(|conn| {
            finish(conn.transaction(|conn| {
                users::set_disabled(conn, &id, disabled, now)?;
                if disabled {
                    keep_an_admin(conn)?;
                    sessions::delete_all_of(conn, &id)?;
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
            let rows = users::page(conn, offset, limit)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let roles = roles::of(conn, &row.id)?;
                out.push((users::record(row)?, roles));
            }
            Ok(out)
        })
    }

    fn roles_of(&self, id: UserId) -> Result<Vec<String>, StoreError> {
        self.with(|conn| roles::of(conn, &id.to_string()))
    }

    fn permissions_of(&self, id: UserId) -> Result<PermissionSet, StoreError> {
        self.with(|conn| roles::permissions_of(conn, &id.to_string()))
    }

    fn grant_role(&self, id: UserId, role: &str, now: i64) -> Result<Change, StoreError> {
        let id = id.to_string();
        self.with(|conn| {
            finish(conn.transaction(|conn| {
                roles::grant(conn, &id, role, now)?;
                users::bump_epoch(conn, &id, now)?;
                Ok(Change::Done)
            }))
        })
    }

    fn revoke_role(&self, id: UserId, role: &str, now: i64) -> Result<Change, StoreError> {
        let id = id.to_string();
        self.with(|conn| {
            finish(conn.transaction(|conn| {
                roles::revoke(conn, &id, role)?;
                if role == ROLE_ADMIN {
                    keep_an_admin(conn)?;
                }
                users::bump_epoch(conn, &id, now)?;
                Ok(Change::Done)
            }))
        })
    }

    fn create_session(&self, session: &NewSession<'_>) -> Result<u64, StoreError> {
        self.with(|conn| conn.transaction::<_, DbError, _>(|conn| sessions::insert(conn, session)))
    }

    fn session_by_token(&self, hash: &TokenHash) -> Result<Option<SessionLookup>, StoreError> {
        self.with(|conn| sessions::by_token(conn, hash))
    }

    fn touch_session(&self, id: SessionId, now: i64) -> Result<(), StoreError> {
        self.with(|conn| sessions::touch(conn, id, now))
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
        self.with(|conn| sessions::reissue(conn, id, old, new, privilege_epoch, proof, now))
    }

    fn sessions_of(&self, user: UserId) -> Result<Vec<SessionRecord>, StoreError> {
        self.with(|conn| sessions::of_user(conn, user))
    }

    fn delete_session(&self, user: UserId, id: SessionId) -> Result<bool, StoreError> {
        self.with(|conn| sessions::delete(conn, user, id))
    }

    fn delete_sessions_of(
        &self,
        user: UserId,
        except: Option<SessionId>,
    ) -> Result<u64, StoreError> {
        self.with(|conn| {
            let keep = except.map(|s| s.to_string()).unwrap_or_default();
            sessions::end_others(conn, &user.to_string(), &keep)
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
        self.with(|conn| login_throttle::reserve(conn, subject, ip, now, forget_before, decide))
    }

    fn throttle_success(&self, subject: &str, ip: &str, now: i64) -> Result<(), StoreError> {
        self.with(|conn| login_throttle::succeeded(conn, subject, ip, now))
    }

    fn throttle_clear(&self, subjects: &[&str]) -> Result<u64, StoreError> {
        self.with(|conn| login_throttle::clear(conn, subjects))
    }

    fn totp_of(&self, user: UserId) -> Result<Option<TotpRecord>, StoreError> {
        self.with(|conn| mfa::totp_of(conn, &user.to_string()))
    }

    fn accept_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError> {
        self.with(|conn| mfa::accept_totp_step(conn, &user.to_string(), step))
    }

    fn reseal_totp(&self, user: UserId, old: &str, new: &str) -> Result<bool, StoreError> {
        self.with(|conn| Ok(mfa::reseal_totp(conn, &user.to_string(), old, new)? == 1))
    }

    fn put_pending_totp(&self, user: UserId, pending: &PendingTotp) -> Result<(), StoreError> {
        self.with(|conn| mfa::put_pending_totp(conn, &user.to_string(), pending))
    }

    fn pending_totp_of(&self, user: UserId) -> Result<Option<PendingTotp>, StoreError> {
        self.with(|conn| mfa::pending_totp_of(conn, &user.to_string()))
    }

    fn activate_totp(
        &self,
        user: UserId,
        activation: &Activation<'_>,
    ) -> Result<Option<u64>, StoreError> {
        let id = user.to_string();
        let keep = activation.keep.to_string();
        self.with(|conn| {
            committed(conn.transaction(|conn| {
                mfa::activate_totp(conn, &id, activation)?;
                Ok(sessions::end_others(conn, &id, &keep)?)
            }))
        })
    }

    fn replace_recovery_codes(
        &self,
        user: UserId,
        codes: &[RecoveryCodeHash],
        now: i64,
    ) -> Result<bool, StoreError> {
        self.with(|conn| mfa::replace_recovery_codes(conn, &user.to_string(), codes, now))
    }

    fn use_recovery_code(&self, user: UserId, code: &RecoveryCodeHash) -> Result<bool, StoreError> {
        self.with(|conn| mfa::use_recovery_code(conn, &user.to_string(), code))
    }

    fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError> {
        self.with(|conn| mfa::recovery_codes_left(conn, &user.to_string()))
    }

    fn disable_totp(&self, user: UserId, keep: SessionId) -> Result<Option<u64>, StoreError> {
        let (id, keep) = (user.to_string(), keep.to_string());
        self.with(|conn| {
            committed(conn.transaction(|conn| {
                mfa::remove_totp(conn, &id)?;
                Ok(sessions::end_others(conn, &id, &keep)?)
            }))
        })
    }

    fn create_mfa_challenge(
        &self,
        challenge: &MfaChallenge,
        token_hash: &TokenHash,
    ) -> Result<(), StoreError> {
        self.with(|conn| mfa::create_challenge(conn, challenge, token_hash))
    }

    fn mfa_challenge_by_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(MfaChallenge, UserRecord)>, StoreError> {
        self.with(|conn| mfa::challenge_by_token(conn, hash))
    }

    fn delete_mfa_challenge(&self, id: uuid::Uuid) -> Result<bool, StoreError> {
        self.with(|conn| mfa::delete_challenge(conn, id))
    }

    fn complete_mfa_challenge(
        &self,
        id: uuid::Uuid,
        session: &NewSession<'_>,
    ) -> Result<Option<u64>, StoreError> {
        self.with(|conn| {
            let done = conn.transaction(|conn| {
                // Consuming the step is the first write: of two completions, one deletes it
                // and stores its session, the other finds it gone and stores nothing.
                mfa::take_challenge(conn, id)?;
                Ok(sessions::insert(conn, session)?)
            });
            committed(done)
        })
    }

    fn queue_mail(&self, mail: &QueuedMail) -> Result<(), StoreError> {
        self.with_mail(|conn| outbox::insert(conn, mail))
    }

    fn issue_account_token(
        &self,
        token: &NewAccountToken<'_>,
        mail: &QueuedMail,
    ) -> Result<(), StoreError> {
        self.with_mail(|conn| {
            conn.transaction(|conn| {
                account_tokens::insert_replacing(conn, token.hash, token.token)?;
                outbox::insert(conn, mail)
            })
        })
    }

    fn account_token(&self, hash: &TokenHash) -> Result<Option<AccountToken>, StoreError> {
        self.with(|conn| account_tokens::find(conn, hash))
    }

    fn verify_email(
        &self,
        hash: &TokenHash,
        user: UserId,
        email: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let id = user.to_string();
        self.with(|conn| {
            let done = conn.transaction(|conn| {
                if !account_tokens::take(conn, hash, &id)? {
                    return Err(REFUSED);
                }
                if !users::mark_email_verified(conn, &id, email, now)? {
                    return Err(REFUSED);
                }
                Ok(())
            });
            Ok(committed(done)?.is_some())
        })
    }

    fn change_email(
        &self,
        hash: &TokenHash,
        user: UserId,
        email: &str,
        email_canonical: &str,
        now: i64,
        notice: &QueuedMail,
    ) -> Result<bool, StoreError> {
        let id = user.to_string();
        self.with_mail(|conn| {
            let done = conn.transaction(|conn| {
                if !account_tokens::take(conn, hash, &id)? {
                    return Err(REFUSED);
                }
                account_tokens::delete_of(conn, &id, TokenPurpose::ChangeEmail)?;
                users::set_email(conn, &id, email, email_canonical, now)?;
                outbox::insert(conn, notice)?;
                Ok(())
            });
            Ok(committed(done)?.is_some())
        })
    }

    fn reset_password(
        &self,
        hash: &TokenHash,
        user: UserId,
        password_hash: &str,
        verified_email: Option<&str>,
        now: i64,
        notice: &QueuedMail,
    ) -> Result<Option<u64>, StoreError> {
        let id = user.to_string();
        self.with_mail(|conn| {
            committed(conn.transaction(|conn| {
                if !account_tokens::take(conn, hash, &id)? {
                    return Err(REFUSED);
                }
                account_tokens::delete_of(conn, &id, TokenPurpose::ResetPassword)?;
                users::set_password_hash(conn, &id, password_hash, now)?;
                if let Some(email) = verified_email {
                    users::mark_email_verified(conn, &id, email, now)?;
                }
                mfa::delete_challenges_of(conn, &id)?;
                // No session is kept: `""` is no session's id.
                let ended = sessions::end_others(conn, &id, "")?;
                outbox::insert(conn, notice)?;
                Ok(ended)
            }))
        })
    }

    fn reset_second_factor(
        &self,
        user: UserId,
        notice: &QueuedMail,
    ) -> Result<Option<u64>, StoreError> {
        let id = user.to_string();
        self.with_mail(|conn| {
            committed(conn.transaction(|conn| {
                mfa::remove_totp(conn, &id)?;
                // No session is kept: `""` is no session's id.
                let ended = sessions::end_others(conn, &id, "")?;
                outbox::insert(conn, notice)?;
                Ok(ended)
            }))
        })
    }
}
