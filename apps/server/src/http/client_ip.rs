//! Which client a request comes from: resolved **once per request**, by [`middleware`] (the
//! outermost layer), and stored in the request extensions as a [`ClientAddr`]. Everything that
//! needs the client address reads that value through [`ClientAddr::of`]: the rate limiter's
//! key, the login throttle, session records and the audit trail's `source_ip`. Nothing else
//! looks at the TCP peer or at forwarding headers (the workspace's `clippy.toml` refuses
//! `peer_addr`, `connection_info` and friends everywhere but here), so no two parts of the
//! server can disagree about who the client is.
//!
//! The peer address of the TCP connection is the only fact: anyone can write a forwarding
//! header. So `X-Forwarded-For` (or `Forwarded`, per `server.client_ip_header`) is read only
//! when the peer is one of `server.trusted_proxies`, and then from the right: each trusted
//! proxy appends the address it received the request from, so the right-most address that is
//! not itself a trusted proxy is the client. Anything left of it was written by the client and
//! is ignored; an entry that does not parse ends the walk at the last address that did.
//!
//! Do not use actix's `ConnectionInfo::realip_remote_addr` for decisions: it believes the
//! headers whoever sends them.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, web};
use sec_config::{ClientIpHeader, Settings, TrustedProxies};

/// The client address of one request, as [`middleware`] resolved it: `None` only for a
/// request that did not come over TCP (a unit test calling a service directly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(Option<IpAddr>);

impl ClientAddr {
    /// The address.
    pub fn ip(self) -> Option<IpAddr> {
        self.0
    }

    /// The client address [`middleware`] stored for `req`. An app assembled without the
    /// middleware (a wiring bug) gets `None`, logged as an error, rather than a second,
    /// possibly different, answer.
    pub fn of(req: &HttpRequest) -> Option<IpAddr> {
        if let Some(addr) = req.extensions().get::<ClientAddr>() {
            return addr.0;
        }
        tracing::error!("no client address on the request: client_ip::middleware is not wrapped");
        None
    }
}

/// Middleware, the outermost layer: resolves the client address of the request with the
/// [`ClientIpPolicy`] registered as `web::Data<ClientIpPolicy>` (without one, the peer) and
/// stores it as a [`ClientAddr`] for every layer and handler after it.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let addr = resolve(req.request());
    req.extensions_mut().insert(ClientAddr(addr));
    next.call(req).await.map(ServiceResponse::map_into_boxed_body)
}

/// The one place that reads the TCP peer of a request.
#[allow(clippy::disallowed_methods, reason = "the resolver is the one reader of the peer")]
fn resolve(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip());
    match req.app_data::<web::Data<ClientIpPolicy>>() {
        Some(policy) => policy.client_ip(peer, req.headers()),
        None => peer.map(|ip| ip.to_canonical()),
    }
}

/// How the client address is found for this deployment.
#[derive(Debug, Clone)]
pub struct ClientIpPolicy {
    trusted: TrustedProxies,
    header: ClientIpHeader,
}

impl ClientIpPolicy {
    /// From `server.trusted_proxies` and `server.client_ip_header`.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            trusted: settings.server().trusted_proxies().clone(),
            header: settings.server().client_ip_header(),
        }
    }

    /// The client's address: the peer, or, when the peer is a trusted proxy, the right-most
    /// untrusted address of the forwarding header. `None` only when there is no peer address
    /// (not a TCP connection).
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?.to_canonical();
        if !self.trusted.contains(peer) {
            return Some(peer);
        }
        let hops = match self.header {
            ClientIpHeader::Forwarded => forwarded_hops(headers),
            _ => x_forwarded_for_hops(headers),
        };
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = hop else { break };
            client = ip.to_canonical();
            if !self.trusted.contains(client) {
                break;
            }
        }
        Some(client)
    }
}

/// The bucket a client address counts against. An IPv6 client usually holds a whole /64 (and
/// can pick any address in it), so its /64 is the key; otherwise one host could make 2^64
/// buckets. IPv4 addresses are their own key.
pub fn rate_limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// `X-Forwarded-For: a, b, c` over every such header, in order; `None` for an entry that is not
/// an address (optionally with a port).
fn x_forwarded_for_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all(header::X_FORWARDED_FOR)
        .flat_map(|v| split_list(v.as_bytes()))
        .map(parse_node)
        .collect()
}

/// RFC 7239 `Forwarded: for=a;proto=https, for="[2001:db8::1]:443"`: the `for` of each
/// element; `None` for an element without one or with an obfuscated or `unknown` node.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all(header::FORWARDED)
        .flat_map(|v| split_list(v.as_bytes()))
        .map(|element| {
            element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim().eq_ignore_ascii_case("for").then(|| value.trim().trim_matches('"'))
            })
        })
        .map(|node| node.and_then(parse_node))
        .collect()
}

fn split_list(value: &[u8]) -> Vec<&str> {
    // A header that is not UTF-8 is one unparseable entry.
    match std::str::from_utf8(value) {
        Ok(text) => text.split(',').map(str::trim).collect(),
        Err(_) => vec![""],
    }
}

/// `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`, `[2001:db8::1]`, `[2001:db8::1]:80`.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    text.strip_prefix('[')?.strip_suffix(']')?.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use actix_web::http::header::{HeaderName, HeaderValue};
    use sec_config::Sources;

    use super::*;

    fn policy(trusted: &str, header: &str) -> ClientIpPolicy {
        let dir = std::env::temp_dir().join("no-config-for-client-ip-tests");
        let vars =
            [("APP__SERVER__TRUSTED_PROXIES", trusted), ("APP__SERVER__CLIENT_IP_HEADER", header)];
        ClientIpPolicy::from_settings(&Settings::load(&Sources::new(dir, vars)).unwrap())
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(HeaderName::from_static(name), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let p = policy("10.0.0.0/8", "x-forwarded-for");
        let h = headers(&[("x-forwarded-for", "203.0.113.9"), ("forwarded", "for=198.51.100.1")]);
        assert_eq!(p.client_ip(Some(ip("192.0.2.5")), &h), Some(ip("192.0.2.5")));
        let nobody = policy("", "x-forwarded-for");
        assert_eq!(nobody.client_ip(Some(ip("10.0.0.1")), &h), Some(ip("10.0.0.1")));
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_address_is_the_client() {
        let p = policy("10.0.0.0/8", "x-forwarded-for");
        let peer = Some(ip("10.0.0.2"));
        // The client forged the first entry; the proxy appended what it saw.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.0.0.7")]);
        assert_eq!(p.client_ip(peer, &h), Some(ip("203.0.113.9")));
        // The list may be split over several headers.
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(p.client_ip(peer, &h), Some(ip("203.0.113.9")));
        // With ports, and IPv6.
        let h = headers(&[("x-forwarded-for", "[2001:db8::7]:4711, 10.1.1.1:80")]);
        assert_eq!(p.client_ip(peer, &h), Some(ip("2001:db8::7")));
        // No header: the proxy itself.
        assert_eq!(p.client_ip(peer, &HeaderMap::new()), peer);
        // All hops trusted: the left-most.
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 10.0.0.7")]);
        assert_eq!(p.client_ip(peer, &h), Some(ip("10.9.9.9")));
        // Garbage stops the walk at the last address that parsed.
        let h = headers(&[("x-forwarded-for", "203.0.113.9, garbage, 10.0.0.7")]);
        assert_eq!(p.client_ip(peer, &h), Some(ip("10.0.0.7")));
    }

    #[test]
    fn only_the_configured_header_is_read() {
        let xff = policy("127.0.0.1", "x-forwarded-for");
        let fwd = policy("127.0.0.1", "forwarded");
        let peer = Some(ip("127.0.0.1"));
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.1"),
            ("forwarded", "for=198.51.100.1;proto=https, For=\"[2001:db8:cafe::17]:4711\""),
        ]);
        assert_eq!(xff.client_ip(peer, &h), Some(ip("203.0.113.1")));
        assert_eq!(fwd.client_ip(peer, &h), Some(ip("2001:db8:cafe::17")));
        let h = headers(&[("forwarded", "for=198.51.100.1, for=unknown")]);
        assert_eq!(fwd.client_ip(peer, &h), peer, "an unknown node ends the walk");
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(rate_limit_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(rate_limit_key(ip("2001:db8:1:2:ffff::9")), ip("2001:db8:1:2::"));
        assert_ne!(rate_limit_key(ip("2001:db8:1:3::1")), ip("2001:db8:1:2::"));
        assert_eq!(rate_limit_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        assert_eq!(rate_limit_key(ip("192.0.2.1")), ip("192.0.2.1"));
    }
}
