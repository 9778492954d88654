//! HTTPS served by the server itself, with rustls: the listener's TLS configuration from
//! `tls.cert_file`/`tls.key_file`, and the optional plain-HTTP listener
//! (`tls.redirect_http_bind`) that answers every request with a 308 redirect to HTTPS.
//!
//! rustls speaks TLS 1.3 and 1.2 only (it has no TLS 1.0 or 1.1, RFC 8996), with its default
//! cipher suites: AEAD only (AES-GCM, ChaCha20-Poly1305), forward secrecy only, no
//! compression, no renegotiation. The crypto provider is `ring`. ALPN offers HTTP/1.1 alone:
//! the server is built without HTTP/2 (docs/security.md).
//!
//! The redirect listener is off by default: a client that follows it has already sent its
//! first request (and any cookie without `Secure`, or token in the URL) in clear text, so API
//! clients should use `https://` from the start and HSTS should keep browsers there. It exists
//! for people typing the bare host name into a browser, and never sends them to a host the
//! request named ([`HttpsRedirect`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sec_config::{Origin, TlsFiles};

use crate::http::error::{AppError, ErrorCode};

/// The TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file could not be read or holds no PEM certificate.
    #[error("TLS certificate {path}: {source}")]
    Certificate {
        /// `tls.cert_file`.
        path: PathBuf,
        /// Why.
        source: pem::Error,
    },
    /// The key file could not be read or holds no PEM private key.
    #[error("TLS private key {path}: {source}")]
    Key {
        /// `tls.key_file`.
        path: PathBuf,
        /// Why.
        source: pem::Error,
    },
    /// rustls refused the pair (the key does not match the certificate, an unsupported key
    /// type, …).
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The rustls server configuration for the certificate chain and key in `files`.
pub fn server_config(files: &TlsFiles) -> Result<rustls::ServerConfig, TlsError> {
    let cert_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TlsError::Certificate { path, source }
    };
    let certs = CertificateDer::pem_file_iter(files.cert_file())
        .map_err(cert_err(files.cert_file()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(cert_err(files.cert_file()))?;
    if certs.is_empty() {
        return Err(cert_err(files.cert_file())(pem::Error::NoItemsFound));
    }
    let key = PrivateKeyDer::from_pem_file(files.key_file())
        .map_err(|source| TlsError::Key { path: files.key_file().to_path_buf(), source })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Where the redirect listener sends clients, registered as `web::Data<HttpsRedirect>`.
///
/// The request's `Host` is the client's to choose, and a cache or proxy between may keep the
/// answer for others: copying it into `Location` would make the listener an open redirect
/// (`Host: evil.example` → `https://evil.example/...`). So the target is `server.public_origin`
/// when it is set (production requires it with this listener, SEC-C024); without it, only a
/// loopback `Host` (`localhost`, `127.0.0.0/8`, `::1`: this machine, a developer's browser) is
/// redirected, and any other `Host` gets 400 with no `Location`.
#[derive(Debug, Clone)]
pub struct HttpsRedirect {
    public_origin: Option<Origin>,
    https_port: u16,
}

impl HttpsRedirect {
    /// To `public_origin` when it is an `https` origin, else to a loopback host on
    /// `https_port` (the TLS listener's port).
    pub fn new(public_origin: Option<&Origin>, https_port: u16) -> Self {
        Self { public_origin: public_origin.filter(|o| o.is_https()).cloned(), https_port }
    }

    /// The `Location` for a request; `None` when there is no safe target: no `public_origin`
    /// and a `Host` that is missing, malformed or not a loopback name.
    fn location(&self, req: &ServiceRequest) -> Option<String> {
        let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        if let Some(origin) = &self.public_origin {
            return Some(format!("{origin}{target}"));
        }
        let host = req.headers().get(header::HOST)?.to_str().ok()?;
        let host = Origin::from_host(false, host).ok()?;
        if !is_loopback(host.host()) {
            return None;
        }
        Some(match self.https_port {
            443 => format!("https://{}{target}", host.host()),
            port => format!("https://{}:{port}{target}", host.host()),
        })
    }
}

/// `localhost` or a loopback address (IPv6 in brackets, as [`Origin::host`] gives it). Names
/// under `.localhost` are left out: resolvers need not keep them on this machine.
fn is_loopback(host: &str) -> bool {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    host == "localhost" || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Middleware: a request that arrived over plain HTTP while TLS is on (so through the
/// redirect listener) gets a 308 to the same path over HTTPS, and nothing else.
pub async fn redirect_middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let location = match req.app_data::<web::Data<HttpsRedirect>>() {
        Some(redirect) if !req.app_config().secure() => Some(redirect.location(&req)),
        _ => None,
    };
    match location {
        None => next.call(req).await.map(ServiceResponse::map_into_boxed_body),
        Some(Some(location)) => Ok(req.into_response(
            HttpResponse::PermanentRedirect().insert_header((header::LOCATION, location)).finish(),
        )),
        Some(None) => Ok(req.error_response(AppError::with_cause(
            ErrorCode::BadRequest,
            "no redirect target: set server.public_origin (only a loopback Host is redirected \
             without it)",
        ))),
    }
}
