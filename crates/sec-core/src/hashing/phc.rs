//! Reading and writing Argon2 PHC strings, as the reference implementation (`src/encoding.c`)
//! does, plus the PHC format's optional `keyid` and `data` parameters:
//!
//! ```text
//! $argon2{id,i,d}[$v=(16|19)]$m=<dec>,t=<dec>,p=<dec>[,keyid=<b64>][,data=<b64>]$<b64 salt>$<b64 tag>
//! ```
//!
//! `b64` is standard Base64 without padding, and only its canonical form is accepted (unused
//! trailing bits must be zero). Decimals have no sign and no leading zero. A missing `v=`
//! means version 0x10, as in the reference implementation.

use argon2::{Algorithm, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;

/// Longer strings are refused before parsing (a 64-byte salt and tag with every parameter fit
/// in well under half of this).
const MAX_PHC_LEN: usize = 512;
const SALT_LEN_RANGE: std::ops::RangeInclusive<usize> = 8..=64;
const TAG_LEN_RANGE: std::ops::RangeInclusive<usize> = 4..=64;
const KEYID_MAX_LEN: usize = 8;
const DATA_MAX_LEN: usize = 32;

/// A parsed PHC string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PhcHash {
    pub(crate) algorithm: Algorithm,
    pub(crate) version: Version,
    pub(crate) m_cost: u32,
    pub(crate) t_cost: u32,
    pub(crate) p_cost: u32,
    pub(crate) keyid: Option<Vec<u8>>,
    pub(crate) data: Option<Vec<u8>>,
    pub(crate) salt: Vec<u8>,
    pub(crate) hash: Vec<u8>,
}

/// Why a PHC string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PhcError {
    /// Not a well-formed string; the reason never quotes the input.
    Malformed(&'static str),
    /// Well-formed but names an algorithm or version that is not Argon2 0x10/0x13.
    Unsupported,
}

fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::Argon2d => "argon2d",
        Algorithm::Argon2i => "argon2i",
        Algorithm::Argon2id => "argon2id",
    }
}

fn version_number(version: Version) -> u32 {
    match version {
        Version::V0x10 => 0x10,
        Version::V0x13 => 0x13,
    }
}

/// Writes a PHC string.
pub(crate) fn encode(h: &PhcHash) -> String {
    let mut out = format!(
        "${}$v={}$m={},t={},p={}",
        algorithm_name(h.algorithm),
        version_number(h.version),
        h.m_cost,
        h.t_cost,
        h.p_cost
    );
    if let Some(keyid) = &h.keyid {
        out.push_str(",keyid=");
        STANDARD_NO_PAD.encode_string(keyid, &mut out);
    }
    if let Some(data) = &h.data {
        out.push_str(",data=");
        STANDARD_NO_PAD.encode_string(data, &mut out);
    }
    out.push('$');
    STANDARD_NO_PAD.encode_string(&h.salt, &mut out);
    out.push('$');
    STANDARD_NO_PAD.encode_string(&h.hash, &mut out);
    out
}

/// Parses a PHC string. Never panics, whatever the input.
pub(crate) fn parse(s: &str) -> Result<PhcHash, PhcError> {
    use PhcError::Malformed;

    if s.len() > MAX_PHC_LEN {
        return Err(Malformed("longer than any Argon2 hash"));
    }
    let rest = s.strip_prefix('$').ok_or(Malformed("does not start with $"))?;
    let mut fields = rest.split('$');
    let algorithm = match fields.next() {
        Some("argon2id") => Algorithm::Argon2id,
        Some("argon2i") => Algorithm::Argon2i,
        Some("argon2d") => Algorithm::Argon2d,
        _ => return Err(PhcError::Unsupported),
    };
    let mut field = fields.next().ok_or(Malformed("missing parameters"))?;
    let version = match field.strip_prefix("v=") {
        Some(v) => {
            field = fields.next().ok_or(Malformed("missing parameters"))?;
            match decimal(v).ok_or(Malformed("version is not a decimal number"))? {
                0x13 => Version::V0x13,
                0x10 => Version::V0x10,
                _ => return Err(PhcError::Unsupported),
            }
        }
        None => Version::V0x10,
    };

    let mut params = field.split(',');
    let m_cost = named_decimal(params.next(), "m=")?;
    let t_cost = named_decimal(params.next(), "t=")?;
    let p_cost = named_decimal(params.next(), "p=")?;
    let mut next = params.next();
    let keyid = match next.and_then(|p| p.strip_prefix("keyid=")) {
        Some(v) => {
            next = params.next();
            Some(b64(v, 1..=KEYID_MAX_LEN, "keyid is not 1 to 8 bytes of Base64")?)
        }
        None => None,
    };
    let data = match next.and_then(|p| p.strip_prefix("data=")) {
        Some(v) => {
            next = params.next();
            Some(b64(v, 1..=DATA_MAX_LEN, "data is not 1 to 32 bytes of Base64")?)
        }
        None => None,
    };
    if next.is_some() {
        return Err(Malformed("unknown or misplaced parameter"));
    }

    let salt = fields.next().ok_or(Malformed("missing salt"))?;
    let salt = b64(salt, SALT_LEN_RANGE, "salt is not 8 to 64 bytes of Base64")?;
    let hash = fields.next().ok_or(Malformed("missing hash"))?;
    let hash = b64(hash, TAG_LEN_RANGE, "hash is not 4 to 64 bytes of Base64")?;
    if fields.next().is_some() {
        return Err(Malformed("trailing fields"));
    }
    Ok(PhcHash { algorithm, version, m_cost, t_cost, p_cost, keyid, data, salt, hash })
}

fn named_decimal(field: Option<&str>, name: &'static str) -> Result<u32, PhcError> {
    let reason = match name {
        "m=" => "expected m=<memory cost>",
        "t=" => "expected t=<time cost>",
        _ => "expected p=<parallelism>",
    };
    field.and_then(|f| f.strip_prefix(name)).and_then(decimal).ok_or(PhcError::Malformed(reason))
}

/// A canonical unsigned decimal that fits in `u32`: digits only, no leading zero.
fn decimal(s: &str) -> Option<u32> {
    let canonical = !s.is_empty()
        && s.len() <= 10
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    if canonical { s.parse().ok() } else { None }
}

fn b64(
    s: &str,
    len: std::ops::RangeInclusive<usize>,
    reason: &'static str,
) -> Result<Vec<u8>, PhcError> {
    let bytes = STANDARD_NO_PAD.decode(s).map_err(|_| PhcError::Malformed(reason))?;
    if len.contains(&bytes.len()) { Ok(bytes) } else { Err(PhcError::Malformed(reason)) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails loudly on any error")]

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_reference_encoding_parses_and_re_encodes_identically() {
        let s = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
        let parsed = parse(s).unwrap();
        assert_eq!(parsed.algorithm, Algorithm::Argon2id);
        assert_eq!(parsed.version, Version::V0x13);
        assert_eq!((parsed.m_cost, parsed.t_cost, parsed.p_cost), (65536, 2, 1));
        assert_eq!(parsed.salt, b"somesalt");
        assert_eq!(encode(&parsed), s);
    }

    #[test]
    fn keyid_and_data_round_trip() {
        let h = PhcHash {
            algorithm: Algorithm::Argon2id,
            version: Version::V0x13,
            m_cost: 19456,
            t_cost: 2,
            p_cost: 1,
            keyid: Some(b"k1".to_vec()),
            data: Some(vec![4; 12]),
            salt: vec![2; 16],
            hash: vec![7; 32],
        };
        let s = encode(&h);
        assert!(s.starts_with("$argon2id$v=19$m=19456,t=2,p=1,keyid=azE,data=BAQEBAQEBAQEBAQE$"));
        assert_eq!(parse(&s).unwrap(), h);
    }

    #[test]
    fn a_missing_version_means_0x10() {
        let s = "$argon2i$m=256,t=2,p=1$c29tZXNhbHQ$iekCn0Y3spW+sCcFanM2xBT63UP2sghkUoHLIUpWRS8";
        assert_eq!(parse(s).unwrap().version, Version::V0x10);
    }

    #[test]
    fn non_canonical_forms_are_refused() {
        let good_tail = "$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
        for params in [
            "m=065536,t=2,p=1", // leading zero
            "m=+65536,t=2,p=1", // sign
            "t=2,m=65536,p=1",  // order
            "m=65536,t=2",      // missing p
            "m=65536,t=2,p=1,x=1",
            "m=65536,t=2,p=1,data=BAQE,keyid=azE", // misplaced keyid
            "m=99999999999,t=2,p=1",               // overflows u32
        ] {
            let s = format!("$argon2id$v=19${params}{good_tail}");
            assert!(matches!(parse(&s), Err(PhcError::Malformed(_))), "{params}");
        }
        // Padding, and non-zero trailing bits (`c29tZXNhbHR` decodes to the same bytes).
        for salt in ["c29tZXNhbHQ=", "c29tZXNhbHR", "c29t ZXNhbHQ", ""] {
            let s = format!(
                "$argon2id$v=19$m=65536,t=2,p=1${salt}$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
            );
            assert!(matches!(parse(&s), Err(PhcError::Malformed(_))), "{salt:?}");
        }
        assert_eq!(
            parse(
                "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E"
            ),
            Err(PhcError::Unsupported)
        );
        assert_eq!(
            parse(&format!("$argon2id$v=18$m=65536,t=2,p=1{good_tail}")),
            Err(PhcError::Unsupported)
        );
        assert!(parse(&format!("$argon2id$v=19$m=65536,t=2,p=1{good_tail}$extra")).is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = parse(&s);
        }

        #[test]
        fn parse_never_panics_on_phc_shaped_input(
            alg in "argon2(id|i|d|x)",
            v in "(v=(16|19|0|[0-9]{1,12})\\$)?",
            params in "[mtp]=[0-9]{0,11}(,[a-z]{1,5}=[A-Za-z0-9+/]{0,12}){0,5}",
            salt in "[A-Za-z0-9+/=]{0,90}",
            tag in "[A-Za-z0-9+/=]{0,90}",
        ) {
            let _ = parse(&format!("${alg}${v}{params}${salt}${tag}"));
        }

        #[test]
        fn encode_then_parse_is_the_identity(
            m in 8u32.., t in 1u32.., p in 1u32..=0xFF_FFFF,
            keyid in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..=8)),
            data in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..=32)),
            salt in proptest::collection::vec(any::<u8>(), 8..=64),
            hash in proptest::collection::vec(any::<u8>(), 4..=64),
            alg in prop_oneof![Just(Algorithm::Argon2id), Just(Algorithm::Argon2i), Just(Algorithm::Argon2d)],
            version in prop_oneof![Just(Version::V0x13), Just(Version::V0x10)],
        ) {
            let h = PhcHash { algorithm: alg, version, m_cost: m, t_cost: t, p_cost: p, keyid, data, salt, hash };
            prop_assert_eq!(parse(&encode(&h)), Ok(h));
        }
    }
}
