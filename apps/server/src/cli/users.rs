//! `server users create-admin`: the first administrator, made from the command line because
//! no one can grant the admin role over the API before an admin exists. `server users
//! unlock`: clears an account's login-failure counters (the owner locked out by a campaign
//! when no administrator can sign in, or none exists yet). `server users reset-mfa` and
//! `server users reset-password`: the recovery of an owner who lost their second factor or
//! password, when no administrator can do it over the API. Each is audited with the operator
//! as actor, and the mail it queues (a notice, a reset link to the account's own address) is
//! sent by the running server's outbox.
//!
//! The password never comes from an argument (process lists and shell history would keep it):
//! it is read at a prompt without echo, twice, or as one line from standard input with
//! `--password-stdin` (for scripts: `printf '%s\n' "$PW" | server users create-admin ...`).

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};
use clap::Subcommand;
use sec_auth::{AuthError, Registration, RequestMeta};
use sec_config::Settings;
use sec_core::{ExposeSecret, SecretString};

use crate::auth::{self, AuthOverrides};
use crate::db::Db;

/// `server users ...`.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create an account holding the admin role. Applies pending migrations first where
    /// `serve` would (development and test). The password is prompted for (twice, not echoed),
    /// or read from standard input with --password-stdin; it must meet the password policy.
    CreateAdmin {
        /// User name of the new account.
        #[arg(long)]
        username: String,
        /// E-mail address of the new account.
        #[arg(long)]
        email: String,
        /// Read the password as one line from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Clear an account's login-failure counters (password and second factor, from every
    /// address), ending any back-off or hard limit on it at once. Audited as
    /// LoginFailuresCleared. The same as POST /api/v1/admin/users/{id}/unlock.
    Unlock {
        /// User name of the account.
        #[arg(long)]
        username: String,
    },
    /// Remove an account's second factor (its owner lost the authenticator and the recovery
    /// codes): the factor and recovery codes are deleted, every session of the account ends,
    /// and the owner is told by mail. Audited as SecondFactorReset. The same as POST
    /// /api/v1/admin/users/{id}/reset-mfa.
    ResetMfa {
        /// User name of the account.
        #[arg(long)]
        username: String,
    },
    /// Mail the account a password-reset link (to its own address, never to the operator),
    /// valid for auth.password_reset_ttl_secs. Audited as PasswordResetRequested. The same as
    /// POST /api/v1/admin/users/{id}/reset-password.
    ResetPassword {
        /// User name of the account.
        #[arg(long)]
        username: String,
    },
}

/// Runs a `users` subcommand.
///
/// # Errors
/// Settings, database or validation failures, with a message for the terminal.
pub fn run(command: UsersCommand, settings: &Settings) -> anyhow::Result<()> {
    match command {
        UsersCommand::CreateAdmin { username, email, password_stdin } => {
            let password = read_password(password_stdin)?;
            create_admin(settings, &username, &email, &password)
        }
        UsersCommand::Unlock { username } => unlock(settings, &username),
        UsersCommand::ResetMfa { username } => recover(settings, &username, Recovery::SecondFactor),
        UsersCommand::ResetPassword { username } => {
            recover(settings, &username, Recovery::Password)
        }
    }
}

/// What an operator resets for an owner.
#[derive(Debug, Clone, Copy)]
enum Recovery {
    SecondFactor,
    Password,
}

fn recover(settings: &Settings, username: &str, what: Recovery) -> anyhow::Result<()> {
    let db = Db::for_command(settings.database()).context("cannot open the database")?;
    if settings.database().migrate_on_start() {
        db.migrate().context("migrations failed")?;
    }
    let (trail, anchor) = crate::audit::continuity::open_for_command(settings, &db)?;
    let rules = auth::build(settings, &db, &trail, &AuthOverrides::default())?;
    let meta = RequestMeta::default();
    let done = rules.user_id_by_username(username).and_then(|id| match what {
        Recovery::SecondFactor => rules.reset_second_factor(None, id, &meta).map(|ended| {
            format!(
                "removed the second factor of {username} and ended {ended} session(s); a notice \
                 is queued for its address"
            )
        }),
        Recovery::Password => rules
            .issue_password_reset(None, id, &meta)
            .map(|()| format!("queued a password-reset link to the address of {username}")),
    });
    crate::audit::continuity::record(&anchor, &db, &trail)?;
    match done {
        Ok(message) => {
            #[allow(clippy::print_stdout, reason = "the command's result, for the terminal")]
            {
                println!("{message} (the running server's outbox sends it)");
            }
            Ok(())
        }
        Err(AuthError::NotFound) => bail!("no account has the user name {username:?}"),
        Err(AuthError::MfaNotEnabled) => bail!("{username} has no second factor"),
        Err(other) => Err(anyhow::Error::new(other).context("nothing was changed")),
    }
}

fn unlock(settings: &Settings, username: &str) -> anyhow::Result<()> {
    let db = Db::for_command(settings.database()).context("cannot open the database")?;
    if settings.database().migrate_on_start() {
        db.migrate().context("migrations failed")?;
    }
    let (trail, anchor) = crate::audit::continuity::open_for_command(settings, &db)?;
    let rules = auth::build(settings, &db, &trail, &AuthOverrides::default())?;
    let cleared = rules
        .user_id_by_username(username)
        .and_then(|id| rules.clear_login_failures(None, id, &RequestMeta::default()));
    crate::audit::continuity::record(&anchor, &db, &trail)?;
    match cleared {
        Ok(counters) => {
            #[allow(clippy::print_stdout, reason = "the command's result, for the terminal")]
            {
                println!(
                    "cleared the login-failure counters of {username} ({counters} held failures)"
                );
            }
            Ok(())
        }
        Err(AuthError::NotFound) => bail!("no account has the user name {username:?}"),
        Err(other) => Err(anyhow::Error::new(other).context("the counters were not cleared")),
    }
}

fn read_password(from_stdin: bool) -> anyhow::Result<SecretString> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("cannot read standard input")?;
        let password = SecretString::from(line.trim_end_matches(['\n', '\r']).to_owned());
        line.clear();
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        bail!("standard input is not a terminal; pass the password with --password-stdin");
    }
    let first = SecretString::from(rpassword::prompt_password("Password: ")?);
    let second = SecretString::from(rpassword::prompt_password("Password (again): ")?);
    if !sec_core::constant_time_eq(
        first.expose_secret().as_bytes(),
        second.expose_secret().as_bytes(),
    ) {
        bail!("the two passwords differ");
    }
    Ok(first)
}

fn create_admin(
    settings: &Settings,
    username: &str,
    email: &str,
    password: &SecretString,
) -> anyhow::Result<()> {
    let db = Db::for_command(settings.database()).context("cannot open the database")?;
    if settings.database().migrate_on_start() {
        db.migrate().context("migrations failed")?;
    }
    let (trail, anchor) = crate::audit::continuity::open_for_command(settings, &db)?;
    let rules = auth::build(settings, &db, &trail, &AuthOverrides::default())?;
    let created = rules.create_admin(&Registration { username, email, password });
    crate::audit::continuity::record(&anchor, &db, &trail)?;
    match created {
        Ok(user) => {
            tracing::info!(user = %user.id, "administrator account created");
            #[allow(clippy::print_stdout, reason = "the command's result, for the terminal")]
            {
                println!("created administrator {} ({})", user.username, user.id);
            }
            Ok(())
        }
        Err(AuthError::Invalid(problems)) => {
            let lines: Vec<String> =
                problems.iter().map(|p| format!("  {}: {}", p.field, p.message)).collect();
            bail!("the account was not created:\n{}", lines.join("\n"))
        }
        Err(other) => Err(anyhow::Error::new(other).context("the account was not created")),
    }
}
