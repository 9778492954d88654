//! TLS files: what the deploy rules read from the configured certificate (expiry, RSA key
//! size), and the self-signed development certificate `server dev-cert` writes.
//!
//! Nothing here does cryptography by hand: certificates are parsed by `x509-parser` and
//! generated and signed by `rcgen` (on `ring`).

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::atomic;

/// Names the development certificate is valid for.
pub const DEV_CERT_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];
/// Folder `server dev-cert` writes to by default, relative to the working directory.
pub const DEV_CERT_DIR: &str = "var/tls";
/// How long a development certificate is valid: long enough not to get in the way, short
/// enough that a copy that strays into production is caught by the expiry rules.
pub const DEV_CERT_VALIDITY_DAYS: u64 = 90;
/// Mode of the private key file `server dev-cert` writes.
pub const TLS_KEY_FILE_MODE: u32 = sec_audit::owner_only::FILE_MODE;

/// A certificate could not be read or understood.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// No PEM `CERTIFICATE` block, or one that is not a valid X.509 certificate.
    #[error("{path} holds no valid PEM certificate")]
    Invalid {
        /// The file.
        path: PathBuf,
    },
}

/// What the deploy rules need to know about the leaf certificate of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFacts {
    not_after: SystemTime,
    rsa_bits: Option<usize>,
}

impl CertificateFacts {
    /// Reads the first certificate of the PEM file at `path`: the leaf of the chain, the one
    /// clients check.
    pub fn read(path: &Path) -> Result<Self, CertificateError> {
        let pem = std::fs::read(path)
            .map_err(|source| CertificateError::Read { path: path.to_path_buf(), source })?;
        Self::from_pem(&pem).ok_or_else(|| CertificateError::Invalid { path: path.to_path_buf() })
    }

    fn from_pem(pem: &[u8]) -> Option<Self> {
        let block = x509_parser::pem::Pem::iter_from_buffer(pem)
            .filter_map(Result::ok)
            .find(|p| p.label == "CERTIFICATE")?;
        let (_, cert) = X509Certificate::from_der(&block.contents).ok()?;
        let not_after = cert.validity().not_after.timestamp();
        let not_after = u64::try_from(not_after)
            .map_or(UNIX_EPOCH, |secs| UNIX_EPOCH + Duration::from_secs(secs));
        let rsa_bits = match cert.public_key().parsed() {
            Ok(PublicKey::RSA(rsa)) => Some(bit_length(rsa.modulus)),
            _ => None,
        };
        Some(Self { not_after, rsa_bits })
    }

    /// End of the validity period.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// Size of the RSA modulus in bits, for an RSA key; `None` for other key types.
    pub fn rsa_bits(&self) -> Option<usize> {
        self.rsa_bits
    }

    /// Time left before expiry at `now`; `None` when already expired.
    pub fn remaining(&self, now: SystemTime) -> Option<Duration> {
        self.not_after.duration_since(now).ok()
    }
}

/// Bits in a big-endian unsigned integer (DER integers may carry a leading zero byte).
fn bit_length(bytes: &[u8]) -> usize {
    let significant: &[u8] = match bytes.iter().position(|b| *b != 0) {
        Some(i) => &bytes[i..],
        None => return 0,
    };
    let leading = significant.first().map_or(0, |b| b.leading_zeros() as usize);
    significant.len() * 8 - leading
}

/// `server dev-cert` could not write the certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevCertError {
    /// A file is already there and `--force` was not given.
    #[error("{0} already exists; pass --force to replace the certificate and key")]
    Exists(PathBuf),
    /// Generating the key or certificate failed.
    #[error("cannot generate the certificate: {0}")]
    Generate(String),
    /// Writing failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// The files `server dev-cert` wrote.
#[derive(Debug, Clone)]
pub struct DevCertificate {
    cert_file: PathBuf,
    key_file: PathBuf,
    not_after: SystemTime,
}

impl DevCertificate {
    /// Creates a self-signed certificate for [`DEV_CERT_NAMES`] with a new ECDSA P-256 key,
    /// valid for [`DEV_CERT_VALIDITY_DAYS`], in `dir` (created owner-only): `cert.pem` and
    /// `key.pem` (mode 0600). Each file is written atomically. Existing files are kept and
    /// reported unless `replace` is set.
    pub fn create(dir: &Path, replace: bool) -> Result<Self, DevCertError> {
        let cert_file = dir.join("cert.pem");
        let key_file = dir.join("key.pem");
        if !replace {
            for path in [&key_file, &cert_file] {
                if path.exists() {
                    return Err(DevCertError::Exists(path.clone()));
                }
            }
        }
        let names: Vec<String> = DEV_CERT_NAMES.iter().map(|n| (*n).to_owned()).collect();
        let mut params = rcgen::CertificateParams::new(names)
            .map_err(|e| DevCertError::Generate(e.to_string()))?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::CommonName, "localhost (server dev-cert)");
        // What strict validators check of a server certificate (RFC 5280 4.2.1): not a CA
        // (basicConstraints CA:false, critical; rcgen then adds the subject key identifier),
        // a key that signs (digitalSignature: an ECDSA key cannot do keyEncipherment, which is
        // RSA key transport), for TLS server authentication only, and the issuer's key
        // identifier, here its own.
        params.is_ca = rcgen::IsCa::ExplicitNoCa;
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = time::OffsetDateTime::now_utc();
        // A day of slack for clocks that run behind.
        params.not_before = now - time::Duration::days(1);
        let validity = i64::try_from(DEV_CERT_VALIDITY_DAYS).unwrap_or(90);
        params.not_after = now + time::Duration::days(validity);
        let key = rcgen::KeyPair::generate().map_err(|e| DevCertError::Generate(e.to_string()))?;
        let cert = params.self_signed(&key).map_err(|e| DevCertError::Generate(e.to_string()))?;

        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| DevCertError::Write { path, source }
        };
        sec_audit::owner_only::create_dir_all(dir).map_err(write_err(dir))?;
        let write = |path: &Path, contents: &[u8], mode: u32| {
            if replace {
                atomic::replace(path, contents, mode)
            } else {
                atomic::create_new(path, contents, mode)
            }
            .map_err(write_err(path))
        };
        // The key first: a certificate without its key is useless, the reverse is harmless.
        write(&key_file, key.serialize_pem().as_bytes(), TLS_KEY_FILE_MODE)?;
        write(&cert_file, cert.pem().as_bytes(), 0o644)?;
        let not_after = UNIX_EPOCH
            + Duration::from_secs(u64::try_from(params.not_after.unix_timestamp()).unwrap_or(0));
        Ok(Self { cert_file, key_file, not_after })
    }

    /// The certificate (PEM).
    pub fn cert_file(&self) -> &Path {
        &self.cert_file
    }

    /// The private key (PEM, PKCS#8, mode 0600).
    pub fn key_file(&self) -> &Path {
        &self.key_file
    }

    /// When the certificate expires.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }
}

/// The permission bits of a file, where the platform has them (`None` when it does not, or the
/// file cannot be read).
pub(crate) fn file_mode(path: &Path) -> Option<u32> {
    atomic::mode_of(path).ok().flatten()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "a failed unwrap is a failed test")]

    use super::*;

    #[test]
    fn bit_length_ignores_leading_zero_bytes() {
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&[0, 0]), 0);
        assert_eq!(bit_length(&[0x01]), 1);
        assert_eq!(bit_length(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(bit_length(&[0x00, 0xff, 0xff]), 16);
    }

    #[test]
    fn a_dev_certificate_is_written_privately_read_back_and_not_overwritten_by_default() {
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("var/tls");
        let made = DevCertificate::create(&tls, false).unwrap();
        #[cfg(unix)]
        {
            assert_eq!(file_mode(made.key_file()), Some(0o600));
            assert_eq!(file_mode(&tls), Some(0o700));
        }
        let facts = CertificateFacts::read(made.cert_file()).unwrap();
        assert_eq!(facts.rsa_bits(), None, "ECDSA key");
        let left = facts.remaining(SystemTime::now()).unwrap();
        assert!(
            left > Duration::from_secs(89 * 86_400) && left <= Duration::from_secs(90 * 86_400)
        );

        let before = std::fs::read(made.key_file()).unwrap();
        let err = DevCertificate::create(&tls, false).unwrap_err();
        assert!(matches!(err, DevCertError::Exists(_)), "{err}");
        assert_eq!(std::fs::read(made.key_file()).unwrap(), before, "key untouched");

        DevCertificate::create(&tls, true).unwrap();
        assert_ne!(std::fs::read(made.key_file()).unwrap(), before, "replaced with --force");
        #[cfg(unix)]
        assert_eq!(file_mode(made.key_file()), Some(0o600));
    }

    /// The written certificate, DER.
    fn dev_cert_der(dir: &Path) -> Vec<u8> {
        let made = DevCertificate::create(&dir.join("tls"), false).unwrap();
        let pem = std::fs::read(made.cert_file()).unwrap();
        let block = x509_parser::pem::Pem::iter_from_buffer(&pem).next().unwrap().unwrap();
        block.contents
    }

    /// Strict validators want a server certificate to say what it is: not a CA, a signing key
    /// for TLS server authentication, with key identifiers (RFC 5280 4.2.1).
    #[test]
    fn the_dev_certificate_carries_the_extensions_strict_validators_check() {
        use x509_parser::extensions::{GeneralName, ParsedExtension};
        let dir = tempfile::tempdir().unwrap();
        let der = dev_cert_der(dir.path());
        let (_, cert) = X509Certificate::from_der(&der).unwrap();

        let bc = cert.basic_constraints().unwrap().expect("basicConstraints");
        assert!(bc.critical, "basicConstraints is critical");
        assert!(!bc.value.ca, "CA:false");
        let ku = cert.key_usage().unwrap().expect("keyUsage");
        assert!(ku.critical, "keyUsage is critical");
        assert!(ku.value.digital_signature(), "ECDSA signs the handshake");
        // An ECDSA key cannot encipher keys: keyEncipherment is for RSA key transport only.
        assert!(!ku.value.key_encipherment() && !ku.value.key_cert_sign());
        let eku = cert.extended_key_usage().unwrap().expect("extendedKeyUsage");
        assert!(eku.value.server_auth, "serverAuth");
        assert!(!eku.value.any && !eku.value.client_auth, "server authentication only");

        let mut ski = None;
        let mut aki = None;
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(id) => ski = Some(id.0.to_vec()),
                ParsedExtension::AuthorityKeyIdentifier(id) => {
                    aki = id.key_identifier.as_ref().map(|k| k.0.to_vec());
                }
                _ => {}
            }
        }
        let ski = ski.expect("subjectKeyIdentifier");
        assert!(!ski.is_empty());
        assert_eq!(aki.expect("authorityKeyIdentifier"), ski, "self-signed: issuer key = own key");

        let san = cert.subject_alternative_name().unwrap().expect("subjectAltName");
        let names: Vec<String> = san
            .value
            .general_names
            .iter()
            .map(|n| match n {
                GeneralName::DNSName(d) => (*d).to_owned(),
                GeneralName::IPAddress(ip) => format!("{ip:?}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(names.len(), DEV_CERT_NAMES.len(), "{names:?}");
        assert_eq!(names[0], "localhost");
    }

    /// webpki (rustls's verifier) with the certificate as its own trust anchor, as a developer
    /// who trusts it has it, and the strict form of the usage check: serverAuth *required*,
    /// where rustls's default only refuses a certificate that lists other usages.
    #[test]
    fn a_strict_verifier_trusting_the_dev_certificate_accepts_it_for_localhost() {
        use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
        use webpki::{EndEntityCert, KeyUsage, anchor_from_trusted_cert};
        const EKU_SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];

        let dir = tempfile::tempdir().unwrap();
        let der = CertificateDer::from(dev_cert_der(dir.path()));
        let anchor = anchor_from_trusted_cert(&der).unwrap();
        let ee = EndEntityCert::try_from(&der).unwrap();
        let now = UnixTime::now();
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &[anchor],
            &[],
            now,
            KeyUsage::required(EKU_SERVER_AUTH),
            None,
            None,
        )
        .unwrap();
        for name in DEV_CERT_NAMES {
            let name = ServerName::try_from(*name).unwrap();
            ee.verify_is_valid_for_subject_name(&name).unwrap();
        }
        let other = ServerName::try_from("example.com").unwrap();
        assert!(ee.verify_is_valid_for_subject_name(&other).is_err(), "only its own names");
    }

    #[test]
    fn a_file_that_is_not_a_certificate_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cert.pem");
        for junk in
            [&b""[..], b"hello", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]
        {
            std::fs::write(&path, junk).unwrap();
            assert!(matches!(CertificateFacts::read(&path), Err(CertificateError::Invalid { .. })));
        }
        assert!(matches!(
            CertificateFacts::read(&dir.path().join("missing.pem")),
            Err(CertificateError::Read { .. })
        ));
    }
}
