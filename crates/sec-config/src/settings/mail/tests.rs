//! The mail section: the sender's parser, the defaults, every refusal with its key, and the
//! password kept out of every listing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failed unwrap is a failed test"
)]

use std::path::Path;

use super::*;
use crate::problem::SettingsError;
use crate::settings::Settings;
use crate::sources::Sources;

fn load(dir: &Path, vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    Settings::load(&Sources::new(dir, vars.iter().copied()))
}

fn keys(err: &SettingsError) -> Vec<&str> {
    err.problems().iter().map(crate::problem::Problem::key).collect()
}

#[test]
fn from_accepts_a_mailbox_or_an_address_and_refuses_header_injection() {
    let f = parse_from("Example <no-reply@example.com>").unwrap();
    assert_eq!((f.name.as_deref(), f.address.as_str()), (Some("Example"), "no-reply@example.com"));
    let f = parse_from("\"Example, Inc\" <a@example.com>").unwrap();
    assert_eq!(f.name.as_deref(), Some("Example, Inc"));
    assert_eq!(parse_from("a@example.com").unwrap().address, "a@example.com");
    assert_eq!(parse_from(DEFAULT_MAIL_FROM).unwrap().address, "no-reply@localhost");
    for bad in [
        "Example <a@example.com>\r\nBcc: victim@example.com",
        "Example\n <a@example.com>",
        "a@example.com\r\n",
        "Example <not an address>",
        "Ex<ample <a@example.com>",
        "nobody",
        "",
    ] {
        assert!(parse_from(bad).is_err(), "{bad:?} accepted");
    }
}

proptest::proptest! {
    #[test]
    fn from_never_panics_and_what_it_accepts_holds_no_control_character(text in ".{0,80}") {
        if let Ok(f) = parse_from(&text) {
            let all = format!("{}{}", f.name.unwrap_or_default(), f.address);
            proptest::prop_assert!(!all.chars().any(char::is_control), "{all:?}");
        }
    }

    #[test]
    fn a_line_break_anywhere_in_from_is_refused(
        before in "[ -~]{0,40}",
        after in "[ -~]{0,40}",
        brk in "\r|\n|\r\n",
    ) {
        let text = format!("{before}{brk}{after}");
        proptest::prop_assert!(parse_from(&text).is_err(), "{:?} accepted", text);
    }
}

#[test]
fn hosts_are_names_or_addresses_only() {
    for good in ["smtp.example.com", "localhost", "127.0.0.1", "::1", "relay-1.internal"] {
        assert!(is_host(good), "{good}");
    }
    for bad in ["", "smtp://x", "x:25", "a b", "x\r\n", "-x.com", "a..b", "x/y"] {
        assert!(!is_host(bad), "{bad:?}");
    }
}

#[test]
fn mail_defaults_to_files_under_the_var_folder_from_a_local_sender() {
    let dir = tempfile::tempdir().unwrap();
    let s = load(dir.path(), &[]).unwrap();
    let MailTransportSetting::File { dir: mail_dir } = s.mail().transport() else {
        panic!("the default transport is file: {:?}", s.mail().transport());
    };
    // A hand-built `Sources` has no var folder: the binary's own, `var`.
    assert_eq!(mail_dir, Path::new("var/mail"));
    assert_eq!(s.mail().from_mailbox(), DEFAULT_MAIL_FROM);
    assert_eq!(s.mail().from_domain(), "localhost");
    assert!(s.mail().from_is_local());
    assert_eq!(s.mail().outbox_poll(), std::time::Duration::from_secs(1));
    assert_eq!(s.mail().outbox_max_attempts(), 10);
    assert_eq!(s.mail().outbox_retry_base().as_secs(), 5);
    assert_eq!(s.mail().outbox_retry_max().as_secs(), 3600);

    let mut sources = Sources::new(dir.path(), [("APP__MAIL__FROM", "no-reply@example.com")]);
    sources.set_var_dir(dir.path().join("state"));
    let s = Settings::load(&sources).unwrap();
    let MailTransportSetting::File { dir: mail_dir } = s.mail().transport() else { panic!() };
    assert_eq!(mail_dir, &dir.path().join("state/mail"));
    assert!(!s.mail().from_is_local());
}

#[test]
fn smtp_settings_default_to_starttls_on_587_and_implicit_tls_to_465() {
    let dir = tempfile::tempdir().unwrap();
    let smtp = |vars: &[(&str, &str)]| {
        let mut all = vec![("APP__MAIL__TRANSPORT", "smtp")];
        all.extend_from_slice(vars);
        match load(dir.path(), &all).unwrap().mail().transport().clone() {
            MailTransportSetting::Smtp(smtp) => smtp,
            other => panic!("{other:?}"),
        }
    };
    let s = smtp(&[]);
    assert_eq!(
        (s.host(), s.host_explicit(), s.port(), s.tls()),
        ("localhost", false, 587, SmtpTls::StartTls)
    );
    assert_eq!(s.timeout().as_secs(), 10);
    assert!(s.username().is_none() && s.password().is_none() && s.ca_file().is_none());
    let s =
        smtp(&[("APP__MAIL__SMTP_TLS", "implicit"), ("APP__MAIL__SMTP_HOST", "smtp.example.com")]);
    assert_eq!(
        (s.host(), s.host_explicit(), s.port(), s.tls()),
        ("smtp.example.com", true, 465, SmtpTls::Implicit)
    );
    let s = smtp(&[
        ("APP__MAIL__SMTP_PORT", "2525"),
        ("APP__MAIL__SMTP_USERNAME", "mailer"),
        ("APP__MAIL__SMTP_PASSWORD", "canary-Smtp9x"),
        ("APP__MAIL__SMTP_CA_FILE", "/etc/relay-ca.pem"),
    ]);
    assert_eq!((s.port(), s.username()), (2525, Some("mailer")));
    assert_eq!(s.ca_file(), Some(Path::new("/etc/relay-ca.pem")));
    assert_eq!(s.password().map(secrecy::ExposeSecret::expose_secret), Some("canary-Smtp9x"));
}

#[test]
fn mail_settings_are_validated_with_their_keys_and_never_show_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let err = load(
        dir.path(),
        &[
            ("APP__MAIL__TRANSPORT", "smtp"),
            ("APP__MAIL__SMTP_TLS", "none"),
            ("APP__MAIL__SMTP_HOST", "smtp.example.com:25"),
            ("APP__MAIL__SMTP_PASSWORD", "canary-Smtp9x"),
            ("APP__MAIL__FROM", "Example <a@example.com>\r\nBcc: x@example.com"),
            ("APP__MAIL__OUTBOX_POLL_MS", "10"),
            ("APP__MAIL__OUTBOX_MAX_ATTEMPTS", "0"),
            ("APP__MAIL__OUTBOX_RETRY_BASE_SECS", "600"),
            ("APP__MAIL__OUTBOX_RETRY_MAX_SECS", "60"),
        ],
    )
    .unwrap_err();
    assert_eq!(
        keys(&err),
        [
            "mail.from",
            "mail.smtp_host",
            "mail.smtp_tls",
            "mail.smtp_username",
            "mail.outbox_poll_ms",
            "mail.outbox_max_attempts",
            "mail.outbox_retry_base_secs",
        ],
        "{err}"
    );
    assert!(!err.to_string().contains("canary-Smtp9x"), "{err}");
    let err = load(dir.path(), &[("APP__MAIL__TRANSPORT", "sendmail")]).unwrap_err();
    assert_eq!(keys(&err), ["mail.transport"]);
    let err =
        load(dir.path(), &[("APP__MAIL__TRANSPORT", "smtp"), ("APP__MAIL__SMTP_USERNAME", "u")])
            .unwrap_err();
    assert_eq!(keys(&err), ["mail.smtp_password"]);

    let s = load(
        dir.path(),
        &[
            ("APP__MAIL__TRANSPORT", "smtp"),
            ("APP__MAIL__SMTP_USERNAME", "mailer"),
            ("APP__MAIL__SMTP_PASSWORD", "canary-Smtp9x"),
        ],
    )
    .unwrap();
    let shown = format!("{s:?}\n{s}");
    assert!(!shown.contains("canary-Smtp9x"), "{shown}");
    assert!(shown.contains("mail.smtp_password = set (redacted)"), "{shown}");
}
