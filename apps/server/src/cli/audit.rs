//! `server audit verify|acknowledge|keygen`: the audit chain checked from the terminal, with
//! its head recorded in the database; a folder that lost its tail accepted; a chain key made.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use sec_audit::{ChainKey, VerifyError};
use sec_config::Settings;

use crate::db::Db;

/// `server audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of an audit file, or of a folder of rotated audit files (the
    /// configured {log.dir}/audit when omitted). Prints a summary and exits 0 when intact;
    /// names the first broken line and exits 1 on any edit, deletion, insertion, reordering,
    /// truncation or missing file; exits 2 when the files cannot be read. For the configured
    /// folder it also compares the chain with the head recorded for it in the
    /// database, so that newest lines cut away or a deleted folder exit 1 too (2 when the
    /// database cannot be read).
    Verify {
        /// An audit-*.jsonl file or a folder of them.
        #[arg(value_name = "FILE_OR_DIR")]
        path: Option<PathBuf>,
        /// The chain key file, instead of the configured one (log.audit_key_file, or the
        /// development key {log.dir}/audit.key).
        #[arg(long, value_name = "FILE")]
        key_file: Option<PathBuf>,
    },
    /// Accept the configured audit folder as it is when it does not continue the chain head
    /// recorded in the database (its newest lines were cut, or it was deleted or replaced),
    /// which makes a production server refuse to start. Records an AuditTrailDiscontinuity
    /// event (resolution "acknowledged") in the trail and makes the folder's head the recorded
    /// one. Run it with the server stopped, after finding out what happened to the files.
    /// Exits 0 when acknowledged or when there was nothing to acknowledge, 2 on failure.
    Acknowledge,
    /// Create a new random audit chain key in FILE (mode 0600; never overwrites). Point
    /// log.audit_key_file at it; keep it outside the log folder.
    Keygen {
        /// Where to write the key.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// `server audit verify|acknowledge|keygen`: exit 0 when intact (or acknowledged, or created), 1
/// when the chain is broken or lacks its recorded head, 2 when it could not be checked.
#[allow(clippy::print_stdout, clippy::print_stderr, reason = "a command-line report")]
pub fn run(command: AuditCommand, settings: &Settings) -> ExitCode {
    match command {
        AuditCommand::Keygen { file } => match ChainKey::create_file(&file) {
            Ok(_) => {
                println!("created audit chain key {} (mode 0600)", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("server: {e}");
                ExitCode::from(2)
            }
        },
        AuditCommand::Verify { path, key_file } => {
            // The recorded head belongs to the configured folder: compared only for it.
            let compare_head = path.is_none();
            let path = path.unwrap_or_else(|| crate::audit::dir(settings));
            let key_path: PathBuf = key_file.unwrap_or_else(|| crate::audit::key_path(settings));
            // A missing key file is not an error here: an unkeyed chain needs none, and a
            // keyed one is then reported as needing its key.
            let key = if key_path.exists() {
                match ChainKey::load_file(&key_path) {
                    Ok(key) => Some(key),
                    Err(e) => {
                        eprintln!("server: {e}");
                        return ExitCode::from(2);
                    }
                }
            } else {
                None
            };
            match sec_audit::verify(&path, key.as_ref()) {
                Ok(summary) => println!("{}: {summary}", path.display()),
                Err(e @ VerifyError::Broken(_)) => {
                    eprintln!("{e}");
                    return ExitCode::FAILURE;
                }
                // An empty or deleted folder may still be a finding against the recorded head.
                Err(VerifyError::NoFiles { .. }) if compare_head => {
                    println!("{}: no audit files", path.display());
                }
                Err(VerifyError::Io { .. }) if compare_head && !path.exists() => {
                    println!("{}: no audit folder", path.display());
                }
                Err(e) => {
                    eprintln!("server: {e}");
                    return ExitCode::from(2);
                }
            }
            if compare_head {
                verify_recorded_head(settings, &path, key.as_ref())
            } else {
                ExitCode::SUCCESS
            }
        }
        AuditCommand::Acknowledge => acknowledge(settings),
    }
}

/// The configured audit folder against the head recorded for it in the database.
#[allow(clippy::print_stdout, clippy::print_stderr, reason = "a command-line report")]
fn verify_recorded_head(
    settings: &Settings,
    dir: &std::path::Path,
    key: Option<&ChainKey>,
) -> ExitCode {
    let trail = crate::audit::continuity::trail_name(settings);
    let recorded = Db::for_command(settings.database())
        .and_then(|db| db.run_blocking(|c| crate::db::audit_heads::recorded(c, &trail)));
    let recorded = match recorded {
        Ok(Some(head)) => head,
        Ok(None) => {
            println!("no chain head recorded in the database for {trail}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("server: cannot read the recorded audit chain head: {e}");
            return ExitCode::from(2);
        }
    };
    match sec_audit::check_continuity(dir, key, &recorded) {
        Ok(sec_audit::Continuity::Continuous) => {
            println!(
                "recorded head ({trail}): line {} is present, sealed as recorded",
                recorded.seq
            );
            ExitCode::SUCCESS
        }
        Ok(sec_audit::Continuity::Missing { last_seq }) => {
            eprintln!(
                "{}: the recorded head ({trail}) is line {}, which the folder lacks; \
                 it ends at line {}: lines were cut from the end, or the folder was deleted or \
                 replaced",
                dir.display(),
                recorded.seq,
                last_seq.unwrap_or(0)
            );
            ExitCode::FAILURE
        }
        Ok(sec_audit::Continuity::Replaced { last_seq }) => {
            eprintln!(
                "{}: the recorded head ({trail}) is line {}, and the folder holds \
                 another line under that number (it ends at line {}): the trail was replaced",
                dir.display(),
                recorded.seq,
                last_seq.unwrap_or(0)
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("server: {e}");
            ExitCode::from(2)
        }
    }
}

/// `server audit acknowledge`: see its `--help`.
#[allow(clippy::print_stdout, clippy::print_stderr, reason = "a command-line report")]
fn acknowledge(settings: &Settings) -> ExitCode {
    use crate::audit::continuity::Settled;
    match crate::audit::continuity::acknowledge(settings) {
        Ok(Settled::Accepted(gap, _)) => {
            println!(
                "acknowledged: {gap}.\nRecorded as AuditTrailDiscontinuity in the audit trail; \
                 the folder's head is now the recorded one"
            );
            ExitCode::SUCCESS
        }
        Ok(_) => {
            println!("the audit folder continues the recorded head: nothing to acknowledge");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("server: {e:#}");
            ExitCode::from(2)
        }
    }
}
