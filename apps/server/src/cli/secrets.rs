//! `server secrets …`: the command line over `sec-config`'s encrypted secrets file and master
//! keys. The logic (encryption, validation, atomic writes) lives in `sec-config`; this file
//! only reads arguments and stdin, runs the editor and prints.
//!
//! Secret values never come from arguments (they would show in `ps` and shell history):
//! `set` reads the value from stdin.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a CLI command's output is its interface: values on stdout, guidance on stderr"
)]

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use sec_config::{
    AppEnv, EditOutcome, KeyOrigin, KeyRing, MASTER_KEY_FILE_VAR, MASTER_KEY_VAR, MasterKey,
    MasterKeys, SECRET_KEYS, SecretsDoc, SecretsFile, Sources,
};
use secrecy::{ExposeSecret, SecretString};

/// `server secrets` subcommands. The file is `CONFIG_DIR/secrets.{APP_ENV}.enc`; the master
/// keys come from APP_MASTER_KEY or APP_MASTER_KEY_FILE (in development, a key generated
/// once under ./var/).
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Create an empty encrypted secrets file, and a new master key when none is configured
    /// (printed once, or written to --key-file with mode 0600).
    Init {
        /// Write the new master key to this file (must not exist) instead of printing it.
        #[arg(long, value_name = "PATH")]
        key_file: Option<PathBuf>,
    },
    /// Decrypt to a private temporary file, open $VISUAL/$EDITOR, validate, re-encrypt.
    Edit,
    /// Print the secrets file as TOML, values redacted unless --reveal.
    Show {
        /// Print the values themselves.
        #[arg(long)]
        reveal: bool,
    },
    /// Set KEY (e.g. database.url) to the value read from stdin (never from arguments).
    Set {
        /// The settings key, e.g. database.url.
        key: String,
    },
    /// Print the value of KEY.
    Get {
        /// The settings key, e.g. database.url.
        key: String,
    },
    /// Make a new master key, re-encrypt the file with it, and print the deployment order.
    /// The old key keeps decrypting until you remove it from the key list.
    Rotate {
        /// Write the new key list (new key first, then the old ones) to this file (must not
        /// exist) instead of printing the new key.
        #[arg(long, value_name = "PATH")]
        key_file: Option<PathBuf>,
    },
}

/// Runs a `secrets` subcommand; errors are printed, and give a non-zero exit status.
pub fn run(command: &SecretsCommand, sources: &Sources) -> ExitCode {
    match execute(command, sources) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server secrets: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn execute(command: &SecretsCommand, sources: &Sources) -> anyhow::Result<()> {
    let env = sources.app_env()?;
    let file = SecretsFile::for_env(sources.config_dir(), env);
    let keys = MasterKeys::load(sources, env).context("master key")?;
    if let Some(KeyOrigin::DevelopmentFile { path, generated: true, .. }) =
        keys.as_ref().map(MasterKeys::origin)
    {
        eprintln!(
            "note: generated a development master key in {} (owner-only); production refuses it",
            path.display()
        );
    }
    match command {
        SecretsCommand::Init { key_file } => init(&file, keys.as_ref(), key_file.as_deref(), env),
        SecretsCommand::Edit => edit(&file, required(keys.as_ref())?, sources),
        SecretsCommand::Show { reveal } => show(&file, required(keys.as_ref())?, *reveal),
        SecretsCommand::Set { key } => set(&file, required(keys.as_ref())?, key),
        SecretsCommand::Get { key } => get(&file, required(keys.as_ref())?, key),
        SecretsCommand::Rotate { key_file } => {
            rotate(&file, required(keys.as_ref())?, key_file.as_deref())
        }
    }
}

fn required(keys: Option<&MasterKeys>) -> anyhow::Result<&MasterKeys> {
    keys.with_context(|| {
        format!(
            "no master key: set {MASTER_KEY_VAR} or {MASTER_KEY_FILE_VAR} (create one with \
             `server secrets init`)"
        )
    })
}

fn init(
    file: &SecretsFile,
    keys: Option<&MasterKeys>,
    key_file: Option<&Path>,
    env: AppEnv,
) -> anyhow::Result<()> {
    if file.exists() {
        bail!(
            "{} already exists: use `secrets edit`, `secrets set` or `secrets rotate`",
            file.path().display()
        );
    }
    let ring = match (keys, key_file) {
        (Some(keys), None) => {
            eprintln!("encrypting with the configured master key ({})", keys.origin());
            keys.ring().clone()
        }
        (Some(keys), Some(_)) => bail!(
            "a master key is already configured ({}); unset it to create a new one, or drop \
             --key-file",
            keys.origin()
        ),
        (None, key_file) => {
            let ring = KeyRing::new(vec![MasterKey::generate()?])?;
            hand_over_new_key(&ring, key_file)?;
            ring
        }
    };
    file.create(&ring, &SecretsDoc::new())?;
    eprintln!(
        "created {} (empty). Add values with `APP_ENV={env} server secrets set KEY` (the \
         value on stdin); it may hold: {}. The file is encrypted: commit it.",
        file.path().display(),
        SECRET_KEYS.join(", ")
    );
    Ok(())
}

/// Writes the keys to `key_file`, or prints the newest one once.
fn hand_over_new_key(ring: &KeyRing, key_file: Option<&Path>) -> anyhow::Result<()> {
    match key_file {
        Some(path) => {
            MasterKeys::write_key_file(path, ring, false)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "wrote the master key to {} (mode 0600). Keep it out of git; point \
                 {MASTER_KEY_FILE_VAR} at it.",
                path.display()
            );
        }
        None => {
            eprintln!(
                "new master key below, shown once: store it in your secret manager now and give \
                 it to the server as {MASTER_KEY_VAR} (or in a file named by \
                 {MASTER_KEY_FILE_VAR})."
            );
            println!("{}", ring.newest().encoded().expose_secret());
        }
    }
    Ok(())
}

fn edit(file: &SecretsFile, keys: &MasterKeys, sources: &Sources) -> anyhow::Result<()> {
    let editor = sources.editor();
    let interactive = std::io::stdin().is_terminal();
    let outcome = file.edit(
        keys.ring(),
        &sources.scratch_dir(),
        |path| {
            // Through the shell so that EDITOR="code --wait" works; the path is an argument,
            // never spliced into the command text.
            let status = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("{editor} \"$1\""))
                .arg("sh")
                .arg(path)
                .status()?;
            if status.success() {
                Ok(())
            } else {
                Err(std::io::Error::other(format!("the editor exited with {status}")))
            }
        },
        |problem| {
            eprintln!("the edited secrets are invalid: {problem}");
            if !interactive {
                return false;
            }
            eprint!("reopen the editor? [Y/n] ");
            let _ = std::io::stderr().flush();
            let mut answer = String::new();
            let _ = std::io::stdin().read_line(&mut answer);
            !answer.trim().eq_ignore_ascii_case("n")
        },
    )?;
    match outcome {
        EditOutcome::Saved => eprintln!("saved {}", file.path().display()),
        EditOutcome::Unchanged => eprintln!("no change; {} left as it was", file.path().display()),
        _ => bail!("invalid content discarded; {} left as it was", file.path().display()),
    }
    Ok(())
}

fn show(file: &SecretsFile, keys: &MasterKeys, reveal: bool) -> anyhow::Result<()> {
    let (doc, key_index) = file.open(keys.ring())?;
    eprintln!("# {} (opened with master key #{})", file.path().display(), key_index + 1);
    if reveal {
        print!("{}", doc.to_toml().as_str());
    } else {
        print!("{}", doc.to_redacted_toml());
    }
    Ok(())
}

fn set(file: &SecretsFile, keys: &MasterKeys, key: &str) -> anyhow::Result<()> {
    if std::io::stdin().is_terminal() {
        eprintln!("type the value of {key}, then Enter and Ctrl-D:");
    }
    let mut value = String::new();
    std::io::stdin().read_to_string(&mut value).context("cannot read the value from stdin")?;
    let value = SecretString::from(strip_one_newline(value));
    file.update(keys.ring(), |doc| doc.set(key, value))?;
    eprintln!("set {key} in {}", file.path().display());
    Ok(())
}

/// `echo`, here-strings and editors end the value with a newline that is not part of it.
fn strip_one_newline(mut value: String) -> String {
    if value.ends_with('\n') {
        value.pop();
        if value.ends_with('\r') {
            value.pop();
        }
    }
    value
}

fn get(file: &SecretsFile, keys: &MasterKeys, key: &str) -> anyhow::Result<()> {
    let (doc, _) = file.open(keys.ring())?;
    match doc.get(key) {
        Some(value) => {
            println!("{}", value.expose_secret());
            Ok(())
        }
        None => bail!("{key} is not set in {}", file.path().display()),
    }
}

fn rotate(file: &SecretsFile, keys: &MasterKeys, key_file: Option<&Path>) -> anyhow::Result<()> {
    // Prove the current keys open the file before anything is created or changed.
    if file.exists() {
        file.open(keys.ring())?;
    }
    let development = matches!(keys.origin(), KeyOrigin::DevelopmentFile { .. });
    let new_key =
        if development { MasterKey::generate_development()? } else { MasterKey::generate()? };
    let next = keys.ring().with_newest(new_key);

    // The new key is stored before the file depends on it.
    match (keys.origin(), key_file) {
        (KeyOrigin::DevelopmentFile { path, .. }, None) => {
            MasterKeys::write_key_file(path, &next, true)?;
            eprintln!("added the new key in front of {}", path.display());
        }
        (_, Some(path)) => {
            MasterKeys::write_key_file(path, &next, false)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote the key list (new key first) to {} (mode 0600)", path.display());
        }
        (_, None) => {
            eprintln!("new master key below, shown once: store it in your secret manager now.");
            println!("{}", next.newest().encoded().expose_secret());
        }
    }
    if file.exists() {
        file.reencrypt(keys.ring(), &next)?;
        eprintln!("re-encrypted {} with the new key", file.path().display());
    }
    eprintln!(
        "\nDeploy in this order:\n  1. Give every process the key list NEW,OLD ({MASTER_KEY_VAR}=\"<new>,<old>\" or \
         both lines in the key file) and roll it out: the old file still opens with OLD.\n  2. Commit and \
         deploy {}: it now opens only with NEW.\n  3. When every replica runs the new file, remove OLD from \
         the list, roll out again, and destroy OLD.\nA process that has only OLD cannot read the new file \
         and refuses to start, naming the file.",
        file.path().display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_trailing_newline_is_dropped_and_nothing_else() {
        assert_eq!(strip_one_newline("v\n".into()), "v");
        assert_eq!(strip_one_newline("v\r\n".into()), "v");
        assert_eq!(strip_one_newline("v\n\n".into()), "v\n");
        assert_eq!(strip_one_newline(" v ".into()), " v ");
    }
}
