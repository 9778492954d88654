//! The `Password` newtype: a new password that passed the policy, held as a secret in NFKC form.
//!
//! NFKC is applied both when a password is set and when one is verified, so the hash always
//! covers the same bytes however the user's keyboard composed the characters (NIST SP 800-63B
//! §5.1.1.2). A password typed at login is a plain [`SecretString`] given to
//! [`crate::PasswordHasher::verify`], never a `Password`: the policy does not apply to it.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

use crate::policy::{PasswordContext, PasswordPolicy, PolicyViolation};

/// A new password that satisfies a [`PasswordPolicy`]. There is no `Serialize`, no
/// `Deserialize` and no `Debug` output of the secret: request bodies carry a
/// [`SecretString`], which the handler turns into a `Password` with the policy and the account's
/// context.
pub struct Password {
    normalized: SecretString,
    chars: usize,
}

/// A new password was refused; holds every reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the password does not meet the password policy")]
pub struct PasswordRejected {
    violations: Vec<PolicyViolation>,
}

impl PasswordRejected {
    /// Every reason, in a fixed order.
    pub fn violations(&self) -> &[PolicyViolation] {
        &self.violations
    }

    /// Every reason, by value.
    pub fn into_violations(self) -> Vec<PolicyViolation> {
        self.violations
    }
}

impl Password {
    /// Normalises (NFKC) a candidate new password and checks it against `policy` in `context`.
    ///
    /// # Errors
    /// [`PasswordRejected`] listing every [`PolicyViolation`].
    pub fn new(
        candidate: SecretString,
        policy: &PasswordPolicy,
        context: &PasswordContext<'_>,
    ) -> Result<Self, PasswordRejected> {
        let normalized = match is_nfkc_quick(candidate.expose_secret().chars()) {
            IsNormalized::Yes => candidate,
            IsNormalized::No | IsNormalized::Maybe => {
                SecretString::from(candidate.expose_secret().nfkc().collect::<String>())
            }
        };
        policy
            .check_normalized(normalized.expose_secret(), context)
            .map_err(|violations| PasswordRejected { violations })?;
        let chars = normalized.expose_secret().chars().count();
        Ok(Self { normalized, chars })
    }

    /// Length in Unicode scalar values after NFKC.
    pub fn char_count(&self) -> usize {
        self.chars
    }

    /// The bytes that are hashed: UTF-8 of the NFKC form.
    pub(crate) fn normalized_bytes(&self) -> &[u8] {
        self.normalized.expose_secret().as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

#[cfg(test)]
mod tests;
