//! Entry point of the `server` binary: parse the command line, load settings, hand over to
//! the library. Errors end the process with a non-zero status and a readable message.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use sec_audit::{ChainKey, VerifyError};
use sec_config::{DevCertError, DevCertificate, Settings, Sources};
use server::cli::{AuditCommand, Cli, Command, DevCertArgs};
use server::db::Db;
use server::startup::Application;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut sources = Sources::from_process();
    sources.set_config_dir(&cli.config_dir);
    // These inspect or repair the settings, so they run before (and without) loading them.
    match &cli.command {
        Some(Command::Secrets { command }) => return server::cli_secrets::run(command, &sources),
        Some(Command::Check(args)) => return server::cli_check::run(args, &sources),
        Some(Command::DevCert(args)) => return dev_cert(args),
        // Runs beside a server, in a read-only container: loads the settings without writing
        // anything, and reports on one line without a logger.
        Some(Command::Probe(args)) => {
            sources.set_read_only();
            return server::cli_probe::run(args, &sources);
        }
        // The document depends on the code only, so it needs no settings (and no secrets).
        Some(Command::Openapi) => return print_openapi(),
        Some(Command::Mfa { command: server::cli_mfa::MfaCommand::Keygen }) => {
            return match server::cli_mfa::keygen() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            };
        }
        _ => {}
    }
    let settings = match Settings::load(&sources) {
        Ok(s) => s,
        Err(e) => {
            // The log subscriber depends on the settings, so this goes straight to stderr.
            #[allow(clippy::print_stderr, reason = "no logger exists before settings load")]
            {
                eprintln!("server: refusing to start.\n{e}");
            }
            return ExitCode::FAILURE;
        }
    };
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Audit { command } = command {
        // A report for the terminal, not log lines: no subscriber, nothing written to the logs.
        return audit(command, &settings);
    }

    let guard = match server::telemetry::init(&settings).context("cannot set up logging") {
        Ok(guard) => guard,
        Err(e) => return fail(&e),
    };
    for note in settings.inspection().notes() {
        tracing::info!("{note}");
    }
    let code = match run(command, &settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "server failed");
            fail(&e)
        }
    };
    // Flushes the file log, the lines above included.
    drop(guard);
    code
}

/// `server openapi`: the document on standard output, for `just openapi` to write.
#[allow(clippy::print_stdout, reason = "the document is the command's output")]
fn print_openapi() -> ExitCode {
    match server::openapi::pretty_json() {
        Ok(json) => {
            print!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&anyhow::Error::new(e).context("cannot render the OpenAPI document")),
    }
}

fn fail(e: &anyhow::Error) -> ExitCode {
    #[allow(clippy::print_stderr, reason = "the failure must reach a terminal too")]
    {
        eprintln!("server: {e:#}");
    }
    ExitCode::FAILURE
}

fn run(command: Command, settings: &Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => actix_web::rt::System::new().block_on(serve(settings)),
        Command::Migrate => migrate(settings),
        Command::Users { command } => server::cli_users::run(command, settings),
        Command::Mfa { command: server::cli_mfa::MfaCommand::Reseal } => {
            server::cli_mfa::run_reseal(settings)
        }
        Command::Mfa { command: server::cli_mfa::MfaCommand::Keygen }
        | Command::Audit { .. }
        | Command::Probe(_)
        | Command::Secrets { .. }
        | Command::Check(_)
        | Command::Openapi
        | Command::DevCert(_) => Ok(()),
    }
}

async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await.context("cannot start the server")?;
    tracing::info!(
        "listening on {} ({}), database: {}",
        app.url(),
        settings.env(),
        app.db().describe(),
    );
    app.stop_on_signals();
    app.run_until_stopped().await.context("server stopped with an error")?;
    tracing::info!("server stopped");
    Ok(())
}

fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let db = Db::new(settings.database()).context("cannot open the database")?;
    let report = db.migrate().context("migrations failed")?;
    if report.applied.is_empty() {
        tracing::info!(database = %db.describe(), "schema is up to date; nothing to apply");
    } else {
        tracing::info!(database = %db.describe(), applied = ?report.applied, "migrations applied");
    }
    Ok(())
}

/// `server dev-cert`: exit 0 when written, 1 when a certificate is already there (and no
/// `--force`), 2 when it could not be written.
#[allow(clippy::print_stdout, clippy::print_stderr, reason = "a command-line report")]
fn dev_cert(args: &DevCertArgs) -> ExitCode {
    match DevCertificate::create(&args.dir, args.force) {
        Ok(cert) => {
            let (c, k) = (cert.cert_file().display(), cert.key_file().display());
            println!(
                "wrote {c} (self-signed for {names}, valid {days} days)\n\
                 wrote {k} (private key, mode 0600)\n\n\
                 Serve HTTPS with it:\n  \
                 APP__TLS__CERT_FILE={c} APP__TLS__KEY_FILE={k} cargo run\n\
                 or in config/development.toml:\n  \
                 [tls]\n  cert_file = \"{c}\"\n  key_file = \"{k}\"\n\n\
                 Browsers warn until the certificate is trusted; it is for this machine only.",
                names = sec_config::DEV_CERT_NAMES.join(", "),
                days = sec_config::DEV_CERT_VALIDITY_DAYS,
            );
            ExitCode::SUCCESS
        }
        Err(e @ DevCertError::Exists(_)) => {
            eprintln!("server: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("server: {e}");
            ExitCode::from(2)
        }
    }
}

/// `server audit verify|acknowledge|keygen`: exit 0 when intact (or acknowledged, or created), 1
/// when the chain is broken or lacks its recorded head, 2 when it could not be checked.
#[allow(clippy::print_stdout, clippy::print_stderr, reason = "a command-line report")]
fn audit(command: AuditCommand, settings: &Settings) -> ExitCode {
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
            let path = path.unwrap_or_else(|| server::audit::dir(settings));
            let key_path: PathBuf = key_file.unwrap_or_else(|| server::audit::key_path(settings));
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
    let trail = server::audit::continuity::trail_name(settings);
    let recorded = Db::new(settings.database())
        .and_then(|db| db.run_blocking(|c| server::db::audit_heads::recorded(c, &trail)));
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
    use server::audit::continuity::Settled;
    match server::audit::continuity::acknowledge(settings) {
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
