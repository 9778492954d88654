//! The offline list of common passwords: Django's 20,000-entry list (BSD-3-Clause, notice in
//! `data/common-passwords.LICENSE.django.txt`), embedded in the binary and decompressed once, on
//! first use.

use std::collections::HashSet;
use std::io::Read;
use std::sync::LazyLock;

use flate2::read::GzDecoder;

/// Gzipped, one lower-cased password per line.
static COMMON_PASSWORDS_GZ: &[u8] = include_bytes!("../data/common-passwords.txt.gz");

/// `None` only if the embedded data were corrupt; callers fail closed on it. A test pins the
/// entry count, so a build that passed its tests always has `Some`.
static COMMON_PASSWORDS: LazyLock<Option<HashSet<Box<str>>>> = LazyLock::new(load);

fn load() -> Option<HashSet<Box<str>>> {
    let mut text = String::new();
    GzDecoder::new(COMMON_PASSWORDS_GZ).read_to_string(&mut text).ok()?;
    Some(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(Box::from).collect())
}

/// Whether `lowercase_trimmed` is on the list; `None` if the list could not be loaded.
///
/// The entries are lower-cased and trimmed, and Django compares `password.lower().strip()`, so
/// callers pass the password in that form.
pub(crate) fn contains(lowercase_trimmed: &str) -> Option<bool> {
    COMMON_PASSWORDS.as_ref().map(|set| set.contains(lowercase_trimmed))
}

/// Number of entries, forcing the one-time decompression; `None` if the data are corrupt.
pub(crate) fn len() -> Option<usize> {
    COMMON_PASSWORDS.as_ref().map(HashSet::len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_list_has_every_django_entry() {
        // 19,640 unique entries, as counted in the vectors README: fewer means a truncated or
        // corrupt list, which would silently let common passwords through.
        assert_eq!(len(), Some(19_640));
    }

    #[test]
    fn common_entries_are_found_and_others_are_not() {
        assert_eq!(contains("password"), Some(true));
        assert_eq!(contains("123456789"), Some(true));
        assert_eq!(contains("correct horse battery staple, but longer"), Some(false));
    }
}
