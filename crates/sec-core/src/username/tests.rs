//! Tests for `Username`: the allowed set, NFKC, the uniqueness key, mixed scripts, and property
//! tests.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any error")]

use proptest::prelude::*;

use super::*;

#[test]
fn ordinary_names_are_accepted_as_typed() {
    for name in [
        "alice",
        "Bob_42",
        "jean-luc.picard",
        "a.b",
        "123",
        "Zoë",
        "Ωμέγα",
        "ユーザー",
        "иван",
        "محمد",
    ] {
        assert_eq!(Username::parse(name).unwrap().as_str(), name, "{name}");
    }
}

#[test]
fn length_is_counted_in_characters_after_nfkc() {
    assert_eq!(Username::parse("ab"), Err(UsernameError::TooShort { min: 3 }));
    assert!(Username::parse("abc").is_ok());
    assert!(Username::parse(&"a".repeat(32)).is_ok());
    assert_eq!(Username::parse(&"a".repeat(33)), Err(UsernameError::TooLong { max: 32 }));
    // 32 two-byte characters are 32 characters.
    assert!(Username::parse(&"é".repeat(32)).is_ok());
    // "ﬁ" (one character) becomes "fi" (two) under NFKC.
    assert_eq!(Username::parse("ﬁ").unwrap_err(), UsernameError::TooShort { min: 3 });
    assert_eq!(Username::parse("ﬁx").unwrap().as_str(), "fix");
    assert!(Username::parse(&"x".repeat(10_000)).is_err());
}

#[test]
fn nfkc_folds_compatibility_forms() {
    assert_eq!(Username::parse("ＡＬＩＣＥ").unwrap().as_str(), "ALICE"); // fullwidth
    assert_eq!(Username::parse("e\u{301}cole").unwrap().as_str(), "\u{e9}cole"); // combining accent
}

#[test]
fn characters_outside_the_set_are_rejected() {
    for (name, character) in [
        ("al ice", ' '),
        ("alice!", '!'),
        ("al@ice", '@'),
        ("ali\u{200B}ce", '\u{200B}'), // zero-width space
        ("bob\u{0}x", '\u{0}'),
        ("ab😀", '😀'),
        ("a<b>", '<'),
    ] {
        assert_eq!(
            Username::parse(name),
            Err(UsernameError::InvalidCharacter { character }),
            "{name:?}"
        );
    }
}

#[test]
fn separators_must_sit_between_letters_or_digits() {
    for name in [".alice", "alice.", "_bob", "bob-", "a..b", "a._b", "a--b"] {
        assert_eq!(Username::parse(name), Err(UsernameError::Separator), "{name}");
    }
    assert!(Username::parse("a.b_c-d").is_ok());
}

#[test]
fn mixed_script_look_alikes_are_rejected() {
    // "pаypal" with a Cyrillic а (U+0430).
    assert_eq!(Username::parse("p\u{430}ypal"), Err(UsernameError::MixedScript));
    // Greek omicron in a Latin name.
    assert_eq!(Username::parse("g\u{3bf}\u{3bf}gle"), Err(UsernameError::MixedScript));
    // Digits and separators are common to every script.
    assert!(Username::parse("иван_2024").is_ok());
    // Documented limit: a name wholly in one script that looks like another is accepted.
    assert!(Username::parse("\u{441}\u{43e}\u{441}\u{43e}").is_ok()); // Cyrillic "сосо"
}

#[test]
fn canonical_is_a_case_insensitive_key() {
    let key = |s: &str| Username::parse(s).unwrap().canonical().to_owned();
    assert_eq!(key("Alice"), "alice");
    assert_eq!(key("ALICE"), key("alice"));
    assert_eq!(key("ＡＬＩＣＥ"), key("alice"));
    assert_eq!(key("Straße"), key("STRASSE"));
    assert_eq!(key("ΣΟΦΙΑ"), key("σοφια"));
    assert_eq!(key("σοφιας"), key("ΣΟΦΙΑΣ"));
    assert_ne!(key("alice"), key("alice2"));
    // Display keeps the user's case.
    assert_eq!(Username::parse("Alice").unwrap().as_str(), "Alice");
}

#[test]
fn serde_validates_on_deserialize() {
    let u: Username = serde_json::from_str("\"ＡＬＩＣＥ\"").unwrap();
    assert_eq!(u.as_str(), "ALICE");
    assert_eq!(serde_json::to_string(&u).unwrap(), "\"ALICE\"");
    assert!(serde_json::from_str::<Username>("\"a\"").is_err());
}

#[test]
fn the_ascii_shortcut_agrees_with_the_unicode_tables() {
    for c in (0u8..0x80).map(char::from) {
        let by_table = is_separator(c) || (c.is_alphanumeric() && c.identifier_allowed());
        assert_eq!(is_allowed(c), by_table, "{c:?}");
    }
    assert!("Grace.Hopper_1906-x".is_single_script());
}

proptest! {
    #[test]
    fn parse_never_panics_on_any_string(s in "\\PC*") {
        let _ = Username::parse(&s);
    }

    #[test]
    fn parse_never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Username::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn ascii_names_from_the_grammar_are_accepted(
        s in "[a-zA-Z0-9]{1,8}([._-][a-zA-Z0-9]{1,8}){0,2}"
    ) {
        prop_assume!(s.chars().count() >= USERNAME_MIN_CHARS);
        let u = Username::parse(&s).unwrap();
        prop_assert_eq!(u.as_str(), s.as_str());
        prop_assert_eq!(u.canonical(), s.to_ascii_lowercase());
    }

    #[test]
    fn normalization_is_idempotent_and_serde_round_trips(s in "[a-zA-Z0-9._ÀÉéßΣσας例ＡＢ\u{301}-]{1,40}") {
        if let Ok(u) = Username::parse(&s) {
            let again = Username::parse(u.as_str()).unwrap();
            prop_assert_eq!(&again, &u);
            prop_assert_eq!(again.canonical(), u.canonical());
            let json = serde_json::to_string(&u).unwrap();
            prop_assert_eq!(serde_json::from_str::<Username>(&json).unwrap(), u);
        }
    }
}
