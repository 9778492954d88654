//! The command line: `server [serve]` runs the HTTP server, `server migrate` applies database
//! migrations. Settings come from config files and environment variables, never from flags,
//! so that nothing secret ever needs to appear in a process list.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Secure-by-default reference server.
///
/// Settings are read, lowest precedence first, from built-in defaults, CONFIG_DIR/default.toml,
/// CONFIG_DIR/{APP_ENV}.toml, the encrypted CONFIG_DIR/secrets.{APP_ENV}.enc (master key from
/// APP_MASTER_KEY or APP_MASTER_KEY_FILE) and APP__SECTION__KEY environment variables
/// (DATABASE_URL is accepted for database.url). See docs/configuration.md and docs/secrets.md.
#[derive(Debug, Parser)]
#[command(name = "server", version, about, long_about)]
pub struct Cli {
    /// Folder of the optional TOML config files.
    #[arg(long, global = true, value_name = "DIR", default_value = "config")]
    pub config_dir: PathBuf,

    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default). In development and test, pending migrations are
    /// applied first; in production run `server migrate` as a release step.
    Serve,
    /// Apply pending database migrations and exit. Safe to run from several replicas at once.
    Migrate,
    /// The encrypted secrets file (CONFIG_DIR/secrets.{APP_ENV}.enc) and its master key.
    Secrets {
        /// What to do.
        #[command(subcommand)]
        command: crate::cli_secrets::SecretsCommand,
    },
    /// Check the settings without starting; `--deploy` runs every deploy rule.
    Check(crate::cli_check::CheckArgs),
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_subcommand_means_serve() {
        let cli = Cli::try_parse_from(["server"]).ok();
        assert!(matches!(cli, Some(Cli { command: None, .. })));
    }
}
