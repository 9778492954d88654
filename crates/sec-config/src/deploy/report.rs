//! The report of `server check --deploy`: every rule run on the loaded settings, as a table
//! for people or JSON for CI.

use std::fmt::Write as _;

use serde::Serialize;

use super::{Finding, LOAD_FAILURE_ID, RULES, Severity};
use crate::env::AppEnv;
use crate::settings::Settings;
use crate::sources::Sources;

/// The findings of `check --deploy`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    env: Option<String>,
    findings: Vec<Finding>,
}

impl Report {
    /// Loads the settings from `sources` (as production unless `APP_ENV` says otherwise) and
    /// runs every rule, whatever its scope. Settings that do not load give one
    /// [`LOAD_FAILURE_ID`] finding per problem.
    pub fn check(sources: &Sources) -> Self {
        let mut sources = sources.clone();
        sources.default_env(AppEnv::Production);
        let env = sources.app_env().ok().map(|e| e.as_str().to_owned());
        match Settings::load_without_deploy_rules(&sources) {
            Ok(settings) => Self::of(&settings),
            Err(e) => Self {
                env,
                findings: e
                    .problems()
                    .iter()
                    .map(|p| Finding {
                        id: LOAD_FAILURE_ID,
                        severity: Severity::Error,
                        key: p.key().to_owned(),
                        source: p.source().map(str::to_owned),
                        message: p.message().to_owned(),
                        fix: "correct the setting; the server refuses to start until then".into(),
                    })
                    .collect(),
            },
        }
    }

    /// Runs every rule on `settings`.
    pub fn of(settings: &Settings) -> Self {
        Self {
            env: Some(settings.env().as_str().to_owned()),
            findings: RULES.iter().flat_map(|r| r.findings(settings)).collect(),
        }
    }

    /// The findings, in rule order.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// True when any finding is an error (the check fails).
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The report as JSON, for CI.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Out<'a> {
            env: Option<&'a str>,
            ok: bool,
            errors: usize,
            warnings: usize,
            findings: &'a [Finding],
            pending_checks: &'a [&'a str],
        }
        let errors = self.findings.iter().filter(|f| f.severity == Severity::Error).count();
        let out = Out {
            env: self.env.as_deref(),
            ok: errors == 0,
            errors,
            warnings: self.findings.len() - errors,
            findings: &self.findings,
            pending_checks: PENDING_CHECKS,
        };
        serde_json::to_string_pretty(&out).unwrap_or_else(|_| "{}".to_owned())
    }

    /// The report as a text table.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let env = self.env.as_deref().unwrap_or("unknown");
        if self.findings.is_empty() {
            let _ =
                writeln!(out, "check --deploy ({env}): no findings, {} rules run.", RULES.len());
            return out;
        }
        let _ = writeln!(out, "{:<8} {:<9} SETTING (SOURCE) / PROBLEM / FIX", "SEVERITY", "ID");
        for f in &self.findings {
            let source = match &f.source {
                Some(s) if !s.starts_with("built-in") => format!(" ({s})"),
                _ => String::new(),
            };
            let _ = writeln!(out, "{:<8} {:<9} {}{source}", f.severity, f.id, f.key);
            let _ = writeln!(out, "{:<18} {}", "", f.message);
            let _ = writeln!(out, "{:<18} fix: {}", "", f.fix);
        }
        let errors = self.findings.iter().filter(|f| f.severity == Severity::Error).count();
        let _ = writeln!(
            out,
            "\n{errors} error(s), {} warning(s) ({env}).",
            self.findings.len() - errors
        );
        out
    }
}

/// Checks that were asked for but cannot run yet, listed in the JSON report so that CI sees
/// they did not run. None today: Argon2 parameters under the OWASP minimum are refused when the
/// settings load (so `check --deploy` reports them as `SEC-C000`), and the session cookie's
/// attributes (`__Host-`, `Secure`, `HttpOnly`, `SameSite=Lax`) are fixed in code, with no
/// setting that could weaken them.
pub const PENDING_CHECKS: &[&str] = &[];
