//! `server probe`: one HTTP GET of `/readyz` on the address the settings make the server
//! listen on, for container health checks (a distroless image has no shell and no curl).
//!
//! It loads the same settings as `serve` (read-only: nothing is created, not even the
//! development keys), opens no database, writes no log or audit file, and exits 0 when the
//! answer is 200 and 1 for anything else: refused connection, timeout, TLS failure, any other
//! status. Exit 1 is what Docker's `HEALTHCHECK` and Compose's `healthcheck` call unhealthy
//! (they reserve 2), so no failure of the probe uses another code.
//!
//! With TLS on (`tls.cert_file`), the probe speaks HTTPS with rustls and verifies the server's
//! certificate against the certificates of `tls.cert_file` itself: the probe runs beside the
//! server, with its files, so the chain the server is configured to present is the one it must
//! be presenting. Verification is never switched off; the name checked is `--server-name`,
//! else the host of `server.public_origin`, else the address dialled (docs/deploy.md, "Health").
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a CLI command's output is its interface"
)]

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::{Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, ServerName};
use sec_config::{Settings, SettingsError, Sources};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The path probed: readiness, which is 503 while the database is unreachable.
pub const READINESS_PATH: &str = "/readyz";
/// `--timeout` when not given, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 3;

/// Arguments of `server probe`.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Give up after SECS seconds (connecting, the TLS handshake and the answer together);
    /// a probe that runs out of time fails.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = DEFAULT_TIMEOUT_SECS,
        value_parser = clap::value_parser!(u64).range(1..=300),
    )]
    pub timeout: u64,
    /// With TLS on, the name the server's certificate must be valid for (default: the host of
    /// server.public_origin when set, else the address probed).
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,
}

/// Why the probe failed. Every variant is exit status 1.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The settings do not load (the server would refuse them too).
    #[error("cannot load the settings: {}", one_line(.0))]
    Settings(SettingsError),
    /// `server.bind` asks for a random port, which the probe cannot know.
    #[error("server.bind {0} has port 0 (a random port): there is no fixed address to probe")]
    NoPort(SocketAddr),
    /// `tls.cert_file` could not be read or holds no PEM certificate.
    #[error("TLS certificate {path}: {source}")]
    Certificate {
        /// `tls.cert_file`.
        path: PathBuf,
        /// Why.
        source: pem::Error,
    },
    /// rustls refused a certificate of `tls.cert_file` as a trust anchor, or the client
    /// configuration.
    #[error("TLS client configuration from {path}: {source}")]
    Trust {
        /// `tls.cert_file`.
        path: PathBuf,
        /// Why.
        source: rustls::Error,
    },
    /// The name to verify the certificate against is neither a DNS name nor an IP address.
    #[error("{0:?} is not a DNS name or IP address to check the certificate against")]
    ServerName(String),
    /// The runtime of the probe could not start.
    #[error("cannot start the probe: {0}")]
    Runtime(io::Error),
    /// Nothing accepted the connection.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address dialled.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The TLS handshake failed (certificate not trusted or not valid for the name, plain
    /// HTTP on the other side, …).
    #[error("TLS handshake with {addr} failed: {source}")]
    Tls {
        /// The address dialled.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The request could not be built.
    #[error("cannot build the request: {0}")]
    Request(#[from] hyper::http::Error),
    /// The connection broke or the answer was not HTTP/1.1.
    #[error("{url}: {source}")]
    Http {
        /// What was probed.
        url: String,
        /// Why.
        source: hyper::Error,
    },
    /// No answer within `--timeout`.
    #[error("{url}: no answer within {secs} s")]
    Timeout {
        /// What was probed.
        url: String,
        /// `--timeout`.
        secs: u64,
    },
    /// An answer other than 200.
    #[error("{url} answered {status}: not ready")]
    NotReady {
        /// What was probed.
        url: String,
        /// The status.
        status: StatusCode,
    },
}

/// Runs `probe` on the settings of `sources` (make them [read-only](Sources::set_read_only)):
/// one line on stdout and exit 0 when ready, one line on stderr and exit 1 otherwise.
pub fn run(args: &ProbeArgs, sources: &Sources) -> ExitCode {
    let result = Settings::load(sources)
        .map_err(ProbeError::Settings)
        .and_then(|settings| Probe::new(&settings, args))
        .and_then(|probe| probe.run());
    match result {
        Ok(url) => {
            println!("{url} answered 200: ready");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("server probe: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What to probe and how, from the settings.
pub struct Probe {
    addr: SocketAddr,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    timeout: Duration,
    timeout_secs: u64,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("url", &self.url())
            .field("server_name", &self.tls.as_ref().map(|(_, name)| name))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Probe {
    /// The probe of the server `settings` describe: its `server.bind` (an unspecified address
    /// such as `0.0.0.0` or `::` becomes the loopback address of its family), over HTTPS when
    /// `tls.cert_file` is set.
    pub fn new(settings: &Settings, args: &ProbeArgs) -> Result<Self, ProbeError> {
        let bind = settings.server().bind();
        if bind.port() == 0 {
            return Err(ProbeError::NoPort(bind));
        }
        let addr = dial_address(bind);
        let tls = match settings.tls().files() {
            None => None,
            Some(files) => {
                let name = match (&args.server_name, settings.server().public_origin()) {
                    (Some(name), _) => name.clone(),
                    (None, Some(origin)) => unbracket(origin.host()).to_owned(),
                    (None, None) => addr.ip().to_string(),
                };
                let name =
                    ServerName::try_from(name.clone()).map_err(|_| ProbeError::ServerName(name))?;
                Some((TlsConnector::from(Arc::new(client_config(files.cert_file())?)), name))
            }
        };
        let timeout_secs = args.timeout;
        Ok(Self { addr, tls, timeout: Duration::from_secs(timeout_secs), timeout_secs })
    }

    /// The URL probed, e.g. `http://127.0.0.1:8080/readyz`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}{READINESS_PATH}", self.addr)
    }

    /// GETs the URL once, within the timeout; `Ok` with the URL when the answer is 200.
    pub fn run(&self) -> Result<String, ProbeError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(ProbeError::Runtime)?;
        let url = self.url();
        let status = runtime
            .block_on(async { tokio::time::timeout(self.timeout, self.get()).await })
            .map_err(|_| ProbeError::Timeout { url: url.clone(), secs: self.timeout_secs })??;
        if status == StatusCode::OK { Ok(url) } else { Err(ProbeError::NotReady { url, status }) }
    }

    async fn get(&self) -> Result<StatusCode, ProbeError> {
        let addr = self.addr;
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| ProbeError::Connect { addr, source })?;
        let request = Request::get(READINESS_PATH)
            .header(header::HOST, addr.to_string())
            .header(header::USER_AGENT, "server-probe")
            .header(header::CONNECTION, "close")
            .body(Empty::<Bytes>::new())?;
        let http = |source| ProbeError::Http { url: self.url(), source };
        match &self.tls {
            None => exchange(stream, request).await.map_err(http),
            Some((connector, name)) => {
                let stream = connector
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|source| ProbeError::Tls { addr, source })?;
                exchange(stream, request).await.map_err(http)
            }
        }
    }
}

/// One HTTP/1.1 request on `io`; the status of the answer (its body is not read).
async fn exchange<T>(io: T, request: Request<Empty<Bytes>>) -> Result<StatusCode, hyper::Error>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    // The connection is driven beside the request; it ends with the runtime.
    let driver = tokio::spawn(connection);
    let response = sender.send_request(request).await;
    driver.abort();
    Ok(response?.status())
}

/// A rustls client (ring, TLS 1.3 and 1.2, HTTP/1.1) that trusts exactly the certificates of
/// `cert_file`: the chain this server presents.
fn client_config(cert_file: &Path) -> Result<rustls::ClientConfig, ProbeError> {
    let cert_err = |source| ProbeError::Certificate { path: cert_file.to_path_buf(), source };
    let trust_err = |source| ProbeError::Trust { path: cert_file.to_path_buf(), source };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cert_file).map_err(cert_err)? {
        roots.add(cert.map_err(cert_err)?).map_err(trust_err)?;
    }
    if roots.is_empty() {
        return Err(cert_err(pem::Error::NoItemsFound));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(trust_err)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Where to connect for a server bound to `bind`: the same address, except that an
/// unspecified one (listening on every interface) is reached on loopback.
pub fn dial_address(bind: SocketAddr) -> SocketAddr {
    let ip = match bind.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bind.port())
}

/// The problems of a [`SettingsError`] on one line.
fn one_line(e: &SettingsError) -> String {
    let problems: Vec<String> = e.problems().iter().map(ToString::to_string).collect();
    problems.join("; ").replace(['\n', '\r'], " ")
}

/// An origin's host without the brackets of an IPv6 address.
fn unbracket(host: &str) -> &str {
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use super::*;

    #[test]
    fn an_unspecified_bind_address_is_probed_on_loopback_of_its_family() {
        let dial = |bind: &str| dial_address(bind.parse().unwrap()).to_string();
        assert_eq!(dial("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(dial("[::]:8443"), "[::1]:8443");
        assert_eq!(dial("10.1.2.3:8080"), "10.1.2.3:8080");
        assert_eq!(dial("[fd00::1]:80"), "[fd00::1]:80");
    }

    #[test]
    fn ipv6_origin_hosts_lose_their_brackets() {
        assert_eq!(unbracket("[::1]"), "::1");
        assert_eq!(unbracket("app.example.com"), "app.example.com");
    }
}
