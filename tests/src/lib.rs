//! Helpers for the end-to-end tests: find the `server` binary cargo built, start it in a
//! directory of the test's choosing, read its log to learn its address, and talk plain HTTP/1.1
//! to it over a socket, as any client would; a fresh PostgreSQL database for a test; and, in
//! [`browser`], a headless Chromium driven over WebDriver.
#![allow(
    clippy::expect_used,
    clippy::panic,
    reason = "test support: a failed expectation is a failed test"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use diesel::{Connection, PgConnection, RunQueryDsl};

pub mod browser;

/// Upper bound on waiting for the server to print its address; only a guard against hanging,
/// never a measure of speed.
const START_GUARD: Duration = Duration::from_secs(60);

/// The folder of this build's profile (`target/debug`), from the test executable's path:
/// `target/<profile>/deps/<test>`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent().and_then(Path::parent).expect("target/<profile> folder").to_path_buf()
}

/// The workspace's target folder: `CARGO_TARGET_DIR` when it is an absolute path (a relative
/// one is relative to wherever cargo was started, which a test cannot know), else the folder
/// above this build's profile.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        _ => profile_dir().parent().expect("the target folder").to_path_buf(),
    }
}

/// The `server` binary of this build: `SERVER_BIN` if set (to test a release build), else the
/// one next to the test executable, which `cargo test --workspace` builds.
pub fn server_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("SERVER_BIN") {
        return PathBuf::from(path);
    }
    // target/<profile>/deps/<test> -> target/<profile>/server
    let bin = profile_dir().join(format!("server{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} not found: build it first (`cargo build -p server`) or set SERVER_BIN",
        bin.display()
    );
    bin
}

/// A `server` command in `dir` with an empty environment apart from `PATH` and `vars`, so no
/// setting leaks in from the developer's shell.
pub fn server_command(dir: &Path, vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(server_bin());
    cmd.current_dir(dir).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

/// Runs `server ARGS` to completion.
pub fn run_server(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> Output {
    server_command(dir, vars).args(args).output().expect("server runs")
}

/// `server users create-admin` for `username` (address `username@example.test`), the password
/// on standard input as a script gives it; fails the test if the command fails.
pub fn create_admin(dir: &Path, vars: &[(&str, &str)], username: &str, password: &str) {
    let mut child = server_command(dir, vars)
        .args(["users", "create-admin", "--username", username, "--email"])
        .arg(format!("{username}@example.test"))
        .arg("--password-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("server runs");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write the password");
    let out = child.wait_with_output().expect("server exits");
    assert!(out.status.success(), "create-admin: {}", String::from_utf8_lossy(&out.stderr));
}

/// A server process started by a test; killed if the test ends without stopping it.
pub struct RunningServer {
    child: Child,
    /// `host:port` it listens on.
    pub addr: String,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl RunningServer {
    /// Starts `server serve` in `dir` and waits until it logs its address.
    pub fn start(dir: &Path, vars: &[(&str, &str)]) -> Self {
        let mut child = server_command(dir, vars)
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("server starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        loop {
            let line = lines.recv_timeout(START_GUARD).unwrap_or_else(|_| {
                let _ = child.kill();
                let _ = child.wait();
                panic!("server printed no address; output so far:\n{}", seen.join("\n"))
            });
            let addr = line
                .split_once("listening on http://")
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .map(str::to_owned);
            seen.push(line);
            if let Some(addr) = addr {
                return Self { child, addr, lines, seen };
            }
        }
    }

    /// Every line the server has printed so far.
    pub fn output(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        &self.seen
    }

    /// How the process ended, if it has (a test that finds its server gone says so).
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// `GET path`; returns the status code and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(&self.addr, path)
    }

    /// Sends `signal` (e.g. `TERM`, `INT`) and waits for the process to exit.
    pub fn stop_with(mut self, signal: &str) -> (ExitStatus, Vec<String>) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
        let exit = self.child.wait().expect("server exits");
        // The reader thread ends at EOF, after the last line.
        while let Ok(line) = self.lines.recv_timeout(START_GUARD) {
            self.seen.push(line);
        }
        (exit, std::mem::take(&mut self.seen))
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 GET over a fresh connection.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to server");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
        .expect("send request");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read response");
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {raw:?}"));
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// A minimal HTTP/1.1 request with a JSON body and optional extra header lines, over a fresh
/// connection; returns the status, the raw header block and the body.
pub fn http_json(
    addr: &str,
    method: &str,
    path: &str,
    body: &str,
    extra_headers: &[&str],
) -> (u16, String, String) {
    try_http_json(addr, method, path, body, extra_headers)
        .unwrap_or_else(|e| panic!("{method} {path} to {addr} failed: {e}"))
}

/// [`http_json`] that reports a failed connection or a cut response instead of panicking (for
/// tests that kill servers under load).
pub fn try_http_json(
    addr: &str,
    method: &str,
    path: &str,
    body: &str,
    extra_headers: &[&str],
) -> std::io::Result<(u16, String, String)> {
    let mut stream = TcpStream::connect(addr)?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nOrigin: http://{addr}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for h in extra_headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    write!(stream, "{head}\r\n{body}")?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let status = raw.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not an HTTP response: {raw:?}"),
        )
    })?;
    let (headers, body) = raw.split_once("\r\n\r\n").unwrap_or((raw.as_str(), ""));
    Ok((status, headers.to_owned(), body.to_owned()))
}

/// The session token a response's `Set-Cookie` header block carries, if any.
pub fn session_token(headers: &str) -> Option<String> {
    headers
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie: __host-session="))
        .and_then(|l| l.split_once('=').map(|(_, rest)| rest))
        .and_then(|rest| rest.split(';').next())
        .map(str::to_owned)
}

/// The `.eml` files the development file transport wrote under `dir` (`var/mail/`), oldest name
/// first; none when the folder does not exist yet.
pub fn mail_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join("var/mail")) else { return Vec::new() };
    let mut files: Vec<std::path::PathBuf> = entries
        .map(|e| e.expect("mail folder entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read_to_string(p).expect("a mail file")).collect()
}

/// `text` with quoted-printable encoding undone (RFC 2045 §6.7: `=` and a line break joins
/// lines, `=XX` is a byte in hex), as the mail parts are sent. Anything else passes unchanged,
/// so a whole message can go through it to search its text.
pub fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(byte) if bytes[i] == b'=' => {
                out.push(byte);
                i += 3;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A fresh PostgreSQL database on the server `TEST_DATABASE_URL` names, dropped at the end.
pub struct Database {
    admin: String,
    name: String,
    /// Its URL, for `DATABASE_URL`.
    pub url: String,
}

impl Database {
    /// Creates one; without `TEST_DATABASE_URL`, says on stderr that `test` is skipped and
    /// returns `None`.
    pub fn create(test: &str) -> Option<Self> {
        let Some(admin) = std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
            #[allow(clippy::print_stderr, reason = "the skip must be visible")]
            {
                eprintln!("SKIPPED {test}: TEST_DATABASE_URL is not set");
            }
            return None;
        };
        let name = format!("e2e_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::establish(&admin).expect("connect to TEST_DATABASE_URL");
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .expect("create a test database");
        let (base, _) = admin.rsplit_once('/').expect("TEST_DATABASE_URL has a database path");
        let url = format!("{base}/{name}");
        Some(Self { admin, name, url })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}
