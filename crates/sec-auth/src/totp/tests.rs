#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failed unwrap is a failed test")]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::ExposeSecret;

use super::*;

fn totp() -> Totp {
    Totp::new(TotpParams::default()).unwrap()
}

#[test]
fn generated_secrets_are_160_bits_and_never_print() {
    let a = TotpSecret::generate().unwrap();
    let b = TotpSecret::generate().unwrap();
    assert_eq!(a.expose().len(), TOTP_SECRET_BYTES);
    assert_ne!(a.expose(), b.expose());
    assert_eq!(a.to_base32().expose_secret().len(), 32);
    let shown = format!("{a:?}");
    assert!(!shown.contains(a.to_base32().expose_secret()), "{shown}");
}

#[test]
fn the_window_is_one_step_either_side_and_no_more() {
    let t = totp();
    let secret = TotpSecret::generate().unwrap();
    let now = 1_700_000_015;
    let step = t.step_at(now);
    for offset in -3_i64..=3 {
        let code = t.code_at(&secret, now + offset * 30).unwrap();
        let steps = t.matching_steps(&secret, code.expose_secret(), now).unwrap();
        if offset.abs() <= 1 {
            assert!(steps.contains(&(step + offset)), "offset {offset}: {steps:?}");
        } else {
            // A code from two steps away matches nothing (barring a 1-in-10^6 collision with
            // a neighbour, which would still name the neighbour's step, not this one).
            assert!(!steps.contains(&(step + offset)), "offset {offset}: {steps:?}");
            assert!(steps.iter().all(|s| (s - step).abs() <= 1), "{steps:?}");
        }
    }
}

#[test]
fn malformed_codes_match_nothing_and_never_panic() {
    let t = totp();
    let secret = TotpSecret::generate().unwrap();
    let code = t.code_at(&secret, 1000).unwrap();
    let spaced = format!("{} {}", &code.expose_secret()[..3], &code.expose_secret()[3..]);
    assert!(!t.matching_steps(&secret, &spaced, 1000).unwrap().is_empty(), "spaces are ignored");
    for bad in ["", "12345", "1234567", "+12345", "12345a", "１２３４５６", "-12345", "\u{0}"]
    {
        assert!(t.matching_steps(&secret, bad, 1000).unwrap().is_empty(), "{bad:?}");
    }
    assert!(
        t.matching_steps(&secret, &code.expose_secret().repeat(1000), 1000).unwrap().is_empty()
    );
}

#[test]
fn clocks_at_the_extremes_do_not_overflow() {
    let t = totp();
    let secret = TotpSecret::generate().unwrap();
    assert!(t.matching_steps(&secret, "000000", i64::MIN).is_ok());
    assert!(t.matching_steps(&secret, "000000", i64::MAX).is_ok());
    assert_eq!(t.step_at(-5), 0);
}

#[test]
fn parameters_and_secrets_out_of_range_are_refused() {
    for params in [
        TotpParams { digits: 5, ..TotpParams::default() },
        TotpParams { digits: 9, ..TotpParams::default() },
        TotpParams { step_secs: 0, ..TotpParams::default() },
        TotpParams { skew_steps: 3, ..TotpParams::default() },
    ] {
        assert_eq!(Totp::new(params).unwrap_err(), TotpError::Params);
    }
    let short = TotpSecret::from_bytes(vec![7; 15]);
    assert_eq!(totp().matching_steps(&short, "123456", 0).unwrap_err(), TotpError::SecretTooShort);
}

#[test]
fn the_uri_states_every_parameter_and_encodes_names() {
    let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
    let uri = totp().otpauth_uri(&secret, "My Server", "ana:b&c?d");
    assert_eq!(
        uri.expose_secret(),
        "otpauth://totp/My%20Server:ana%3Ab%26c%3Fd?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
         &issuer=My%20Server&algorithm=SHA1&digits=6&period=30"
    );
}

fn decode_png_qr(data_uri: &str) -> String {
    let png = STANDARD.decode(data_uri.strip_prefix("data:image/png;base64,").unwrap()).unwrap();
    let img =
        image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
        img.width() as usize,
        img.height() as usize,
        |x, y| img.get_pixel(x as u32, y as u32).0[0],
    );
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1);
    grids[0].decode().unwrap().1
}

#[test]
fn the_png_qr_code_decodes_back_to_the_uri() {
    let secret = TotpSecret::generate().unwrap();
    let uri = totp().otpauth_uri(&secret, "server", "alice");
    let png = qr_png_data_uri(&uri).unwrap();
    assert_eq!(decode_png_qr(png.expose_secret()), uri.expose_secret());
}

#[test]
fn the_svg_qr_code_holds_only_modules() {
    let secret = TotpSecret::generate().unwrap();
    let uri = totp().otpauth_uri(&secret, "server", "alice");
    let svg = qr_svg_data_uri(&uri).unwrap();
    let body = svg.expose_secret().strip_prefix("data:image/svg+xml;base64,").unwrap();
    let text = String::from_utf8(STANDARD.decode(body).unwrap()).unwrap();
    assert!(text.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""), "{text}");
    assert!(!text.contains(secret.to_base32().expose_secret()));
}
