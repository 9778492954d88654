//! `server check [--deploy] [--format json]`: the command line over `sec-config`'s settings
//! checks. Without `--deploy` it loads the settings as the server would and prints them
//! (secrets redacted); with `--deploy` it runs every deploy rule and prints the findings.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a CLI command's output is its interface"
)]

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use sec_config::{Report, Settings, Sources};

/// Arguments of `server check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Run every deploy rule (as production unless APP_ENV says otherwise) and print the
    /// findings; exit non-zero on any error-level finding.
    #[arg(long)]
    pub deploy: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Table)]
    pub format: CheckFormat,
}

/// How `check` prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// A table for people.
    Table,
    /// JSON for CI.
    Json,
}

/// Runs `check`; the exit status is non-zero when the settings would be refused.
pub fn run(args: &CheckArgs, sources: &Sources) -> ExitCode {
    if args.deploy {
        let report = Report::check(sources);
        match args.format {
            CheckFormat::Table => print!("{}", report.to_table()),
            CheckFormat::Json => println!("{}", report.to_json()),
        }
        return if report.has_errors() { ExitCode::FAILURE } else { ExitCode::SUCCESS };
    }
    match Settings::load(sources) {
        Ok(settings) => {
            match args.format {
                CheckFormat::Table => print!("{settings}"),
                CheckFormat::Json => println!("{{\"ok\": true, \"env\": \"{}\"}}", settings.env()),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            match args.format {
                CheckFormat::Table => eprint!("server: the settings would be refused.\n{e}"),
                CheckFormat::Json => {
                    let problems: Vec<_> = e
                        .problems()
                        .iter()
                        .map(|p| {
                            serde_json::json!({
                                "key": p.key(), "source": p.source(), "message": p.message()
                            })
                        })
                        .collect();
                    println!("{}", serde_json::json!({ "ok": false, "problems": problems }));
                }
            }
            ExitCode::FAILURE
        }
    }
}
