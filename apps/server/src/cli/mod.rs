//! The command line: `server [serve]` runs the HTTP server, `server migrate` applies database
//! migrations, `server audit verify|acknowledge|keygen` checks the audit chain (and its head
//! recorded in the database), accepts an audit folder that lost its tail, or makes the chain
//! key, `server
//! users create-admin` makes the first administrator, `server users unlock` clears an
//! account's login-failure counters, `server users reset-mfa|reset-password` recover an owner's
//! lost second factor or password, `server mail status` shows the outbox, `server mfa
//! keygen|reseal` handles the
//! key of TOTP secrets at rest, `server openapi` prints the API's OpenAPI document,
//! `server dev-cert` writes a certificate for local HTTPS, `server probe` asks a running
//! server whether it is ready (for container health checks). Settings
//! come from config files and environment variables, never from flags, so that nothing secret
//! ever needs to appear in a process list.

pub mod audit;
pub mod check;
pub mod dev_cert;
pub mod mail;
pub mod mfa;
pub mod migrate;
pub mod openapi;
pub mod probe;
pub mod secrets;
pub mod serve;
pub mod users;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use self::audit::AuditCommand;
use self::dev_cert::DevCertArgs;

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
    /// Ask the running server whether it is ready: GET /readyz on the address the settings
    /// make it listen on (loopback for 0.0.0.0 or ::), over HTTPS when TLS is on, trusting
    /// only the certificates of tls.cert_file. Prints one line; exits 0 on 200, 1 otherwise
    /// (refused, timed out, TLS failure, any other status). Writes nothing and opens no
    /// database: for container health checks.
    Probe(self::probe::ProbeArgs),
    /// Audit trail tools.
    Audit {
        /// What to do.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The encrypted secrets file (CONFIG_DIR/secrets.{APP_ENV}.enc) and its master key.
    Secrets {
        /// What to do.
        #[command(subcommand)]
        command: self::secrets::SecretsCommand,
    },
    /// Check the settings without starting; `--deploy` runs every deploy rule.
    Check(self::check::CheckArgs),
    /// Account administration from the command line.
    Users {
        /// What to do.
        #[command(subcommand)]
        command: self::users::UsersCommand,
    },
    /// Print the OpenAPI 3.1 document of the HTTP API (pretty JSON) to standard output, as
    /// `GET /api/openapi.json` serves it; `just openapi` writes it to docs/openapi.json.
    Openapi,
    /// Mail: the transport and what the outbox holds.
    Mail {
        /// What to do.
        #[command(subcommand)]
        command: self::mail::MailCommand,
    },
    /// The key that seals TOTP secrets at rest (auth.mfa_keys): make one, or reseal every
    /// stored secret with the newest key after a rotation.
    Mfa {
        /// What to do.
        #[command(subcommand)]
        command: self::mfa::MfaCommand,
    },
    /// Write a self-signed certificate for localhost, 127.0.0.1 and ::1 (ECDSA P-256, valid 90
    /// days; CA:false, serverAuth, key identifiers) to DIR/cert.pem and DIR/key.pem (mode 0600), for local HTTPS, and print the
    /// settings that use it. Browsers will warn about it until it is trusted. Never for
    /// production.
    DevCert(DevCertArgs),
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
    fn audit_verify_takes_an_optional_path_and_key_file() {
        let cli =
            Cli::try_parse_from(["server", "audit", "verify", "var/log/audit", "--key-file", "k"])
                .ok();
        assert!(matches!(
            cli,
            Some(Cli {
                command: Some(Command::Audit {
                    command: AuditCommand::Verify { path: Some(ref p), key_file: Some(ref k) }
                }),
                ..
            }) if p.as_path() == std::path::Path::new("var/log/audit") && k.as_path() == std::path::Path::new("k")
        ));
        assert!(Cli::try_parse_from(["server", "audit", "verify"]).is_ok());
        assert!(Cli::try_parse_from(["server", "audit", "keygen"]).is_err(), "needs a file");
    }

    #[test]
    fn dev_cert_writes_under_var_tls_unless_told_otherwise() {
        let cli = Cli::try_parse_from(["server", "dev-cert"]).ok();
        assert!(matches!(
            cli,
            Some(Cli { command: Some(Command::DevCert(DevCertArgs { ref dir, force: false })), .. })
                if dir.as_path() == std::path::Path::new("var/tls")
        ));
        let cli = Cli::try_parse_from(["server", "dev-cert", "--dir", "x", "--force"]).ok();
        assert!(matches!(
            cli,
            Some(Cli { command: Some(Command::DevCert(DevCertArgs { force: true, .. })), .. })
        ));
    }

    #[test]
    fn probe_waits_three_seconds_unless_told_otherwise_and_never_zero() {
        let timeout = |args: &[&str]| match Cli::try_parse_from(args) {
            Ok(Cli { command: Some(Command::Probe(probe)), .. }) => Some(probe.timeout),
            _ => None,
        };
        assert_eq!(timeout(&["server", "probe"]), Some(3));
        assert_eq!(timeout(&["server", "probe", "--timeout", "10"]), Some(10));
        assert_eq!(timeout(&["server", "probe", "--timeout", "0"]), None);
    }

    #[test]
    fn no_subcommand_means_serve() {
        let cli = Cli::try_parse_from(["server"]).ok();
        assert!(matches!(cli, Some(Cli { command: None, .. })));
    }
}
