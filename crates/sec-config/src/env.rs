//! The deployment environment (`APP_ENV`) and what each one implies.

use std::fmt;
use std::str::FromStr;

/// Which kind of deployment this process is: it selects the config file layer and how strict
/// the start-up checks are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    /// A developer's machine: built-in defaults are fine, migrations run at start-up.
    Development,
    /// Automated tests: like development, with settings chosen by the test harness.
    Test,
    /// A real deployment: development defaults are refused.
    Production,
}

impl AppEnv {
    /// The lower-case name used in `APP_ENV` and in `config/{name}.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Test => "test",
            Self::Production => "production",
        }
    }
}

impl fmt::Display for AppEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `APP_ENV` held a value that is not one of the three environments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("APP_ENV must be one of development, test, production (got {0:?})")]
pub struct UnknownAppEnv(pub String);

impl FromStr for AppEnv {
    type Err = UnknownAppEnv;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Exact names only: a typo such as "prod" must not silently fall back to development.
        match s {
            "development" => Ok(Self::Development),
            "test" => Ok(Self::Test),
            "production" => Ok(Self::Production),
            other => Err(UnknownAppEnv(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_names_and_nothing_else() {
        assert_eq!("development".parse(), Ok(AppEnv::Development));
        assert_eq!("test".parse(), Ok(AppEnv::Test));
        assert_eq!("production".parse(), Ok(AppEnv::Production));
        for bad in ["prod", "Production", "", "dev", "production "] {
            assert!(bad.parse::<AppEnv>().is_err(), "{bad:?} must be rejected");
        }
    }
}
