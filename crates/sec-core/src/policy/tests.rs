//! Tests for `PasswordPolicy`: every NIST rule, every reason reported, configuration bounds.

#![allow(clippy::unwrap_used, reason = "a test fails loudly on any error")]

use proptest::prelude::*;

use super::*;

fn check(policy: &PasswordPolicy, s: &str, ctx: &PasswordContext<'_>) -> Vec<PolicyViolation> {
    policy.check(&SecretString::from(s.to_owned()), ctx).err().unwrap_or_default()
}

fn default_check(s: &str) -> Vec<PolicyViolation> {
    check(&PasswordPolicy::default(), s, &PasswordContext::new())
}

#[test]
fn the_default_minimum_is_15_and_the_maximum_128() {
    assert_eq!(default_check("fourteen chars"), vec![PolicyViolation::TooShort { min: 15 }]);
    assert!(default_check("fifteen chars!!").is_empty());
    assert!(default_check(&"correct horse battery staple ".repeat(5)[..128]).is_empty());
    let long = format!("{}x", &"correct horse battery staple ".repeat(5)[..128]);
    assert_eq!(default_check(&long), vec![PolicyViolation::TooLong { max: 128 }]);
}

#[test]
fn the_minimum_is_configurable_but_never_below_8() {
    assert_eq!(
        PasswordPolicy::new(7).unwrap_err(),
        PolicyConfigError::MinCharsOutOfRange { got: 7 }
    );
    assert!(PasswordPolicy::new(129).is_err());
    let eight = PasswordPolicy::new(8).unwrap();
    assert!(check(&eight, "blue giraffe", &PasswordContext::new()).is_empty());
    let policy: PasswordPolicy = serde_json::from_str(r#"{"min_chars": 12}"#).unwrap();
    assert_eq!(policy.min_chars(), 12);
    assert!(serde_json::from_str::<PasswordPolicy>(r#"{"min_chars": 4}"#).is_err());
    assert!(serde_json::from_str::<PasswordPolicy>(r#"{"min_char": 12}"#).is_err());
    assert_eq!(serde_json::from_str::<PasswordPolicy>("{}").unwrap().min_chars(), 15);
}

#[test]
fn no_composition_rules_apply() {
    // All lower case, no digits, no symbols: fine when long and not common.
    assert!(default_check("purple monkey dishwasher").is_empty());
    // Spaces and any printable Unicode are allowed.
    assert!(default_check("пароль для входа в систему").is_empty());
    assert!(default_check("🙂 emoji are characters too 🙃").is_empty());
}

#[test]
fn common_passwords_are_rejected_case_insensitively() {
    let policy = PasswordPolicy::new(8).unwrap();
    let none = PasswordContext::new();
    assert_eq!(check(&policy, "password", &none), vec![PolicyViolation::Common]);
    assert_eq!(check(&policy, "PassWord", &none), vec![PolicyViolation::Common]);
    assert_eq!(check(&policy, " password ", &none), vec![PolicyViolation::Common]);
    // Entries of 15+ characters bite at the default minimum too.
    assert_eq!(default_check("1q2w3e4r5t6y7u8i9o0p"), vec![PolicyViolation::Common]);
}

#[test]
fn repetition_and_sequences_are_rejected() {
    assert_eq!(default_check("aaaaaaaaaaaaaaaa"), vec![PolicyViolation::Repetitive]);
    assert_eq!(default_check("abcabcabcabcabcabc"), vec![PolicyViolation::Repetitive]);
    // Only as strong as its 12-character unit, which is under the minimum.
    assert_eq!(default_check("CorrectHorse correcthorse "), vec![PolicyViolation::Repetitive]);
    assert_eq!(default_check("abcdefghijklmnop"), vec![PolicyViolation::Sequential]);
    assert_eq!(default_check("9876543210987654"), vec![PolicyViolation::Sequential]);
    assert_eq!(
        default_check("123456789123456789"),
        vec![PolicyViolation::Common, PolicyViolation::Repetitive]
    );
    // A repeated unit as long as the minimum is fine.
    assert!(default_check("violet quasar 7 violet quasar 7 ").is_empty());
}

#[test]
fn passwords_built_from_the_account_are_rejected() {
    let username = Username::parse("Margaret").unwrap();
    let email = Email::parse("m.hamilton@example.com").unwrap();
    let words = ["Apollo Guidance"];
    let ctx = PasswordContext::new().with_username(&username).with_email(&email).with_words(&words);
    let policy = PasswordPolicy::new(8).unwrap();
    // "margaret" is also on the common list: both reasons are reported.
    assert_eq!(
        check(&policy, "margaret", &ctx),
        vec![PolicyViolation::Common, PolicyViolation::ContainsUsername]
    );
    assert_eq!(
        check(&policy, "I am MARGARET 1969!", &ctx),
        vec![PolicyViolation::ContainsUsername]
    );
    assert_eq!(check(&policy, "xx M.Hamilton xx", &ctx), vec![PolicyViolation::ContainsEmail]);
    assert_eq!(
        check(&policy, "apollo guidance computer", &ctx),
        vec![PolicyViolation::ContainsContextWord]
    );
    assert!(check(&policy, "lunar module pilot", &ctx).is_empty());
    // Without context the same password passes.
    assert!(check(&policy, "I am MARGARET 1969!", &PasswordContext::new()).is_empty());
}

#[test]
fn short_context_words_only_count_when_equal() {
    let email = Email::parse("jo@example.com").unwrap();
    let ctx = PasswordContext::new().with_email(&email);
    assert!(check(&PasswordPolicy::default(), "joyful journey to the sea", &ctx).is_empty());
}

#[test]
fn every_reason_is_reported_not_just_the_first() {
    let username = Username::parse("password").unwrap();
    let ctx = PasswordContext::new().with_username(&username);
    assert_eq!(
        check(&PasswordPolicy::default(), "password", &ctx),
        vec![
            PolicyViolation::TooShort { min: 15 },
            PolicyViolation::Common,
            PolicyViolation::ContainsUsername,
        ]
    );
    assert_eq!(
        default_check("abc\u{0}"),
        vec![PolicyViolation::TooShort { min: 15 }, PolicyViolation::ControlCharacter]
    );
}

struct RejectsZebra;

impl PasswordCheck for RejectsZebra {
    fn name(&self) -> &'static str {
        "zebra_list"
    }

    fn check(&self, password: &str, _: &PasswordContext<'_>) -> Result<(), String> {
        if password.contains("zebra") {
            Err("zebras are in a breach corpus".into())
        } else {
            Ok(())
        }
    }
}

#[test]
fn extra_checks_are_off_by_default_and_pluggable() {
    let pw = "a zebra crossing at noon";
    assert!(default_check(pw).is_empty());
    let policy = PasswordPolicy::default().with_extra_check(Arc::new(RejectsZebra));
    let got = check(&policy, pw, &PasswordContext::new());
    assert_eq!(
        got,
        vec![PolicyViolation::Rejected {
            check: "zebra_list",
            reason: "zebras are in a breach corpus".into()
        }]
    );
    assert_eq!(got[0].code(), "zebra_list");
    assert!(format!("{policy:?}").contains("zebra_list"));
}

#[test]
fn violation_messages_never_contain_the_password() {
    let pw = "hunter2";
    let violations = default_check(pw);
    assert!(!violations.is_empty());
    for v in violations {
        assert!(!v.to_string().contains(pw), "{v}");
    }
}

proptest! {
    #[test]
    fn check_never_panics(s in "\\PC*") {
        let _ = default_check(&s);
    }

    #[test]
    fn long_random_passphrases_pass(words in proptest::collection::vec("[a-z]{4,8}", 4..6)) {
        let pw = words.join(" ");
        let violations = default_check(&pw);
        // Random words can collide with the rules only by being repetitive (all words equal).
        prop_assert!(violations.iter().all(|v| *v == PolicyViolation::Repetitive), "{:?}", violations);
    }
}
