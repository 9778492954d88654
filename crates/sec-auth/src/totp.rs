//! Time-based one-time passwords (RFC 6238) over `totp-rs`: secrets, codes, the window of
//! accepted time steps, and the `otpauth://` enrollment URI with its QR code.
//!
//! The cryptography (HMAC over the step counter, dynamic truncation, constant-time comparison
//! of codes) is `totp-rs`'s. This module decides what surrounds it:
//!
//! - **One code path.** [`Totp::matching_steps`] is what the server calls to check a code; the
//!   RFC 6238 vectors run through it too, with the algorithm and digit count of each vector.
//! - **Steps, not booleans.** A check returns *which* time steps a code matches, so the caller
//!   can accept a step at most once per account (RFC 6238 §5.2; the store keeps the last
//!   accepted step and only moves it forward).
//! - **Secrets are secrets.** [`TotpSecret`] holds its bytes in a `secrecy` box, has no
//!   `Debug` output, and comes only from the OS CSPRNG (160 bits, RFC 4226 R6) or from
//!   decrypting a stored one.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use qrcodegen_image::qrcodegen::{QrCode, QrCodeEcc};
use sec_core::{RandomnessError, fill_random};
use secrecy::{ExposeSecret, SecretSlice, SecretString};

/// Bytes of a new TOTP secret: 160 bits, the size RFC 4226 recommends (and HMAC-SHA-1's
/// output size).
pub const TOTP_SECRET_BYTES: usize = 20;

/// The HMAC function of a TOTP configuration. Authenticator apps universally support SHA-1
/// (and some silently use it whatever the URI says), so the server uses SHA-1; the others
/// exist for the RFC 6238 vectors and for forks with known clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpAlgorithm {
    /// HMAC-SHA-1 (the default; not weakened by SHA-1 collisions, RFC 4226 Appendix B.2).
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl TotpAlgorithm {
    /// The name in an `otpauth://` URI: `SHA1`, `SHA256` or `SHA512`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }

    fn engine(self) -> totp_rs::Algorithm {
        match self {
            Self::Sha1 => totp_rs::Algorithm::SHA1,
            Self::Sha256 => totp_rs::Algorithm::SHA256,
            Self::Sha512 => totp_rs::Algorithm::SHA512,
        }
    }
}

/// The numbers of a TOTP configuration. Default: SHA-1, 6 digits, 30-second steps, one step
/// of tolerance either side for clock drift (RFC 6238 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotpParams {
    /// The HMAC function.
    pub algorithm: TotpAlgorithm,
    /// Digits of a code (6 to 8).
    pub digits: u8,
    /// Seconds per time step.
    pub step_secs: u64,
    /// Steps accepted before and after the current one.
    pub skew_steps: u8,
}

impl Default for TotpParams {
    fn default() -> Self {
        Self { algorithm: TotpAlgorithm::Sha1, digits: 6, step_secs: 30, skew_steps: 1 }
    }
}

/// A TOTP configuration or secret was refused, or a QR code could not be drawn. No variant
/// carries a secret or a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TotpError {
    /// Digits outside 6–8, a zero step, or more than 2 steps of skew.
    #[error("TOTP parameters out of range (digits 6-8, step > 0, skew at most 2)")]
    Params,
    /// A secret shorter than 128 bits (RFC 4226 R6).
    #[error("the TOTP secret is shorter than 128 bits")]
    SecretTooShort,
    /// The QR code could not be drawn.
    #[error("the QR code could not be drawn")]
    Qr,
}

/// A shared TOTP secret. No `Debug` or `Display` of the bytes; wiped on drop.
pub struct TotpSecret(SecretSlice<u8>);

impl TotpSecret {
    /// A fresh 160-bit secret from the OS CSPRNG.
    ///
    /// # Errors
    /// [`RandomnessError`] if the OS generator fails; enrollment must fail rather than fall
    /// back.
    pub fn generate() -> Result<Self, RandomnessError> {
        let mut bytes = vec![0u8; TOTP_SECRET_BYTES];
        fill_random(&mut bytes)?;
        Ok(Self(SecretSlice::from(bytes)))
    }

    /// A secret from its raw bytes (as decrypted from storage, or a test vector's seed).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(SecretSlice::from(bytes))
    }

    /// The raw bytes. Never log them.
    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret()
    }

    /// RFC 4648 Base32 without padding: the form authenticator apps take.
    pub fn to_base32(&self) -> SecretString {
        SecretString::from(totp_rs::Secret::from(self.expose()).to_base32())
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([REDACTED])")
    }
}

/// The TOTP rules for one configuration.
#[derive(Debug, Clone, Copy)]
pub struct Totp {
    params: TotpParams,
}

impl Totp {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`TotpError::Params`] for digits outside 6–8, a zero step or a skew over 2 steps (more
    /// tolerance widens the window an observed code stays valid in, for no real clock).
    pub fn new(params: TotpParams) -> Result<Self, TotpError> {
        if !(6..=8).contains(&params.digits) || params.step_secs == 0 || params.skew_steps > 2 {
            return Err(TotpError::Params);
        }
        Ok(Self { params })
    }

    /// The parameters.
    pub fn params(&self) -> TotpParams {
        self.params
    }

    /// The time step that Unix second `unix_secs` falls in (a clock before 1970 reads as
    /// step 0).
    pub fn step_at(&self, unix_secs: i64) -> i64 {
        let secs = u64::try_from(unix_secs).unwrap_or(0);
        i64::try_from(secs / self.params.step_secs).unwrap_or(i64::MAX)
    }

    fn engine(&self, secret: &TotpSecret) -> Result<totp_rs::Totp, TotpError> {
        totp_rs::Builder::new()
            .with_algorithm(self.params.algorithm.engine())
            .with_digits(self.params.digits)
            // The window is walked here, step by step, so that the caller learns every step
            // the code matches rather than the first.
            .with_skew(0)
            .with_step_duration(self.params.step_secs)
            .with_secret(secret.expose().to_vec())
            .build()
            .map_err(|e| match e {
                totp_rs::TotpError::SecretTooShort { .. } => TotpError::SecretTooShort,
                _ => TotpError::Params,
            })
    }

    /// The code for the step that Unix second `unix_secs` falls in. The server never needs
    /// it (it only checks codes); authenticator-side tests and the vectors do.
    ///
    /// # Errors
    /// [`TotpError::SecretTooShort`].
    pub fn code_at(&self, secret: &TotpSecret, unix_secs: i64) -> Result<SecretString, TotpError> {
        let time = u64::try_from(unix_secs).unwrap_or(0);
        Ok(SecretString::from(self.engine(secret)?.generate(time).to_string()))
    }

    /// The time steps, in ascending order, within the accepted window around `unix_secs`
    /// (the current step and `skew_steps` either side) whose code equals `code`. Empty when
    /// none does, or when `code` is not a string of the configured number of digits (ASCII
    /// spaces are ignored, as people type `123 456`). Codes are compared in constant time.
    ///
    /// # Errors
    /// [`TotpError::SecretTooShort`].
    pub fn matching_steps(
        &self,
        secret: &TotpSecret,
        code: &str,
        unix_secs: i64,
    ) -> Result<Vec<i64>, TotpError> {
        let engine = self.engine(secret)?;
        let code: String = code.chars().filter(|c| *c != ' ').collect();
        let current = self.step_at(unix_secs);
        let skew = i64::from(self.params.skew_steps);
        let step_secs = i64::try_from(self.params.step_secs).unwrap_or(i64::MAX);
        let mut steps = Vec::new();
        for step in current.saturating_sub(skew).max(0)..=current.saturating_add(skew) {
            let Ok(time) = u64::try_from(step.saturating_mul(step_secs)) else { continue };
            if engine.check(&code, time).is_some() {
                steps.push(step);
            }
        }
        Ok(steps)
    }

    /// The `otpauth://totp/` URI authenticator apps scan: the label `issuer:account`, and
    /// `secret`, `issuer`, `algorithm`, `digits` and `period` stated explicitly (Key URI
    /// Format; apps that assume defaults read the same values). Issuer and account are
    /// percent-encoded. The URI holds the secret.
    pub fn otpauth_uri(&self, secret: &TotpSecret, issuer: &str, account: &str) -> SecretString {
        let issuer = percent_encode(issuer);
        let p = self.params;
        SecretString::from(format!(
            "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm={alg}\
             &digits={digits}&period={period}",
            account = percent_encode(account),
            secret = secret.to_base32().expose_secret(),
            alg = p.algorithm.as_str(),
            digits = p.digits,
            period = p.step_secs,
        ))
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so that a name with spaces,
/// `:`, `&`, `?`, `#` or non-ASCII letters cannot change the URI's structure.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `text` as a QR code in a PNG, as a `data:image/png;base64,` URI.
///
/// # Errors
/// [`TotpError::Qr`] if the text does not fit in a QR code or the PNG cannot be written.
pub fn qr_png_data_uri(text: &SecretString) -> Result<SecretString, TotpError> {
    let png = qrcodegen_image::draw_png(text.expose_secret()).map_err(|_| TotpError::Qr)?;
    Ok(SecretString::from(format!("data:image/png;base64,{}", STANDARD.encode(png))))
}

/// `text` as a QR code in an SVG document (black modules on white, a four-module quiet zone),
/// as a `data:image/svg+xml;base64,` URI. Nothing of `text` appears in the SVG but the
/// modules.
///
/// # Errors
/// [`TotpError::Qr`] if the text does not fit in a QR code.
pub fn qr_svg_data_uri(text: &SecretString) -> Result<SecretString, TotpError> {
    // Medium error correction, as the PNG renderer uses.
    let qr =
        QrCode::encode_text(text.expose_secret(), QrCodeEcc::Medium).map_err(|_| TotpError::Qr)?;
    let border = 4;
    let size = qr.size();
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    let dim = size + 2 * border;
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {dim} {dim}\" \
         shape-rendering=\"crispEdges\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\
         <path d=\"{path}\" fill=\"#000\"/></svg>"
    );
    Ok(SecretString::from(format!("data:image/svg+xml;base64,{}", STANDARD.encode(svg))))
}

#[cfg(test)]
mod tests;
