//! The mailer's own promises: hostile values are escaped and never become headers, no body
//! reaches `Debug`, the file transport writes whole owner-only files, and failures are sorted
//! into retry and give up.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failed unwrap is a failed test"
)]

use super::*;

const HOSTILE: &str =
    "<script>alert(1)</script>\"><img src=x onerror=alert(2)>\r\nBcc: victim@example.com";

fn notices(username: &str) -> Vec<Notice> {
    let (u, when, ip) =
        (username.to_owned(), "2026-12-03T19:00:00Z".to_owned(), "192.0.2.7".to_owned());
    let link = "https://app.example.com/reset#token=abc&x=\"y\"".to_owned();
    vec![
        Notice::VerifyEmail { username: u.clone(), link: link.clone(), expires_hours: 24 },
        Notice::ConfirmNewEmail { username: u.clone(), link: link.clone(), expires_hours: 24 },
        Notice::EmailChangeRequested {
            username: u.clone(),
            new_email: format!("{username}@example.com"),
            when: when.clone(),
            ip: ip.clone(),
        },
        Notice::EmailChanged { username: u.clone(), when: when.clone(), ip: ip.clone() },
        Notice::RegistrationAttempt { username: u.clone(), when: when.clone(), ip: ip.clone() },
        Notice::PasswordReset {
            username: u.clone(),
            link,
            expires_minutes: 30,
            when: when.clone(),
            ip: ip.clone(),
        },
        Notice::PasswordChanged { username: u.clone(), when: when.clone(), ip: ip.clone() },
        Notice::SecondFactorAdded { username: u.clone(), when: when.clone(), ip: ip.clone() },
        Notice::SecondFactorRemoved {
            username: u.clone(),
            when: when.clone(),
            ip: ip.clone(),
            by_operator: true,
        },
        Notice::SecondFactorRemoved {
            username: u.clone(),
            when: when.clone(),
            ip: ip.clone(),
            by_operator: false,
        },
        Notice::RecoveryCodesRegenerated { username: u, when, ip },
    ]
}

fn file_mailer(dir: &std::path::Path) -> Mailer {
    let sources = sec_config::Sources::new(
        dir.join("no-config"),
        [
            ("APP__MAIL__FILE_DIR", dir.join("mail").display().to_string()),
            ("APP__MAIL__FROM", "Example <no-reply@example.com>".to_owned()),
        ],
    );
    Mailer::from_settings(&Settings::load(&sources).unwrap()).unwrap()
}

#[test]
fn hostile_names_are_escaped_in_html_and_stay_on_one_line_in_text() {
    for notice in notices(HOSTILE) {
        let mail = render(&notice, "owner@example.com", "Example").unwrap();
        assert!(!mail.html.contains("<script"), "{notice:?}: {}", mail.html);
        assert!(!mail.html.contains("<img"), "{notice:?}: {}", mail.html);
        assert!(mail.html.contains("&#60;script&#62;") || mail.html.contains("&lt;script&gt;"));
        // The line break became a space: nothing starts a line with "Bcc:".
        for part in [&mail.text, &mail.html] {
            assert!(!part.lines().any(|l| l.trim_start().starts_with("Bcc:")), "{part}");
        }
        assert!(!mail.subject.contains("script") && !mail.subject.contains('\n'));
    }
}

#[test]
fn every_security_notice_names_time_and_address_and_what_to_do() {
    for notice in notices("alice") {
        let mail = render(&notice, "owner@example.com", "Example").unwrap();
        assert!(mail.subject.starts_with("Example: "), "{}", mail.subject);
        assert!(mail.text.contains("alice") && mail.html.contains("alice"));
        let link = matches!(notice, Notice::VerifyEmail { .. } | Notice::ConfirmNewEmail { .. });
        if !link {
            for part in [&mail.text, &mail.html] {
                assert!(
                    part.contains("2026-12-03T19:00:00Z") && part.contains("192.0.2.7"),
                    "{part}"
                );
                assert!(part.contains("administrator"), "{part}");
            }
        }
        assert!(!mail.html.contains("src=") && !mail.html.contains("<link"), "nothing remote");
    }
}

#[test]
fn links_must_be_http_urls_and_are_escaped_inside_href() {
    let notice = Notice::VerifyEmail {
        username: "a".into(),
        link: "javascript:alert(1)".into(),
        expires_hours: 1,
    };
    assert!(matches!(render(&notice, "a@example.com", "x"), Err(RenderError::Link)));
    let mail = render(&notices("a")[0], "a@example.com", "x").unwrap();
    assert!(mail.text.contains("https://app.example.com/reset#token=abc&x=\"y\""));
    assert!(
        mail.html.contains("href=\"https://app.example.com/reset#token=abc&#38;x=&#34;y&#34;\"")
            || mail
                .html
                .contains("href=\"https://app.example.com/reset#token=abc&amp;x=&quot;y&quot;\""),
        "{}",
        mail.html
    );
    assert!(matches!(
        render(&notice, "a@example.com\r\nBcc: b@example.com", "x"),
        Err(RenderError::Recipient)
    ));
}

#[test]
fn a_hostile_recipient_or_subject_never_creates_a_header() {
    let from: Mailbox = "Example <no-reply@example.com>".parse().unwrap();
    let mut mail =
        render(&notices(HOSTILE)[3], "owner@example.com", "Ex\r\nBcc: x@example.com").unwrap();
    let built = message::build(&from, &mail, "<id-1@example.com>").unwrap();
    let raw = String::from_utf8(built.formatted()).unwrap();
    let headers = raw.split("\r\n\r\n").next().unwrap();
    assert!(!headers.lines().any(|l| l.starts_with("Bcc:")), "{headers}");
    assert!(headers.contains("Message-ID: <id-1@example.com>"), "{headers}");

    mail.subject = "hello\r\nBcc: x@example.com".into();
    let raw =
        String::from_utf8(message::build(&from, &mail, "<i@example.com>").unwrap().formatted())
            .unwrap();
    assert!(!raw.lines().any(|l| l.starts_with("Bcc:")), "{raw}");
    mail.to = "a@example.com\r\nBcc: x@example.com".into();
    assert!(matches!(
        message::build(&from, &mail, "<i@example.com>"),
        Err(SendError::Permanent(_))
    ));
    mail.to = "not an address".into();
    assert!(matches!(
        message::build(&from, &mail, "<i@example.com>"),
        Err(SendError::Permanent(_))
    ));
}

#[test]
fn message_ids_are_plain() {
    assert_eq!(message::header_id("a1-b_c.d", "example.com").unwrap(), "<a1-b_c.d@example.com>");
    for bad in ["", "../x", "a b", "a>b", "a\r\n", ".hidden", &"x".repeat(129)] {
        assert!(
            matches!(message::header_id(bad, "example.com"), Err(SendError::Permanent(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn debug_of_a_message_shows_no_body() {
    let mail = render(&notices("alice")[5], "owner@example.com", "Example").unwrap();
    let shown = format!("{mail:?}");
    assert!(
        shown.contains("owner@example.com") && shown.contains("reset your password"),
        "{shown}"
    );
    assert!(!shown.contains("token=abc") && !shown.contains("alice"), "{shown}");
}

#[test]
fn reply_codes_are_sorted_into_retry_and_give_up() {
    for code in [421, 450, 451, 452, 454] {
        assert!(!smtp::is_permanent(Some(code)), "{code}");
    }
    for code in [550, 551, 552, 553, 554] {
        assert!(smtp::is_permanent(Some(code)), "{code}");
    }
    // Refused credentials are the operator's to fix; no reply at all is a network failure.
    for code in [Some(530), Some(535), Some(538), None] {
        assert!(!smtp::is_permanent(code), "{code:?}");
    }
}

#[test]
fn the_file_transport_writes_one_whole_owner_only_file_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = file_mailer(dir.path());
    assert_eq!(mailer.describe(), format!("file {}", dir.path().join("mail").display()));
    let mail = render(&notices("alice")[0], "owner@example.com", "Example").unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(mailer.send(&mail, "row-1")).unwrap();

    let names: Vec<String> = std::fs::read_dir(dir.path().join("mail"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}: no temporary file left");
    let (millis, rest) = names[0].split_once('-').unwrap();
    assert!(millis.parse::<u128>().is_ok() && rest == "row-1.eml", "{names:?}");
    let path = dir.path().join("mail").join(&names[0]);
    let raw = std::fs::read_to_string(&path).unwrap();
    assert!(raw.contains("Message-ID: <row-1@example.com>"), "{raw}");
    assert!(raw.contains("multipart/alternative") && raw.contains("text/html"), "{raw}");
    #[cfg(unix)]
    {
        let mode = sec_audit::owner_only::mode_of(&path).unwrap().unwrap();
        assert_eq!(mode, 0o600);
        let mode = sec_audit::owner_only::mode_of(&dir.path().join("mail")).unwrap().unwrap();
        assert_eq!(mode, 0o700);
    }
}

#[test]
fn a_file_that_cannot_be_written_is_a_transient_failure() {
    let dir = tempfile::tempdir().unwrap();
    // The mail folder's place is taken by a file: every write fails, as on a full disk.
    std::fs::write(dir.path().join("mail"), b"").unwrap();
    let mailer = file_mailer(dir.path());
    let mail = render(&notices("alice")[0], "owner@example.com", "Example").unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let err = runtime.block_on(mailer.send(&mail, "row-1")).unwrap_err();
    assert!(matches!(err, SendError::Transient(_)), "{err}");
    assert!(!err.to_string().contains("alice"), "{err}");
}

#[test]
fn a_temporary_file_left_by_a_failed_write_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("m.eml");
    // A folder where the file should go: the rename fails after the temporary file is written.
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("x"), b"").unwrap();
    assert!(file::write_atomically(&target, b"x").is_err());
    let names: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["m.eml"], "only the folder that was there");
}

#[test]
fn the_mailer_can_be_shared_by_the_outbox_worker_and_the_handlers() {
    fn shared<T: Clone + Send + Sync + 'static>() {}
    shared::<Mailer>();
    fn stored<T: serde::Serialize + serde::de::DeserializeOwned>() {}
    stored::<OutgoingMail>();
}

#[test]
fn the_development_defaults_build_a_mailer_that_writes_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut sources = sec_config::Sources::new(dir.path().join("no-config"), [("APP_ENV", "test")]);
    sources.set_var_dir(dir.path().join("var"));
    let mailer = Mailer::from_settings(&Settings::load(&sources).unwrap()).unwrap();
    assert_eq!(mailer.describe(), format!("file {}", dir.path().join("var/mail").display()));
    let mail = render(&notices("alice")[0], "owner@example.com", "server").unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(mailer.send(&mail, "row-1")).unwrap();
    let file = std::fs::read_dir(dir.path().join("var/mail")).unwrap().next().unwrap().unwrap();
    let raw = std::fs::read_to_string(file.path()).unwrap();
    assert!(raw.contains("From: server <no-reply@localhost>"), "{raw}");
    assert!(raw.contains("Message-ID: <row-1@localhost>"), "{raw}");
}
