//! `server mail status`: what the outbox holds, for an operator who wonders whether mail goes
//! out (the transport, how many messages wait, how many were given up and why the newest
//! one failed). It reads the database and sends nothing.

use anyhow::Context;
use clap::Subcommand;
use sec_config::Settings;

use crate::db::{Db, outbox};

/// `server mail ...`.
#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Show the mail transport and the outbox: messages waiting to be sent and messages given
    /// up (kept for 7 days). Reads the database only.
    Status,
}

/// Runs a `mail` subcommand.
///
/// # Errors
/// The database cannot be read.
pub fn run(command: MailCommand, settings: &Settings) -> anyhow::Result<()> {
    match command {
        MailCommand::Status => status(settings),
    }
}

fn status(settings: &Settings) -> anyhow::Result<()> {
    let transport = crate::mail::Mailer::from_settings(settings)
        .map(|m| m.describe())
        .unwrap_or_else(|e| format!("not usable: {e}"));
    let db = Db::for_command(settings.database()).context("cannot open the database")?;
    let (waiting, failed) = db.run_blocking(outbox::counts).context("cannot read the outbox")?;
    let last_error = db.run_blocking(outbox::last_error).context("cannot read the outbox")?;
    #[allow(clippy::print_stdout, reason = "the command's report, for the terminal")]
    {
        println!("transport: {transport}");
        println!("waiting:   {waiting}");
        println!("given up:  {failed}");
        if let Some(error) = last_error {
            println!("last error: {error}");
        }
    }
    Ok(())
}
