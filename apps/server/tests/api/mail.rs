//! The mail transport against a real SMTP server on loopback ([`MailServer`]): messages go
//! out over STARTTLS with both parts, a stable Message-ID and the configured credentials; a
//! relay whose certificate does not chain to the configured CA, a relay that is down and a
//! relay that speaks no implicit TLS all get nothing, and the failures say whether a retry
//! may help.
//!
//! No database is involved, so every case runs once (as SQLite) rather than per backend.

use std::time::Duration;

use sec_config::{Settings, Sources};
use server::mail::{Mailer, Notice, OutgoingMail, SendError, render};

use crate::helpers::{Backend, Case};
use crate::mail_server::{MailServer, SinkOptions};

const ARRIVAL: Duration = Duration::from_secs(10);

pub fn cases() -> Vec<Case> {
    macro_rules! once {
        ($($name:ident),* $(,)?) => {
            vec![$(Case::only(Backend::Sqlite, stringify!($name), |b| Box::pin($name(b)))),*]
        };
    }
    once![
        mail_arrives_over_starttls_with_both_parts_and_a_stable_message_id,
        mail_to_a_relay_whose_certificate_another_ca_signed_is_refused,
        mail_to_a_stopped_relay_fails_transiently_and_goes_once_it_is_back,
        mail_over_implicit_tls_to_a_starttls_port_fails_without_plaintext,
        mail_to_a_relay_that_offers_no_starttls_is_never_sent_in_plaintext,
        mail_credentials_are_used_and_refused_ones_are_transient,
        mail_refused_by_a_550_is_permanent_and_by_a_451_transient,
        mail_file_transport_writes_a_message_file_under_its_folder,
    ]
}

/// Settings loaded through the real loader from `vars` (test environment, no config files).
fn settings(vars: &[(&str, String)]) -> Settings {
    // An empty folder: no config file can change what the test sets.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut all: Vec<(String, String)> = vec![("APP_ENV".to_owned(), "test".to_owned())];
    all.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    Settings::load(&Sources::new(dir.path(), all)).expect("mail test settings are valid")
}

fn mailer_for(server: &MailServer, overrides: &[(&'static str, String)]) -> Mailer {
    let mut vars = server.settings_vars();
    for (k, v) in overrides {
        vars.retain(|(name, _)| name != k);
        vars.push((k, v.clone()));
    }
    Mailer::from_settings(&settings(&vars)).expect("mailer")
}

const LINK: &str = "https://app.example.com/verify#token=secret-token-Q7";

fn verification() -> OutgoingMail {
    let notice = Notice::VerifyEmail {
        username: "<b>alice</b>".to_owned(),
        link: LINK.to_owned(),
        expires_hours: 24,
    };
    render(&notice, "alice@example.com", "Example").expect("rendered")
}

fn assert_says_nothing_of_the_body(error: &SendError) {
    let text = error.to_string();
    assert!(!text.contains("secret-token-Q7") && !text.contains("alice</b>"), "{text}");
}

async fn mail_arrives_over_starttls_with_both_parts_and_a_stable_message_id(_: Backend) {
    let server = MailServer::start();
    let mailer = mailer_for(&server, &[]);
    assert_eq!(mailer.describe(), format!("smtp localhost:{} (STARTTLS)", server.port()));
    let mail = verification();
    mailer.send(&mail, "row-42").await.expect("sent");
    // A retried send of the same outbox row carries the same Message-ID.
    mailer.send(&mail, "row-42").await.expect("sent again");
    let received = server.wait_for(2, ARRIVAL).await;
    let first = &received[0];
    assert!(first.tls, "the message travelled inside TLS");
    assert_eq!(first.rcpt_to, "alice@example.com");
    assert_eq!(first.to, "alice@example.com");
    assert_eq!(first.from, "Example <no-reply@example.com>");
    assert_eq!(first.subject, "Example: confirm your e-mail address");
    assert_eq!(first.message_id, "<row-42@example.com>");
    assert_eq!(received[1].message_id, first.message_id);
    assert!(first.raw.contains("multipart/alternative"), "{}", first.raw);
    assert!(first.text.contains(LINK) && first.text.contains("<b>alice</b>"), "{}", first.text);
    assert!(first.html.contains(LINK), "{}", first.html);
    assert!(first.html.contains("&#60;b&#62;alice") || first.html.contains("&lt;b&gt;alice"));
    assert!(!first.html.contains("<b>alice"), "{}", first.html);
}

async fn mail_to_a_relay_whose_certificate_another_ca_signed_is_refused(_: Backend) {
    let server = MailServer::start();
    let other = server.other_ca_file().display().to_string();
    let mailer = mailer_for(&server, &[("APP__MAIL__SMTP_CA_FILE", other)]);
    let error = mailer.send(&verification(), "row-1").await.expect_err("refused certificate");
    assert!(matches!(error, SendError::Transient(_)), "{error}");
    assert_says_nothing_of_the_body(&error);
    // Without a CA file the system's roots are trusted, and the throw-away CA is not one.
    let mut vars = server.settings_vars();
    vars.retain(|(k, _)| *k != "APP__MAIL__SMTP_CA_FILE");
    let system = Mailer::from_settings(&settings(&vars)).expect("the system has roots");
    let error = system.send(&verification(), "row-3").await.expect_err("not a system root");
    assert!(matches!(error, SendError::Transient(_)), "{error}");
    // The certificate names localhost only: the same server reached as 127.0.0.1, with the
    // right CA, is refused too.
    let mailer = mailer_for(&server, &[("APP__MAIL__SMTP_HOST", "127.0.0.1".to_owned())]);
    let error = mailer.send(&verification(), "row-2").await.expect_err("wrong name");
    assert!(matches!(error, SendError::Transient(_)), "{error}");
    assert!(server.messages().is_empty());
}

async fn mail_to_a_stopped_relay_fails_transiently_and_goes_once_it_is_back(_: Backend) {
    let mut server = MailServer::start();
    let mailer = mailer_for(&server, &[]);
    server.stop();
    let error = mailer.send(&verification(), "row-7").await.expect_err("relay down");
    assert!(matches!(error, SendError::Transient(_)), "{error}");
    assert_says_nothing_of_the_body(&error);
    server.restart();
    mailer.send(&verification(), "row-7").await.expect("sent once the relay is back");
    let received = server.wait_for(1, ARRIVAL).await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].message_id, "<row-7@example.com>");
}

async fn mail_over_implicit_tls_to_a_starttls_port_fails_without_plaintext(_: Backend) {
    let server = MailServer::start();
    let mailer = mailer_for(&server, &[("APP__MAIL__SMTP_TLS", "implicit".to_owned())]);
    assert_eq!(mailer.describe(), format!("smtp localhost:{} (implicit TLS)", server.port()));
    let error = mailer.send(&verification(), "row-1").await.expect_err("no TLS on connect");
    assert!(matches!(error, SendError::Transient(_)), "{error}");
    assert!(server.messages().is_empty());
}

async fn mail_to_a_relay_that_offers_no_starttls_is_never_sent_in_plaintext(_: Backend) {
    let credentials = Some(("mailer".to_owned(), "x7Kp2mQ9vL4nR8sT".to_owned()));
    let stripped = MailServer::start_with(SinkOptions {
        plaintext: true,
        credentials,
        ..SinkOptions::default()
    });
    let error =
        mailer_for(&stripped, &[]).send(&verification(), "row-1").await.expect_err("no TLS");
    assert!(matches!(error, SendError::Transient(_)), "{error}");
    assert!(error.to_string().contains("STARTTLS"), "{error}");
    assert!(stripped.messages().is_empty(), "nothing went out in plaintext");
}

async fn mail_credentials_are_used_and_refused_ones_are_transient(_: Backend) {
    let credentials = Some(("mailer".to_owned(), "x7Kp2mQ9vL4nR8sT".to_owned()));
    let server = MailServer::start_with(SinkOptions { credentials, ..SinkOptions::default() });
    mailer_for(&server, &[]).send(&verification(), "row-1").await.expect("sent with AUTH");
    let received = server.wait_for(1, ARRIVAL).await;
    assert_eq!(received[0].auth.as_deref(), Some("mailer"));

    // A wrong password or none: the relay refuses us, not the message, so it may be retried
    // once the operator fixes the settings.
    let wrong = mailer_for(&server, &[("APP__MAIL__SMTP_PASSWORD", "wrong-password".to_owned())]);
    let error = wrong.send(&verification(), "row-2").await.expect_err("bad password");
    assert!(matches!(error, SendError::Transient(_)), "{error}");
    assert!(!error.to_string().contains("wrong-password"), "{error}");
    let mut vars = server.settings_vars();
    vars.retain(|(k, _)| !k.starts_with("APP__MAIL__SMTP_USERNAME") && !k.contains("PASSWORD"));
    let anonymous = Mailer::from_settings(&settings(&vars)).expect("mailer");
    let error = anonymous.send(&verification(), "row-3").await.expect_err("no credentials");
    assert!(matches!(error, SendError::Transient(_)), "{error}");
    assert_eq!(server.messages().len(), 1);
}

async fn mail_refused_by_a_550_is_permanent_and_by_a_451_transient(_: Backend) {
    let refusing =
        MailServer::start_with(SinkOptions { refuse: Some(550), ..SinkOptions::default() });
    let error = mailer_for(&refusing, &[]).send(&verification(), "r").await.expect_err("550");
    assert!(matches!(error, SendError::Permanent(_)), "{error}");
    assert_says_nothing_of_the_body(&error);
    let busy = MailServer::start_with(SinkOptions { refuse: Some(451), ..SinkOptions::default() });
    let error = mailer_for(&busy, &[]).send(&verification(), "r").await.expect_err("451");
    assert!(matches!(error, SendError::Transient(_)), "{error}");
    assert!(refusing.messages().is_empty() && busy.messages().is_empty());
}

async fn mail_file_transport_writes_a_message_file_under_its_folder(_: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let folder = dir.path().join("mail");
    let mailer = Mailer::from_settings(&settings(&[
        ("APP__MAIL__FILE_DIR", folder.display().to_string()),
        ("APP__MAIL__FROM", "Example <no-reply@example.com>".to_owned()),
    ]))
    .expect("mailer");
    assert_eq!(mailer.describe(), format!("file {}", folder.display()));
    mailer.send(&verification(), "row-9").await.expect("written");
    let files: Vec<_> = std::fs::read_dir(&folder).expect("folder").collect();
    assert_eq!(files.len(), 1);
    let path = files[0].as_ref().expect("entry").path();
    assert!(path.display().to_string().ends_with("-row-9.eml"), "{}", path.display());
    let raw = std::fs::read_to_string(&path).expect("message");
    assert!(raw.contains("Message-ID: <row-9@example.com>"), "{raw}");
}
