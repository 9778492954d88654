//! A real SMTP server for the tests: `tests/smtp_sink.py` (Python, aiosmtpd) on loopback,
//! speaking STARTTLS with a certificate from a throw-away CA made here, storing each message
//! it accepts as a file that [`MailServer::messages`] reads back.
//!
//! The tests need `python3` with aiosmtpd (`python3 -m pip install -r
//! apps/server/tests/smtp_sink.requirements.txt`; `.ci/run` installs it). Without it a test
//! fails and says so: a mail test that skips itself would pass without having run.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;

/// How long the server may take to say READY.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// What the server demands or answers besides STARTTLS.
#[derive(Default, Clone)]
pub struct SinkOptions {
    /// AUTH with this user name and password is required before MAIL.
    pub credentials: Option<(String, String)>,
    /// Every RCPT is answered with this reply code (451: retry later, 550: refused).
    pub refuse: Option<u16>,
    /// No STARTTLS on offer: what a client sees when an attacker strips it.
    pub plaintext: bool,
}

/// A running SMTP sink; killed when dropped.
pub struct MailServer {
    dir: tempfile::TempDir,
    port: u16,
    options: SinkOptions,
    child: Option<Child>,
}

/// A message the sink accepted.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope recipients (RCPT TO).
    pub rcpt_to: String,
    /// Whether the session was inside TLS when the message was sent.
    pub tls: bool,
    /// The user name the session authenticated as, when it did.
    pub auth: Option<String>,
    /// Header `To`.
    pub to: String,
    /// Header `From`.
    pub from: String,
    /// Header `Subject`, unfolded and decoded.
    pub subject: String,
    /// Header `Message-ID`.
    pub message_id: String,
    /// The decoded `text/plain` part.
    pub text: String,
    /// The decoded `text/html` part.
    pub html: String,
    /// The whole message as received, the sink's own headers included.
    pub raw: String,
}

impl MailServer {
    /// A sink that requires STARTTLS and nothing else.
    pub fn start() -> Self {
        Self::start_with(SinkOptions::default())
    }

    /// A sink with `options`.
    pub fn start_with(options: SinkOptions) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        write_certificates(dir.path());
        std::fs::create_dir(dir.path().join("inbox")).expect("inbox folder");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = Self { dir, port, options, child: None };
        server.spawn();
        server
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA certificate that signed the sink's certificate (PEM).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A CA that did not sign the sink's certificate (PEM): a client trusting only it must
    /// refuse the server.
    pub fn other_ca_file(&self) -> PathBuf {
        self.dir.path().join("other-ca.pem")
    }

    /// The `APP__MAIL__…` variables of a server that sends through this sink with STARTTLS
    /// (and its credentials, when it requires some).
    pub fn settings_vars(&self) -> Vec<(&'static str, String)> {
        let mut vars = vec![
            ("APP__MAIL__TRANSPORT", "smtp".to_owned()),
            // The name the certificate carries (it names no IP address, so that a test can
            // reach the server by a name the certificate does not carry).
            ("APP__MAIL__SMTP_HOST", "localhost".to_owned()),
            ("APP__MAIL__SMTP_PORT", self.port.to_string()),
            ("APP__MAIL__SMTP_TLS", "starttls".to_owned()),
            ("APP__MAIL__SMTP_CA_FILE", self.ca_file().display().to_string()),
            ("APP__MAIL__SMTP_TIMEOUT_SECS", "5".to_owned()),
            ("APP__MAIL__FROM", "Example <no-reply@example.com>".to_owned()),
        ];
        if let Some((user, password)) = &self.options.credentials {
            vars.push(("APP__MAIL__SMTP_USERNAME", user.clone()));
            vars.push(("APP__MAIL__SMTP_PASSWORD", password.clone()));
        }
        vars
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Received> {
        let inbox = self.dir.path().join("inbox");
        let mut names: Vec<String> = std::fs::read_dir(&inbox)
            .expect("inbox")
            .map(|e| e.expect("inbox entry").file_name().to_string_lossy().into_owned())
            // Files still being written have a leading dot.
            .filter(|n| n.ends_with(".eml") && !n.starts_with('.'))
            .collect();
        names.sort();
        names
            .iter()
            .map(|n| parse(&std::fs::read_to_string(inbox.join(n)).expect("a message")))
            .collect()
    }

    /// Waits until at least `n` messages have arrived, at most `timeout`; returns them all.
    /// Panics with what did arrive when they do not.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} message(s) within {timeout:?}, got {}: {messages:?}",
                messages.len()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Stops the server: connections to its port are refused until [`MailServer::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, with the same certificate and inbox.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn spawn(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_sink.py");
        let requirements =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_sink.requirements.txt");
        let dir = self.dir.path();
        let mut command = Command::new("python3");
        command
            .arg(&script)
            .args(["--port", &self.port.to_string()])
            .arg("--cert")
            .arg(dir.join("server.pem"))
            .arg("--key")
            .arg(dir.join("server.key"))
            .arg("--out")
            .arg(dir.join("inbox"));
        if let Some((user, password)) = &self.options.credentials {
            command.args(["--username", user, "--password", password]);
        }
        if let Some(code) = self.options.refuse {
            command.args(["--refuse", &code.to_string()]);
        }
        if self.options.plaintext {
            command.arg("--plaintext");
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run python3 for the SMTP test server: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        // READY arrives on stdout; reading it blocks, so it is read on a thread and awaited
        // with a bound.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut line = String::new();
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) if line.trim() == "READY" => self.child = Some(child),
            outcome => {
                let _ = child.kill();
                let output = child.wait_with_output().expect("the sink's output");
                let stderr = String::from_utf8_lossy(&output.stderr);
                if output.status.code() == Some(3) || stderr.contains("aiosmtpd") {
                    panic!(
                        "the SMTP test server needs aiosmtpd: python3 -m pip install -r {}\n{stderr}",
                        requirements.display()
                    );
                }
                panic!("the SMTP test server did not start ({outcome:?}): {stderr}");
            }
        }
    }
}

impl Drop for MailServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A throw-away CA, a certificate it signs for `localhost` (only) with its key, and a second,
/// unrelated CA.
fn write_certificates(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca = |name: &str| {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        (params, key, cert)
    };
    let (ca_params, ca_key, ca_cert) = ca("mail test CA");
    let (_, _, other_cert) = ca("another CA");
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).expect("leaf params");
    leaf.distinguished_name.push(DnType::CommonName, "mail test server");
    let leaf_key = KeyPair::generate().expect("leaf key");
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).expect("leaf certificate");
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).expect("ca.pem");
    std::fs::write(dir.join("other-ca.pem"), other_cert.pem()).expect("other-ca.pem");
    std::fs::write(dir.join("server.pem"), leaf_cert.pem()).expect("server.pem");
    std::fs::write(dir.join("server.key"), leaf_key.serialize_pem()).expect("server.key");
}

/// The parts of a message as lettre writes it: headers, then a `multipart/alternative` body
/// of a text and an HTML part, each quoted-printable, base64 or 7bit.
fn parse(raw: &str) -> Received {
    let (head, body) = split_head(raw);
    let header = |name: &str| header_value(&head, name).unwrap_or_default();
    let content_type = header("Content-Type");
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_owned())
        .unwrap_or_else(|| panic!("not multipart: {raw}"));
    let (mut text, mut html) = (String::new(), String::new());
    for part in body.split(&format!("--{boundary}")).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let (part_head, part_body) = split_head(part.trim_start_matches("\r\n"));
        let part_type = header_value(&part_head, "Content-Type").unwrap_or_default();
        let encoding = header_value(&part_head, "Content-Transfer-Encoding").unwrap_or_default();
        let decoded = decode_body(part_body.trim_end_matches("\r\n"), &encoding);
        if part_type.starts_with("text/plain") {
            text = decoded;
        } else if part_type.starts_with("text/html") {
            html = decoded;
        }
    }
    Received {
        rcpt_to: header("X-Sink-Rcpt-To"),
        tls: header("X-Sink-Tls") == "yes",
        auth: Some(header("X-Sink-Auth")).filter(|a| a != "-"),
        to: header("To"),
        from: header("From"),
        subject: decode_words(&header("Subject")),
        message_id: header("Message-ID"),
        text,
        html,
        raw: raw.to_owned(),
    }
}

/// Headers (unfolded, one per line) and the body.
fn split_head(text: &str) -> (Vec<String>, &str) {
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    let mut lines: Vec<String> = Vec::new();
    for line in head.split("\r\n") {
        match lines.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => last.push_str(line),
            _ => lines.push(line.to_owned()),
        }
    }
    (lines, body)
}

fn header_value(lines: &[String], name: &str) -> Option<String> {
    lines.iter().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

fn decode_body(body: &str, encoding: &str) -> String {
    match encoding.to_ascii_lowercase().as_str() {
        "base64" => {
            let joined: String = body.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD.decode(joined).expect("base64");
            String::from_utf8(bytes).expect("UTF-8 part")
        }
        "quoted-printable" => quoted_printable(body),
        _ => body.to_owned(),
    }
}

fn quoted_printable(body: &str) -> String {
    let mut out = Vec::new();
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes[i + 1..].starts_with(b"\r\n") => i += 3,
            b'=' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("hex");
                out.push(u8::from_str_radix(hex, 16).expect("QP escape"));
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("UTF-8 part")
}

/// RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`) in a header, decoded.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("=?") {
        out.push_str(&rest[..start]);
        let word = &rest[start + 2..];
        let parts: Vec<&str> = word.splitn(3, '?').collect();
        let Some(end) = parts.get(2).and_then(|p| p.find("?=")) else {
            out.push_str(&rest[start..]);
            return out;
        };
        let payload = &parts[2][..end];
        let decoded = if parts[1].eq_ignore_ascii_case("b") {
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(payload).expect("b"))
                .expect("UTF-8")
        } else {
            quoted_printable(&payload.replace('_', " "))
        };
        out.push_str(&decoded);
        rest = parts[2][end + 2..].trim_start();
    }
    out.push_str(rest);
    out
}
