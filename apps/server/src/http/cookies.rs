//! The one reader of the cookies that authenticate a request (the session cookie and the cookie
//! of a login waiting for its second factor): authentication, the login's session-fixation
//! defence and the CSRF middleware all ask it, so none of them can see a cookie another misses.
//!
//! It matches names **exactly, byte for byte, as sent**. actix's own cookie jar
//! (`HttpRequest::cookie`) percent-decodes names and values, so `%5F_Host-session=…` or
//! `__Host-sessio%6E=…` would read as `__Host-session`: a cookie any sibling subdomain or
//! plain-HTTP man in the middle may set, since the browser only enforces the `__Host-` rules
//! on the literal name. Here such a spelling is simply another cookie, and absent for our
//! purposes. The workspace's `clippy.toml` refuses actix's cookie readers elsewhere.
//!
//! Parsing follows RFC 6265 §5.4 as browsers send it: `name=value` pairs separated by `;`,
//! whitespace around them ignored, over every `Cookie` header of the request. A pair without
//! `=` names nothing. Values are returned as sent, without decoding.

use actix_web::http::header::{self, HeaderMap};

/// Name of the session cookie. The `__Host-` prefix makes browsers refuse it unless it is
/// `Secure`, has `Path=/` and no `Domain`: no subdomain can set or shadow it.
pub const SESSION_COOKIE: &str = "__Host-session";

/// Name of the cookie of a login waiting for its second factor. A separate cookie, never the
/// session cookie: no extractor but [`crate::auth::MfaChallengeCookie`] reads it, so it cannot
/// authenticate any other route.
pub const MFA_COOKIE: &str = "__Host-mfa";

/// Name of the cookie that binds the forms of the pages used without a session (sign-up,
/// sign-in and its second-factor step, the mailed-link and "forgot password" forms) to the
/// browser that loaded them: a random value whose MAC is the forms' `csrf_token`
/// (`crate::auth::PublicForm`). SameSite=Strict, an hour long.
pub const FORM_COOKIE: &str = "__Host-form";

/// Name of the cookie that carries a flash message across a redirect: the name of one of the
/// server's own messages (`routes::pages::Flash`), never text, read and deleted by the next
/// page.
pub const FLASH_COOKIE: &str = "__Host-flash";

/// What the request's `Cookie` headers hold under one exact name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawCookie<'a> {
    /// No cookie of that name.
    Absent,
    /// Exactly one, with this value (empty when it is not UTF-8, which no token of ours is).
    One(&'a str),
    /// Several: ambiguous, so none of them is used. A browser never sends two `__Host-`
    /// cookies of one name for one origin (the prefix fixes their path and host).
    Repeated,
}

impl<'a> RawCookie<'a> {
    /// The value when there is exactly one cookie of the name.
    pub fn value(self) -> Option<&'a str> {
        match self {
            Self::One(value) => Some(value),
            Self::Absent | Self::Repeated => None,
        }
    }

    /// Whether the request carries the cookie at all (once or more).
    pub fn is_present(self) -> bool {
        self != Self::Absent
    }
}

/// The cookie named exactly `name` in `headers`.
pub fn find<'a>(headers: &'a HeaderMap, name: &str) -> RawCookie<'a> {
    let mut found = RawCookie::Absent;
    for (pair_name, value) in pairs(headers) {
        if pair_name != name.as_bytes() {
            continue;
        }
        if found.is_present() {
            return RawCookie::Repeated;
        }
        found = RawCookie::One(std::str::from_utf8(value).unwrap_or(""));
    }
    found
}

/// Every `name=value` pair of every `Cookie` header, both sides trimmed.
fn pairs(headers: &HeaderMap) -> impl Iterator<Item = (&[u8], &[u8])> {
    headers.get_all(header::COOKIE).flat_map(|value| {
        value.as_bytes().split(|b| *b == b';').filter_map(|pair| {
            let at = pair.iter().position(|b| *b == b'=')?;
            let (name, value) = pair.split_at(at);
            Some((name.trim_ascii(), value.get(1..).unwrap_or_default().trim_ascii()))
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use actix_web::http::header::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(header::COOKIE, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn names_match_exactly_as_sent() {
        let h = headers(&["theme=dark; __Host-session=abc ;x=1"]);
        assert_eq!(find(&h, "__Host-session"), RawCookie::One("abc"));
        assert_eq!(find(&h, "theme"), RawCookie::One("dark"));
        for encoded in [
            "%5F_Host-session=abc",
            "__Host-sessio%6E=abc",
            "%5f%5fHost-session=abc",
            "__host-session=abc",
            "__Host-session2=abc",
            "x__Host-session=abc",
            "__Host-session",
        ] {
            assert_eq!(
                find(&headers(&[encoded]), "__Host-session"),
                RawCookie::Absent,
                "{encoded}"
            );
        }
    }

    #[test]
    fn values_are_not_decoded_and_may_contain_equals_signs() {
        let h = headers(&["__Host-session=a%62c==; other="]);
        assert_eq!(find(&h, "__Host-session").value(), Some("a%62c=="));
        assert_eq!(find(&h, "other").value(), Some(""));
    }

    #[test]
    fn every_cookie_header_counts_and_a_repeated_name_is_no_value() {
        let h = headers(&["a=1", "__Host-session=abc"]);
        assert_eq!(find(&h, "__Host-session").value(), Some("abc"));
        let h = headers(&["__Host-session=abc", "__Host-session=def"]);
        assert_eq!(find(&h, "__Host-session"), RawCookie::Repeated);
        assert!(find(&h, "__Host-session").is_present());
        assert_eq!(find(&h, "__Host-session").value(), None);
        assert!(!find(&HeaderMap::new(), "__Host-session").is_present());
    }
}
