//! The `Origin` newtype: a web origin (scheme, host, port) in the serialised form browsers send
//! in the `Origin` header, so that two origins compare equal exactly when they are the same
//! origin.
//!
//! Used for the settings that name origins (`server.public_origin`, `csrf.allowed_origins`,
//! `cors.allowed_origins`) and for the request headers the CSRF check reads (`Origin`,
//! `Referer`, `Host`). Those headers are attacker-controlled, so parsing is strict and bounded:
//! anything that is not a plain `http`/`https` origin is an error, never a guess.
//!
//! Normal form: lower-case scheme and host, the default port (80 for http, 443 for https)
//! omitted, IPv6 hosts in brackets in their canonical text form, no trailing slash. Only ASCII
//! host names are accepted: browsers send internationalised names in their `xn--` form.

use std::fmt;
use std::net::Ipv6Addr;

/// Longest input accepted, in bytes; a host name is at most 253 bytes, so this leaves room
/// for any real origin and bounds the work on hostile input.
const MAX_INPUT_BYTES: usize = 512;

/// A web origin such as `https://app.example.com` or `http://localhost:8080`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin(String);

/// Why a string is not an origin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OriginError {
    /// Longer than any real origin.
    #[error("too long to be an origin")]
    TooLong,
    /// Not `http://` or `https://`.
    #[error("an origin starts with http:// or https://")]
    Scheme,
    /// A user name or password (`user@host`), which an origin never has.
    #[error("an origin has no user name or password")]
    UserInfo,
    /// A path, query or fragment after the host and port.
    #[error("an origin has no path, query or fragment (only scheme://host[:port])")]
    Path,
    /// The host is empty or has characters a host name cannot have.
    #[error("the host is not a valid host name or IP address")]
    Host,
    /// The port is not a number from 1 to 65535.
    #[error("the port must be a number from 1 to 65535")]
    Port,
}

impl Origin {
    /// Parses an origin: `scheme://host[:port]`, with an optional trailing `/` (common in
    /// configuration files). Everything else after the host is refused.
    pub fn parse(text: &str) -> Result<Self, OriginError> {
        let (scheme, rest) = split_scheme(text)?;
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#']) {
            return Err(OriginError::Path);
        }
        Self::from_authority(scheme, authority)
    }

    /// The origin of a URL such as a `Referer` value: its scheme, host and port, ignoring the
    /// path, query and fragment. A URL with a user name or password is refused.
    pub fn of_url(url: &str) -> Result<Self, OriginError> {
        let (scheme, rest) = split_scheme(url)?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        Self::from_authority(scheme, &rest[..end])
    }

    /// The origin a request was addressed to: `https` or `http` and the value of its `Host`
    /// header (`host[:port]`).
    pub fn from_host(secure: bool, host: &str) -> Result<Self, OriginError> {
        if host.len() > MAX_INPUT_BYTES {
            return Err(OriginError::TooLong);
        }
        Self::from_authority(if secure { Scheme::Https } else { Scheme::Http }, host)
    }

    /// The serialised origin, e.g. `https://app.example.com`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for `https` origins.
    pub fn is_https(&self) -> bool {
        self.0.starts_with("https://")
    }

    /// The host part without the port: a name, an IPv4 address or a bracketed IPv6 address.
    pub fn host(&self) -> &str {
        let rest = self.0.split_once("://").map_or("", |(_, r)| r);
        if rest.starts_with('[') {
            return rest.find(']').map_or(rest, |end| &rest[..=end]);
        }
        rest.split_once(':').map_or(rest, |(h, _)| h)
    }

    fn from_authority(scheme: Scheme, authority: &str) -> Result<Self, OriginError> {
        if authority.contains('@') {
            return Err(OriginError::UserInfo);
        }
        let (host, port) = split_port(authority)?;
        let host = normalise_host(host)?;
        let mut out = String::with_capacity(scheme.as_str().len() + 3 + host.len() + 6);
        out.push_str(scheme.as_str());
        out.push_str("://");
        out.push_str(&host);
        if let Some(port) = port.filter(|p| *p != scheme.default_port()) {
            out.push(':');
            out.push_str(&port.to_string());
        }
        Ok(Self(out))
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Origin {
    type Err = OriginError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[derive(Clone, Copy)]
enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
}

fn split_scheme(text: &str) -> Result<(Scheme, &str), OriginError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(OriginError::TooLong);
    }
    let (scheme, rest) = text.split_once("://").ok_or(OriginError::Scheme)?;
    let scheme = if scheme.eq_ignore_ascii_case("https") {
        Scheme::Https
    } else if scheme.eq_ignore_ascii_case("http") {
        Scheme::Http
    } else {
        return Err(OriginError::Scheme);
    };
    Ok((scheme, rest))
}

/// Splits `host[:port]` (the host possibly a bracketed IPv6 address).
fn split_port(authority: &str) -> Result<(&str, Option<u16>), OriginError> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']').ok_or(OriginError::Host)?;
        let (host, after) = authority.split_at(end + 1);
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':').ok_or(OriginError::Host)?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => None,
        // Digits only: `u16::from_str` would also take a leading `+`.
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
            match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(OriginError::Port),
                Ok(n) => Some(n),
            }
        }
        Some(_) => return Err(OriginError::Port),
    };
    Ok((host, port))
}

fn normalise_host(host: &str) -> Result<String, OriginError> {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let addr: Ipv6Addr = inner.parse().map_err(|_| OriginError::Host)?;
        return Ok(format!("[{addr}]"));
    }
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !host.starts_with(['.', '-'])
        && !host.contains("..");
    if !valid {
        return Err(OriginError::Host);
    }
    Ok(host.to_ascii_lowercase())
}

#[cfg(test)]
mod tests;
