//! Deploy rules of mail delivery: production needs a real transport, a relay it names, a
//! sender address that receiving servers accept, and the public origin the links in mail use.

use super::{Issue, issue};
use crate::settings::{MailTransportSetting, Settings};

pub(super) fn file_transport(s: &Settings) -> Vec<Issue> {
    let MailTransportSetting::File { dir } = s.mail().transport() else { return Vec::new() };
    vec![issue(
        "mail.transport",
        format!(
            "no real mail transport: messages (verification and reset links, security notices) \
             would only be written to files in {}",
            dir.display()
        ),
        "set mail.transport = \"smtp\" and mail.smtp_host (with mail.smtp_username and \
         `server secrets set mail.smtp_password` when the relay wants credentials)",
    )]
}

pub(super) fn implicit_smtp_host(s: &Settings) -> Vec<Issue> {
    match s.mail().transport() {
        MailTransportSetting::Smtp(smtp) if !smtp.host_explicit() => vec![issue(
            "mail.smtp_host",
            "not set; the default (localhost) assumes a relay on this machine",
            "set mail.smtp_host to the relay's name, as its certificate names it (a relay on \
             this machine: set localhost explicitly)",
        )],
        _ => Vec::new(),
    }
}

pub(super) fn local_sender(s: &Settings) -> Vec<Issue> {
    if !s.mail().from_is_local() {
        return Vec::new();
    }
    vec![issue(
        "mail.from",
        format!(
            "the sender {} is at localhost: receiving servers refuse it or file it as spam, and \
             replies go nowhere",
            s.mail().from_address()
        ),
        "set mail.from to an address of your domain, e.g. \"Example <no-reply@example.com>\" \
         (with SPF and DKIM for it at the relay)",
    )]
}

pub(super) fn links_without_public_origin(s: &Settings) -> Vec<Issue> {
    if s.server().public_origin().is_some() {
        return Vec::new();
    }
    vec![issue(
        "server.public_origin",
        "not set: links in mail (address verification, password reset) would be built from the \
         request's Host header, which a client chooses",
        "set server.public_origin to the origin users reach, e.g. https://app.example.com",
    )]
}
