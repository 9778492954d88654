//! `server dev-cert`: a self-signed certificate for local HTTPS.

use std::path::PathBuf;
use std::process::ExitCode;

use sec_config::{DevCertError, DevCertificate};

/// `server dev-cert`.
#[derive(Debug, clap::Args)]
pub struct DevCertArgs {
    /// Folder for cert.pem and key.pem (created owner-only).
    #[arg(long, value_name = "DIR", default_value = sec_config::DEV_CERT_DIR)]
    pub dir: PathBuf,
    /// Replace an existing certificate and key instead of refusing.
    #[arg(long)]
    pub force: bool,
}

/// `server dev-cert`: exit 0 when written, 1 when a certificate is already there (and no
/// `--force`), 2 when it could not be written.
#[allow(clippy::print_stdout, clippy::print_stderr, reason = "a command-line report")]
pub fn run(args: &DevCertArgs) -> ExitCode {
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
