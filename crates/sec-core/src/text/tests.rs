//! Tests for `BoundedText`: exact round trips, character rules, bounds, property tests.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any error")]

use proptest::prelude::*;

use super::*;

type Name = BoundedText<1, 30>;
type Comment = BoundedText<0, 50, true>;

#[test]
fn text_is_kept_exactly_as_given() {
    for s in [
        "O'Brien <ob@example.com>",
        "O'Brien (admin) & co",
        "  spaces kept  ",
        "\"quoted\"",
        "Zoë 🙂",
    ] {
        assert_eq!(Name::parse(s).unwrap().as_str(), s);
    }
}

#[test]
fn bounds_count_characters_not_bytes() {
    assert_eq!(Name::parse(""), Err(TextError::TooShort { min: 1 }));
    assert!(Name::parse(&"é".repeat(30)).is_ok());
    assert_eq!(Name::parse(&"é".repeat(31)), Err(TextError::TooLong { max: 30 }));
    assert_eq!(Name::parse(&"x".repeat(1_000_000)), Err(TextError::TooLong { max: 30 }));
    assert!(Comment::parse("").is_ok());
}

#[test]
fn control_and_reordering_characters_are_rejected() {
    for c in [
        '\u{0}', '\u{7}', '\u{1b}', '\u{7f}', '\u{85}', '\u{2028}', '\u{2029}', '\u{202E}',
        '\u{2066}', '\n', '\t', '\r',
    ] {
        let s = format!("a{c}b");
        assert_eq!(Name::parse(&s), Err(TextError::DisallowedCharacter { character: c }), "{c:?}");
    }
}

#[test]
fn multiline_fields_allow_newlines_and_tabs_only() {
    assert!(Comment::parse("line one\r\nline two\n\tindented").is_ok());
    assert_eq!(
        Comment::parse("a\u{0}b"),
        Err(TextError::DisallowedCharacter { character: '\u{0}' })
    );
    assert_eq!(
        Comment::parse("a\u{202E}b"),
        Err(TextError::DisallowedCharacter { character: '\u{202E}' })
    );
}

#[test]
fn serde_validates_on_deserialize() {
    let n: Name = serde_json::from_str("\"O'Brien & co\"").unwrap();
    assert_eq!(n.as_str(), "O'Brien & co");
    assert!(serde_json::from_str::<Name>("\"\"").is_err());
    assert!(serde_json::from_str::<Name>("\"a\\u0000b\"").is_err());
}

proptest! {
    #[test]
    fn parse_never_panics_on_any_string(s in "\\PC*|.*") {
        let _ = Name::parse(&s);
        let _ = Comment::parse(&s);
    }

    #[test]
    fn parse_never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Name::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn accepted_text_round_trips_exactly_and_through_serde(s in "\\PC{1,30}") {
        if let Ok(t) = Name::parse(&s) {
            prop_assert_eq!(t.as_str(), s.as_str());
            prop_assert_eq!(Name::parse(t.as_str()).unwrap(), t.clone());
            let json = serde_json::to_string(&t).unwrap();
            prop_assert_eq!(serde_json::from_str::<Name>(&json).unwrap(), t);
        }
    }
}

#[test]
fn each_refusal_has_a_stable_code() {
    type Title = BoundedText<1, 5>;
    let code = |input: &str| Title::parse(input).err().map(|e| e.code());
    assert_eq!(code(""), Some("too_short"));
    assert_eq!(code("abcdef"), Some("too_long"));
    assert_eq!(code("a\u{202e}b"), Some("disallowed_character"));
    assert_eq!(code("abc"), None);
}
