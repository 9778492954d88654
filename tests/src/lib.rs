//! Helpers for the end-to-end tests: find the `server` binary cargo built, start it in a
//! directory of the test's choosing, read its log to learn its address, and talk plain HTTP/1.1
//! to it over a socket, as any client would.
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

/// Upper bound on waiting for the server to print its address; only a guard against hanging,
/// never a measure of speed.
const START_GUARD: Duration = Duration::from_secs(60);

/// The `server` binary of this build: `SERVER_BIN` if set (to test a release build), else the
/// one next to the test executable, which `cargo test --workspace` builds.
pub fn server_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("SERVER_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/server
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile> folder");
    let bin = profile_dir.join(format!("server{}", std::env::consts::EXE_SUFFIX));
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
