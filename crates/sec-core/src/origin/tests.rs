//! Origin parsing: the normal form, what is refused, and properties on arbitrary input.
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use proptest::prelude::*;

use super::*;

#[test]
fn parses_and_normalises_the_forms_browsers_and_operators_write() {
    for (input, want) in [
        ("https://app.example.com", "https://app.example.com"),
        ("https://App.Example.COM/", "https://app.example.com"),
        ("HTTPS://app.example.com:443", "https://app.example.com"),
        ("http://localhost:80", "http://localhost"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("http://[0:0:0:0:0:0:0:1]", "http://[::1]"),
        ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example"),
    ] {
        assert_eq!(Origin::parse(input).unwrap().as_str(), want, "{input}");
    }
}

#[test]
fn refuses_anything_that_is_not_exactly_an_origin() {
    for (input, want) in [
        ("null", OriginError::Scheme),
        ("app.example.com", OriginError::Scheme),
        ("ftp://example.com", OriginError::Scheme),
        ("javascript://example.com", OriginError::Scheme),
        ("https://example.com/path", OriginError::Path),
        ("https://example.com?q", OriginError::Path),
        ("https://example.com#f", OriginError::Path),
        ("https://user@example.com", OriginError::UserInfo),
        ("https://", OriginError::Host),
        ("https://exa mple.com", OriginError::Host),
        ("https://exa_mple.com", OriginError::Host),
        ("https://.example.com", OriginError::Host),
        ("https://a..b", OriginError::Host),
        ("https://bücher.example", OriginError::Host),
        ("https://[::1", OriginError::Host),
        ("https://[zz::1]", OriginError::Host),
        ("https://[::1]x", OriginError::Host),
        ("https://example.com:", OriginError::Port),
        ("https://example.com:0", OriginError::Port),
        ("https://example.com:65536", OriginError::Port),
        ("https://example.com:+80", OriginError::Port),
        ("https://example.com:8a", OriginError::Port),
        ("https://example.com\r\nx", OriginError::Host),
    ] {
        assert_eq!(Origin::parse(input), Err(want), "{input:?}");
    }
    assert_eq!(Origin::parse(&format!("https://{}", "a".repeat(600))), Err(OriginError::TooLong));
}

#[test]
fn the_origin_of_a_referer_url_drops_path_query_and_fragment() {
    let o = Origin::of_url("https://app.example.com:443/settings?tab=1#x").unwrap();
    assert_eq!(o.as_str(), "https://app.example.com");
    assert_eq!(Origin::of_url("http://h:81?x").unwrap().as_str(), "http://h:81");
    assert_eq!(Origin::of_url("https://u:p@example.com/"), Err(OriginError::UserInfo));
    assert_eq!(Origin::of_url("/relative/path"), Err(OriginError::Scheme));
}

#[test]
fn the_origin_of_a_host_header_takes_the_scheme_of_the_connection() {
    assert_eq!(
        Origin::from_host(true, "App.example.com").unwrap().as_str(),
        "https://app.example.com"
    );
    assert_eq!(
        Origin::from_host(false, "127.0.0.1:8080").unwrap().as_str(),
        "http://127.0.0.1:8080"
    );
    assert_eq!(Origin::from_host(true, "evil.com/x"), Err(OriginError::Host));
}

#[test]
fn host_and_scheme_accessors() {
    let o = Origin::parse("https://[::1]:8443").unwrap();
    assert_eq!(o.host(), "[::1]");
    assert!(o.is_https());
    let o = Origin::parse("http://localhost:8080").unwrap();
    assert_eq!(o.host(), "localhost");
    assert!(!o.is_https());
}

proptest! {
    #[test]
    fn parsing_never_panics_and_the_normal_form_is_a_fixed_point(s in "\\PC{0,80}") {
        if let Ok(o) = Origin::parse(&s) {
            prop_assert_eq!(Origin::parse(o.as_str()), Ok(o.clone()));
            prop_assert!(o.as_str().is_ascii());
        }
        let _ = Origin::of_url(&s);
        let _ = Origin::from_host(true, &s);
    }

    #[test]
    fn generated_origins_round_trip(
        https in any::<bool>(),
        host in "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\\.[a-z]{2,6}){0,2}",
        port in proptest::option::of(1u16..),
    ) {
        let scheme = if https { "https" } else { "http" };
        let text = match port {
            Some(p) => format!("{scheme}://{host}:{p}"),
            None => format!("{scheme}://{host}"),
        };
        let o = Origin::parse(&text).unwrap();
        prop_assert_eq!(o.host(), host.as_str());
        prop_assert_eq!(Origin::of_url(&format!("{text}/a?b#c")), Ok(o));
    }
}
