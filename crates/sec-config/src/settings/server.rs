//! HTTP listener settings: the `server` section, its raw form, and the checks of the keys that
//! say which proxies to believe and which origin browsers use. The listener keys
//! (`server.bind`, `server.shutdown_timeout_secs`, `server.workers`) are checked by
//! `super::validate`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use sec_core::Origin;
use serde::Deserialize;

use super::StringList;
use crate::problem::Problem;

/// HTTP listener settings.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    // Built by `super::validate`, which checks the listener keys first and the proxy keys after
    // the log section: the order the problems are reported in.
    pub(super) bind: SocketAddr,
    pub(super) bind_explicit: bool,
    pub(super) shutdown_timeout: Duration,
    pub(super) workers: Option<usize>,
    pub(super) behind_tls_proxy: bool,
    pub(super) public_origin: Option<Origin>,
    pub(super) trusted_proxies: TrustedProxies,
    pub(super) client_ip_header: ClientIpHeader,
}

// The `explicit` flags record whether a value came from a file or variable rather than the
// built-in default: production refuses to run on defaults meant for a developer's machine.
impl ServerSettings {
    /// Address and port to listen on (`server.bind`, default 127.0.0.1:8080; port 0 picks a
    /// free port).
    pub fn bind(&self) -> SocketAddr {
        self.bind
    }

    /// How long in-flight requests may take to finish after SIGTERM/SIGINT
    /// (`server.shutdown_timeout_secs`, default 30).
    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }

    /// Worker threads (`server.workers`); `None` means one per core.
    pub fn workers(&self) -> Option<usize> {
        self.workers
    }

    /// Whether a TLS-terminating proxy sits in front of this server
    /// (`server.behind_tls_proxy`, default false). Production refuses to serve plain HTTP on
    /// a non-loopback address unless this is set.
    pub fn behind_tls_proxy(&self) -> bool {
        self.behind_tls_proxy
    }

    /// The origin browsers use to reach the server, e.g. `https://app.example.com`
    /// (`server.public_origin`). The CSRF check compares request origins with it; when unset,
    /// with the origin the request's `Host` header names.
    pub fn public_origin(&self) -> Option<&Origin> {
        self.public_origin.as_ref()
    }

    /// Proxies whose forwarding header names the client (`server.trusted_proxies`, default
    /// none). The rate limits key on the peer address otherwise.
    pub fn trusted_proxies(&self) -> &TrustedProxies {
        &self.trusted_proxies
    }

    /// Which header the trusted proxies write the client address into
    /// (`server.client_ip_header`: `x-forwarded-for`, the default, or `forwarded`).
    pub fn client_ip_header(&self) -> ClientIpHeader {
        self.client_ip_header
    }
}

/// Which forwarding header a trusted proxy writes the client address into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientIpHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (the default; what most proxies append to).
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

/// The proxies whose forwarding headers are believed (`server.trusted_proxies`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// True when `ip` is one of the trusted proxies (an IPv4-mapped IPv6 address counts as its
    /// IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// True when no proxy is trusted: forwarding headers are then always ignored.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The networks, as written in CIDR form (`10.0.0.0/8`, `192.0.2.7/32`).
    pub fn networks(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

// Read field by field by `super::validate`, like `ServerSettings` is built there.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawServer {
    pub(super) bind: Option<String>,
    pub(super) shutdown_timeout_secs: Option<u64>,
    pub(super) workers: Option<usize>,
    pub(super) behind_tls_proxy: Option<bool>,
    pub(super) public_origin: Option<String>,
    pub(super) trusted_proxies: Option<StringList>,
    pub(super) client_ip_header: Option<String>,
}

/// `server.public_origin`: the origin browsers use to reach the server.
pub(super) fn public_origin(raw: Option<&str>, problems: &mut Vec<Problem>) -> Option<Origin> {
    let text = raw.map(str::trim).filter(|t| !t.is_empty())?;
    Origin::parse(text)
        .map_err(|e| {
            problems.push(Problem::new(
                "server.public_origin",
                format!("{text:?} is not an origin: {e}; e.g. https://app.example.com"),
            ));
        })
        .ok()
}

/// `server.trusted_proxies`: IP addresses or CIDR networks.
pub(super) fn trusted_proxies(
    raw: Option<&StringList>,
    problems: &mut Vec<Problem>,
) -> TrustedProxies {
    let mut nets = Vec::new();
    for item in raw.into_iter().flat_map(StringList::items) {
        let parsed = item
            .parse::<IpNet>()
            .map(|n| n.trunc())
            .or_else(|_| item.parse::<IpAddr>().map(|ip| IpNet::from(ip.to_canonical())));
        match parsed {
            Ok(net) => nets.push(net),
            Err(_) => problems.push(Problem::new(
                "server.trusted_proxies",
                format!("{item:?} is not an IP address or CIDR network, e.g. 10.0.0.0/8"),
            )),
        }
    }
    TrustedProxies(nets)
}

/// `server.client_ip_header`.
pub(super) fn client_ip_header(raw: Option<&str>, problems: &mut Vec<Problem>) -> ClientIpHeader {
    match raw.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        None | Some("x-forwarded-for") => ClientIpHeader::XForwardedFor,
        Some("forwarded") => ClientIpHeader::Forwarded,
        Some(other) => {
            problems.push(Problem::new(
                "server.client_ip_header",
                format!("must be x-forwarded-for or forwarded (got {other:?})"),
            ));
            ClientIpHeader::XForwardedFor
        }
    }
}
