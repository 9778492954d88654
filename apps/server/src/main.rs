//! Entry point of the `server` binary: parse the command line, load the settings the command
//! needs, and hand over to its module in `server::cli`. Errors end the process with a non-zero
//! status and a readable message.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use sec_config::{Settings, Sources};
use server::cli::{self, Cli, Command, mfa::MfaCommand};

fn main() -> ExitCode {
    let args = Cli::parse();
    let mut sources = Sources::from_process();
    sources.set_config_dir(&args.config_dir);
    match args.command.unwrap_or(Command::Serve) {
        // These inspect or repair the settings, so they run before (and without) loading them.
        Command::Secrets { command } => cli::secrets::run(&command, &sources),
        Command::Check(args) => cli::check::run(&args, &sources),
        Command::DevCert(args) => cli::dev_cert::run(&args),
        // Runs beside a server, in a read-only container: loads the settings without writing
        // anything, and reports on one line without a logger.
        Command::Probe(args) => {
            sources.set_read_only();
            cli::probe::run(&args, &sources)
        }
        // The document depends on the code only, so it needs no settings (and no secrets).
        Command::Openapi => exit(cli::openapi::run()),
        Command::Mfa { command: MfaCommand::Keygen } => exit(cli::mfa::keygen()),
        // A report for the terminal, not log lines: no subscriber, nothing written to the logs.
        Command::Audit { command } => {
            with_settings(&sources, |settings| cli::audit::run(command, settings))
        }
        Command::Serve => with_logging(&sources, cli::serve::run),
        Command::Migrate => with_logging(&sources, cli::migrate::run),
        Command::Users { command } => {
            with_logging(&sources, |settings| cli::users::run(command, settings))
        }
        Command::Mail { command } => {
            with_logging(&sources, |settings| cli::mail::run(command, settings))
        }
        Command::Mfa { command: MfaCommand::Reseal } => {
            with_logging(&sources, cli::mfa::run_reseal)
        }
    }
}

/// Loads the settings and runs `command` with them; a refusal to load is the exit status 1.
fn with_settings(sources: &Sources, command: impl FnOnce(&Settings) -> ExitCode) -> ExitCode {
    match Settings::load(sources) {
        Ok(settings) => command(&settings),
        Err(e) => {
            // The log subscriber depends on the settings, so this goes straight to stderr.
            #[allow(clippy::print_stderr, reason = "no logger exists before settings load")]
            {
                eprintln!("server: refusing to start.\n{e}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Loads the settings, sets up the logs they configure, and runs `command`; its failure is
/// logged and printed.
fn with_logging(
    sources: &Sources,
    command: impl FnOnce(&Settings) -> anyhow::Result<()>,
) -> ExitCode {
    with_settings(sources, |settings| {
        let guard = match server::telemetry::init(settings).context("cannot set up logging") {
            Ok(guard) => guard,
            Err(e) => return fail(&e),
        };
        for note in settings.inspection().notes() {
            tracing::info!("{note}");
        }
        let code = match command(settings) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "server failed");
                fail(&e)
            }
        };
        // Flushes the file log, the lines above included.
        drop(guard);
        code
    })
}

fn exit(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &anyhow::Error) -> ExitCode {
    #[allow(clippy::print_stderr, reason = "the failure must reach a terminal too")]
    {
        eprintln!("server: {e:#}");
    }
    ExitCode::FAILURE
}
