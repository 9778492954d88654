//! Leak checks for tests: after a scenario that used known secret values (canaries), every
//! file under the log folder is searched for them.
//!
//! Use canaries made of letters and digits only: escaping cannot then disguise a leak (a JSON
//! or text-log escape changes only special characters), so a plain byte search is complete.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// One secret found in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// The file it was found in.
    pub file: PathBuf,
    /// The secret, as given to [`find_leaks`].
    pub secret: String,
}

/// Every file under `dir` (recursively) that contains one of `secrets`, as one [`Leak`] per
/// (file, secret) pair; empty when nothing leaked.
pub fn find_leaks(dir: &Path, secrets: &[&str]) -> io::Result<Vec<Leak>> {
    let mut leaks = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                let bytes = fs::read(entry.path())?;
                for secret in secrets.iter().filter(|s| !s.is_empty()) {
                    if contains(&bytes, secret.as_bytes()) {
                        leaks.push(Leak { file: entry.path(), secret: (*secret).to_owned() });
                    }
                }
            }
        }
    }
    leaks.sort_by(|a, b| (&a.file, &a.secret).cmp(&(&b.file, &b.secret)));
    Ok(leaks)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use super::*;

    #[test]
    fn finds_a_secret_in_any_file_at_any_depth_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("audit/old")).unwrap();
        fs::write(dir.path().join("server.log"), "clean line\n").unwrap();
        fs::write(dir.path().join("audit/old/a.jsonl"), "x canaryPw1 y\n").unwrap();
        let leaks = find_leaks(dir.path(), &["canaryPw1", "canaryTok2"]).unwrap();
        assert_eq!(
            leaks,
            [Leak { file: dir.path().join("audit/old/a.jsonl"), secret: "canaryPw1".into() }]
        );
        assert!(find_leaks(dir.path(), &["canaryTok2"]).unwrap().is_empty());
    }
}
