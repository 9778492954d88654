//! The seed tutorial stripped `<>&'"()` from input, HTML-escaped it, then cut it at 100
//! characters. This shows the data it loses, and that our path (validate on input, escape on
//! output) keeps it.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any error")]

use sec_core::{BoundedText, html_escape};

/// The tutorial's sanitiser, transcribed: strip, escape, truncate.
fn tutorial_sanitize(input: &str) -> String {
    let stripped: String = input.chars().filter(|c| !"<>&'\"()".contains(*c)).collect();
    let escaped = stripped.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    escaped.chars().take(100).collect()
}

type DisplayName = BoundedText<1, 200>;

#[test]
fn the_tutorial_sanitizer_loses_data() {
    assert_eq!(tutorial_sanitize("O'Brien (admin) & co"), "OBrien admin  co");
    assert_eq!(tutorial_sanitize("O'Brien <ob@example.com>"), "OBrien ob@example.com");
    assert_eq!(tutorial_sanitize(&"x".repeat(150)).len(), 100);
}

#[test]
fn ours_keeps_the_text_intact_and_escapes_it_on_output() {
    for input in ["O'Brien (admin) & co", "O'Brien <ob@example.com>"] {
        let stored = DisplayName::parse(input).unwrap();
        // Stored exactly as typed.
        assert_eq!(stored.as_str(), input);
        // Serialised (e.g. to the database or a JSON API) exactly as typed.
        let json = serde_json::to_string(&stored).unwrap();
        assert_eq!(serde_json::from_str::<DisplayName>(&json).unwrap().as_str(), input);
    }
    // Escaped only when written into HTML.
    assert_eq!(html_escape("O'Brien (admin) & co"), "O&#x27;Brien (admin) &amp; co");
    assert_eq!(html_escape("O'Brien <ob@example.com>"), "O&#x27;Brien &lt;ob@example.com&gt;");
    // Too long is an error the user sees, not a silent cut.
    assert!(DisplayName::parse(&"x".repeat(201)).is_err());
}
