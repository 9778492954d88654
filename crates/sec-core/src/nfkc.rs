//! NFKC normalisation of secrets and identifiers without a needless copy: the one place the
//! password newtype, the policy and the hasher normalise text, so all three hash and compare the
//! same bytes.

use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};

/// Runs `f` on the NFKC form of `s`, copying only when `s` is not already normalised; the copy
/// lives in a [`SecretString`] so it is wiped when dropped.
pub(crate) fn with_nfkc<R>(s: &str, f: impl FnOnce(&str) -> R) -> R {
    match is_nfkc_quick(s.chars()) {
        IsNormalized::Yes => f(s),
        IsNormalized::No | IsNormalized::Maybe => {
            let normalized = SecretString::from(s.nfkc().collect::<String>());
            f(normalized.expose_secret())
        }
    }
}
