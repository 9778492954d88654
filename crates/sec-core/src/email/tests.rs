//! Tests for `Email`: a table of RFC 5321/5322 and WHATWG cases, the length boundaries, IDN,
//! and property tests.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any error")]

use proptest::prelude::*;

use super::*;

fn ok(input: &str) -> String {
    match Email::parse(input) {
        Ok(e) => e.into_string(),
        Err(e) => format!("unexpected error for {input:?}: {e:?}"),
    }
}

#[test]
fn valid_addresses_are_accepted_with_local_case_kept_and_domain_lowered() {
    let cases = [
        // WHATWG / RFC 5322 dot-atom examples.
        ("simple@example.com", "simple@example.com"),
        ("very.common@example.com", "very.common@example.com"),
        ("x@example.com", "x@example.com"),
        (
            "disposable.style.email.with+symbol@example.com",
            "disposable.style.email.with+symbol@example.com",
        ),
        ("other.email-with-hyphen@example.com", "other.email-with-hyphen@example.com"),
        ("user.name+tag+sorting@example.com", "user.name+tag+sorting@example.com"),
        ("example-indeed@strange-example.com", "example-indeed@strange-example.com"),
        ("test/test@test.com", "test/test@test.com"),
        ("mailhost!username@example.org", "mailhost!username@example.org"),
        ("user%example.com@example.org", "user%example.com@example.org"),
        ("user-@example.org", "user-@example.org"),
        ("#!$%&'*+-/=?^_`{}|~@example.org", "#!$%&'*+-/=?^_`{}|~@example.org"),
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("user@sub.domain-with-hyphen.example.co.uk", "user@sub.domain-with-hyphen.example.co.uk"),
        ("user@123.example", "user@123.example"),
        ("user@xn--bcher-kva.example", "user@xn--bcher-kva.example"),
        // Hyphens in the 3rd and 4th positions exist in real host names.
        ("user@r3---sn-abc.googlevideo.com", "user@r3---sn-abc.googlevideo.com"),
        // Case: local part preserved, domain lower-cased.
        ("John.Doe@Example.COM", "John.Doe@example.com"),
        // IDN domains are stored as punycode, whatever their case or width.
        ("user@bücher.example", "user@xn--bcher-kva.example"),
        ("user@BÜCHER.example", "user@xn--bcher-kva.example"),
        ("info@münchen.de", "info@xn--mnchen-3ya.de"),
        ("user@例子.测试", "user@xn--fsqu00a.xn--0zwm56d"),
        ("user@ｅｘａｍｐｌｅ.com", "user@example.com"),
        ("user@example。com", "user@example.com"),
    ];
    for (input, stored) in cases {
        assert_eq!(ok(input), stored, "{input}");
    }
}

#[test]
fn invalid_addresses_are_rejected_with_the_reason() {
    use EmailError::*;
    let cases: &[(&str, EmailError)] = &[
        ("", Empty),
        ("Abc.example.com", MissingAt),
        ("A@b@c@example.com", MultipleAt),
        ("@example.com", LocalPartEmpty),
        ("user@", DomainEmpty),
        // Quoted local parts are rejected, whatever they contain.
        ("\"john.doe\"@example.org", QuotedLocalPart),
        ("\"john..doe\"@example.org", QuotedLocalPart),
        ("\"@\"@example.org", QuotedLocalPart),
        ("\" \"@example.org", Whitespace),
        ("a\"b(c)d,e:f;g<h>i[j\\k]l@example.com", LocalPartInvalidCharacter { character: '"' }),
        ("just\"not\"right@example.com", LocalPartInvalidCharacter { character: '"' }),
        ("this is\"not\\allowed@example.com", Whitespace),
        ("john(comment)@example.com", LocalPartInvalidCharacter { character: '(' }),
        ("üser@example.com", LocalPartInvalidCharacter { character: 'ü' }),
        ("用户@例子.广告", LocalPartInvalidCharacter { character: '用' }),
        // Dots in the local part.
        ("john..doe@example.com", LocalPartDots),
        (".john@example.com", LocalPartDots),
        ("john.@example.com", LocalPartDots),
        // Whitespace and control characters anywhere: rejected, never trimmed.
        (" user@example.com", Whitespace),
        ("user@example.com ", Whitespace),
        ("user@exa mple.com", Whitespace),
        ("user@exam\u{00A0}ple.com", Whitespace),
        ("user@example.com\n", ControlCharacter),
        ("us\u{0}er@example.com", ControlCharacter),
        ("user@example.com\u{7f}", ControlCharacter),
        // Domains.
        ("user@[192.168.2.1]", DomainLiteral),
        ("user@[IPv6:2001:db8::1]", DomainLiteral),
        ("admin@mailserver1", DomainNotQualified),
        ("user@localhost", DomainNotQualified),
        ("i.like.underscores@but_they_are_not_allowed_in_this_part.example", DomainInvalid),
        ("user@-example.com", DomainInvalid),
        ("user@example-.com", DomainInvalid),
        ("user@example..com", DomainInvalid),
        ("user@.example.com", DomainInvalid),
        ("user@example.com.", DomainInvalid),
        ("user@example.123", DomainInvalid),
        ("user@1.2.3.4", DomainInvalid),
        ("user@exa<mple.com", DomainInvalid),
        ("user@xn--a.example", DomainInvalid),
    ];
    for (input, expected) in cases {
        assert_eq!(Email::parse(input).as_ref(), Err(expected), "{input:?}");
    }
}

#[test]
fn local_part_limit_is_64_octets() {
    let at_limit = format!("{}@example.com", "a".repeat(64));
    assert_eq!(Email::parse(&at_limit).unwrap().local_part().len(), 64);
    let over = format!("{}@example.com", "a".repeat(65));
    assert_eq!(
        Email::parse(&over),
        Err(EmailError::LocalPartTooLong { max: EMAIL_LOCAL_PART_MAX_LEN })
    );
}

/// `local@` + labels of 63 + 63 + `last` + `com`.
fn address_of_len(local: usize, last_label: usize) -> String {
    format!(
        "{}@{}.{}.{}.com",
        "l".repeat(local),
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(last_label)
    )
}

#[test]
fn total_limit_is_254_octets() {
    let at_limit = address_of_len(64, 57);
    assert_eq!(at_limit.len(), 254);
    assert_eq!(Email::parse(&at_limit).unwrap().as_str().len(), 254);
    let over = address_of_len(64, 58);
    assert_eq!(over.len(), 255);
    assert_eq!(Email::parse(&over), Err(EmailError::TooLong { max: EMAIL_MAX_LEN }));
}

#[test]
fn the_limit_applies_to_the_stored_punycode_form() {
    // 249 octets as typed, but `ü` becomes `xn--…` and pushes the stored form past 254.
    let typed =
        format!("{}@{}.{}.ü{}.com", "l".repeat(64), "a".repeat(63), "b".repeat(63), "c".repeat(50));
    assert!(typed.len() <= 254);
    assert_eq!(Email::parse(&typed), Err(EmailError::TooLong { max: EMAIL_MAX_LEN }));
}

#[test]
fn a_domain_label_of_64_octets_is_rejected() {
    let ok63 = format!("user@{}.com", "a".repeat(63));
    assert!(Email::parse(&ok63).is_ok());
    let bad64 = format!("user@{}.com", "a".repeat(64));
    assert_eq!(Email::parse(&bad64), Err(EmailError::DomainInvalid));
}

#[test]
fn huge_input_is_refused_before_any_unicode_work() {
    let huge = format!("user@{}.com", "ü".repeat(100_000));
    assert_eq!(Email::parse(&huge), Err(EmailError::TooLong { max: EMAIL_MAX_LEN }));
}

#[test]
fn accessors_split_at_the_at_sign() {
    let e = Email::parse("Jane.Doe+x@Bücher.Example").unwrap();
    assert_eq!(e.local_part(), "Jane.Doe+x");
    assert_eq!(e.domain(), "xn--bcher-kva.example");
    assert_eq!(e.as_ref(), "Jane.Doe+x@xn--bcher-kva.example");
    assert_eq!(e.to_string(), e.as_str());
}

#[test]
fn serde_validates_on_deserialize() {
    let e: Email = serde_json::from_str("\"John@EXAMPLE.com\"").unwrap();
    assert_eq!(e.as_str(), "John@example.com");
    assert_eq!(serde_json::to_string(&e).unwrap(), "\"John@example.com\"");
    assert!(serde_json::from_str::<Email>("\"not an email\"").is_err());
    assert!(serde_json::from_str::<Email>("42").is_err());
}

fn local_part() -> impl Strategy<Value = String> {
    let atom = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,10}";
    proptest::collection::vec(atom, 1..4).prop_map(|atoms| atoms.join("."))
}

fn domain() -> impl Strategy<Value = String> {
    let label = "[a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?";
    (proptest::collection::vec(label, 1..4), "[a-zA-Z][a-zA-Z0-9]{1,5}")
        .prop_map(|(labels, tld)| format!("{}.{tld}", labels.join(".")))
}

proptest! {
    #[test]
    fn parse_never_panics_on_any_string(s in "\\PC*") {
        let _ = Email::parse(&s);
    }

    #[test]
    fn parse_never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Email::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn parse_never_panics_on_email_shaped_strings(
        s in "[a-zA-Z0-9.\"@ (),:;<>\\[\\]\\\\!#$%&'*+/=?^_`{|}~üß例。．-]{0,80}@[a-zA-Z0-9.\\-_üß例。．\\[\\]:]{0,80}"
    ) {
        let _ = Email::parse(&s);
    }

    #[test]
    fn grammar_conforming_addresses_are_accepted(local in local_part(), domain in domain()) {
        let input = format!("{local}@{domain}");
        let email = Email::parse(&input).unwrap();
        prop_assert_eq!(email.local_part(), local.as_str());
        prop_assert_eq!(email.domain(), domain.to_ascii_lowercase());
    }

    #[test]
    fn whatever_parses_is_normalized_idempotently_and_round_trips_serde(
        s in "[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]{1,20}@[a-zA-Z0-9.üßÄ例-]{1,30}"
    ) {
        if let Ok(email) = Email::parse(&s) {
            prop_assert_eq!(Email::parse(email.as_str()), Ok(email.clone()));
            prop_assert!(email.domain().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'));
            prop_assert!(email.as_str().len() <= EMAIL_MAX_LEN);
            let json = serde_json::to_string(&email).unwrap();
            prop_assert_eq!(serde_json::from_str::<Email>(&json).unwrap(), email);
        }
    }
}
