//! Entry point of the `server` binary: parse the command line, load settings, hand over to
//! the library. Errors end the process with a non-zero status and a readable message.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use sec_config::{Settings, Sources};
use server::cli::{Cli, Command};
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
    match run(cli.command.unwrap_or(Command::Serve), &settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "server failed");
            #[allow(clippy::print_stderr, reason = "the failure must reach a terminal too")]
            {
                eprintln!("server: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command, settings: &Settings) -> anyhow::Result<()> {
    let _guard = server::telemetry::init(settings).context("cannot set up logging")?;
    for note in settings.inspection().notes() {
        tracing::info!("{note}");
    }
    match command {
        Command::Serve => actix_web::rt::System::new().block_on(serve(settings)),
        Command::Migrate => migrate(settings),
        Command::Secrets { .. } | Command::Check(_) => Ok(()),
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
