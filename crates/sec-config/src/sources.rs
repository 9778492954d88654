//! Where settings come from: the environment variables, the config folder, the var folder
//! for local state, and the process arguments.
//!
//! A module of its own because the master keys, the layer inspection and the settings loader
//! all read it: kept inside `settings.rs`, it made those modules import each other. It depends
//! only on `env`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::env::{AppEnv, UnknownAppEnv};

/// Where settings come from: the environment variables and the folder of config files.
///
/// Tests build one by hand; the binary uses [`Sources::from_process`]. Its `Debug` lists
/// variable names only: values may be secrets.
#[derive(Clone)]
pub struct Sources {
    env_vars: BTreeMap<String, String>,
    config_dir: PathBuf,
    var_dir: Option<PathBuf>,
    read_only: bool,
    args: Vec<String>,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("env_vars", &self.env_vars.keys().collect::<Vec<_>>())
            .field("config_dir", &self.config_dir)
            .field("var_dir", &self.var_dir)
            .field("read_only", &self.read_only)
            .field("args", &format_args!("[{} redacted]", self.args.len()))
            .finish()
    }
}

impl Sources {
    /// Sources made of the given variables and config folder; nothing is read from the
    /// process environment.
    pub fn new<K, V>(
        config_dir: impl Into<PathBuf>,
        env_vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            env_vars: env_vars.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
            config_dir: config_dir.into(),
            // No var folder: a hand-built `Sources` never generates a development key unless
            // the test asks for one with `set_var_dir`.
            var_dir: None,
            read_only: false,
            args: Vec::new(),
        }
    }

    /// The process environment and `./config`. Variables whose name or value is not valid
    /// UTF-8 are skipped unless they belong to us, in which case loading reports them.
    pub fn from_process() -> Self {
        let env_vars = std::env::vars_os()
            .map(|(k, v)| {
                let k = k.to_string_lossy().into_owned();
                // A non-UTF-8 value of one of our variables becomes U+FFFD, which no setting
                // accepts, so it is reported instead of being dropped silently.
                (k, v.to_string_lossy().into_owned())
            })
            .collect();
        let args = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
        Self {
            env_vars,
            config_dir: PathBuf::from("config"),
            var_dir: Some(PathBuf::from("var")),
            read_only: false,
            args,
        }
    }

    /// Reads the config files from `dir` instead of `./config`.
    pub fn set_config_dir(&mut self, dir: impl Into<PathBuf>) {
        self.config_dir = dir.into();
    }

    /// The folder of the config files (and of the secrets files).
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    /// Keeps local state (the generated development key) under `dir`; the binary uses
    /// `./var`.
    pub fn set_var_dir(&mut self, dir: impl Into<PathBuf>) {
        self.var_dir = Some(dir.into());
    }

    /// The folder of local state, when there is one.
    pub fn var_dir(&self) -> Option<&Path> {
        self.var_dir.as_deref()
    }

    /// Loads without writing anything: the development keys under the var folder are read
    /// when they exist and never generated (nor is the folder created). For commands that run
    /// beside a server and must not need write access, such as `server probe`.
    pub fn set_read_only(&mut self) {
        self.read_only = true;
    }

    /// Whether loading may create the development keys ([`Sources::set_read_only`]).
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// The process arguments, searched for secrets that should never be passed that way.
    pub fn set_args<S: Into<String>>(&mut self, args: impl IntoIterator<Item = S>) {
        self.args = args.into_iter().map(Into::into).collect();
    }

    /// Sets `APP_ENV` unless it is already set (e.g. `check --deploy` assumes production).
    pub fn default_env(&mut self, env: AppEnv) {
        self.env_vars.entry("APP_ENV".to_owned()).or_insert_with(|| env.as_str().to_owned());
    }

    /// The environment `APP_ENV` names (development when unset).
    pub fn app_env(&self) -> Result<AppEnv, UnknownAppEnv> {
        self.var("APP_ENV").map_or(Ok(AppEnv::Development), str::parse)
    }

    /// The editor for `secrets edit`: `$VISUAL`, else `$EDITOR`, else `vi`.
    pub fn editor(&self) -> String {
        ["VISUAL", "EDITOR"]
            .iter()
            .find_map(|v| self.var(v).filter(|e| !e.trim().is_empty()))
            .unwrap_or("vi")
            .to_owned()
    }

    /// A private folder for the plaintext while `secrets edit` runs: `$XDG_RUNTIME_DIR`
    /// (memory-backed and private on most Linux systems), else the system temporary folder.
    pub fn scratch_dir(&self) -> PathBuf {
        self.var("XDG_RUNTIME_DIR")
            .filter(|d| !d.trim().is_empty())
            .map_or_else(std::env::temp_dir, PathBuf::from)
    }

    pub(crate) fn var(&self, name: &str) -> Option<&str> {
        self.env_vars.get(name).map(String::as_str)
    }

    pub(crate) fn args(&self) -> &[String] {
        &self.args
    }

    /// Every variable, by name: the loader maps those under its prefix to settings keys.
    pub(crate) fn env_vars(&self) -> &BTreeMap<String, String> {
        &self.env_vars
    }
}
