//! Problems found in the settings, reported all at once with the key they concern.

use std::fmt;

/// One thing wrong with the settings: which key, what is wrong, and how to fix it.
///
/// A problem never quotes the value of a secret setting, so it is safe to print and log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    key: String,
    message: String,
    source: Option<String>,
}

impl Problem {
    /// A problem with `key` (a dotted settings path or an environment variable name).
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into(), source: None }
    }

    /// The same problem, naming the layer the value came from (a file path, an environment
    /// variable, the secrets file or the built-in default).
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The layer the offending value came from, when known.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    pub(crate) fn set_source_if_unknown(&mut self, source: impl FnOnce() -> Option<String>) {
        if self.source.is_none() {
            self.source = source();
        }
    }

    /// The settings key or variable the problem concerns.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// What is wrong and how to fix it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{} (from {source}): {}", self.key, self.message),
            None => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

/// The settings could not be loaded or are not acceptable for this environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SettingsError {
    problems: Vec<Problem>,
}

impl SettingsError {
    pub(crate) fn new(problems: Vec<Problem>) -> Self {
        Self { problems }
    }

    /// Every problem found, in a stable order.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(f, "{n} setting problem{} found:", if n == 1 { "" } else { "s" })?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}
