//! Unit tests of the rules: [`Auth`] over the in-memory store, a manual clock, a counting
//! hasher and a recording audit sink. Each test plays the attack (or the mistake) and checks
//! what its author would see; the API tests (`apps/server/tests/api`) cover the same rules
//! through HTTP and a real database.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a failed unwrap or expect is a failed test, with its message"
)]

mod lifecycle;
mod login;
mod mfa;
mod sessions;
mod step_up;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use sec_core::SecretString;

use super::{Auth, AuthConfig, LoginOutcome, Principal, Registration, RequestMeta};
use crate::account::UserRecord;
use crate::clock::ManualClock;
use crate::error::AuthError;
use crate::mfa::SecondFactor;
use crate::recovery::RecoveryCode;
use crate::store::AuthStore;
use crate::testing::{CountingHasher, HexSealer, MemoryStore, RecordingAudit};
use crate::token::SessionToken;
use crate::totp::{Totp, TotpSecret};

/// The password every test account gets.
const PASSWORD: &str = "correct horse battery staple";
/// A Unix second on a TOTP step boundary (a multiple of 30), so steps are easy to reason about.
const START: u64 = 1_800_000_000;

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// Requests from one address.
fn from(last_octet: u8) -> RequestMeta {
    RequestMeta {
        ip: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last_octet))),
        user_agent: Some("unit test".to_owned()),
        request_id: None,
    }
}

/// The address most tests use.
fn home() -> RequestMeta {
    from(1)
}

/// [`Auth`] with every part in reach of the test.
struct Harness {
    auth: Auth,
    store: Arc<MemoryStore>,
    clock: Arc<ManualClock>,
    audit: Arc<RecordingAudit>,
    hasher: Arc<CountingHasher>,
}

impl Harness {
    fn new() -> Self {
        Self::with_config(AuthConfig::default())
    }

    fn with_config(config: AuthConfig) -> Self {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(START)));
        let audit = Arc::new(RecordingAudit::default());
        let hasher = Arc::new(CountingHasher::new().unwrap());
        let auth = Auth::new(store.clone(), hasher.clone(), clock.clone(), audit.clone(), config)
            .with_sealer(Arc::new(HexSealer));
        Self { auth, store, clock, audit, hasher }
    }

    fn advance(&self, secs: u64) {
        self.clock.advance(Duration::from_secs(secs));
    }

    /// Registers `name` with [`PASSWORD`].
    fn register(&self, name: &str) -> UserRecord {
        let password = secret(PASSWORD);
        let email = format!("{name}@example.com");
        let input = Registration { username: name, email: &email, password: &password };
        match self.auth.register(&input, &home()).unwrap() {
            super::Registered::Created(user) => user,
            super::Registered::AddressInUse => panic!("{email} has an account"),
        }
    }

    /// Creates an administrator `name` with [`PASSWORD`].
    fn admin(&self, name: &str) -> UserRecord {
        let password = secret(PASSWORD);
        let email = format!("{name}@example.com");
        let input = Registration { username: name, email: &email, password: &password };
        self.auth.create_admin(&input).unwrap()
    }

    fn login(&self, name: &str, password: &str) -> Result<LoginOutcome, AuthError> {
        self.auth.login(name, &secret(password), None, &home())
    }

    /// Signs `name` in with the right password (no second factor) and returns the token.
    fn sign_in(&self, name: &str) -> SessionToken {
        match self.login(name, PASSWORD).unwrap() {
            LoginOutcome::Session(s) => s.token,
            LoginOutcome::MfaRequired(_) => panic!("{name} has a second factor"),
        }
    }

    fn principal(&self, token: &SessionToken) -> Principal {
        let authenticated = self.auth.authenticate(token.expose()).unwrap();
        assert!(authenticated.reissued.is_none(), "the token was replaced");
        authenticated.principal
    }

    fn is_dead(&self, token: &SessionToken) -> bool {
        matches!(self.auth.authenticate(token.expose()), Err(AuthError::Unauthenticated))
    }

    /// Enrolls TOTP from the session `token` (fresh, so no step-up is needed) and returns the
    /// session's new token, the recovery codes and the secret.
    fn enroll(&self, token: &SessionToken) -> (SessionToken, Vec<RecoveryCode>, TotpSecret) {
        let principal = self.principal(token);
        self.auth.begin_totp_enrollment(&principal).unwrap();
        let pending = self.store.pending_totp_of(principal.user.id).unwrap().unwrap();
        let secret = self.open(&principal, &pending.sealed_secret);
        let code = self.code(&secret, 0);
        let confirmed = self.auth.confirm_totp_enrollment(&principal, &code, &home()).unwrap();
        (confirmed.token, confirmed.recovery_codes, secret)
    }

    /// The secret inside a value [`HexSealer`] sealed (`totp1:<user id>:<secret>`).
    fn open(&self, principal: &Principal, sealed: &str) -> TotpSecret {
        let hex = sealed.strip_prefix("hex-sealed:").unwrap();
        let plaintext = hex::decode(hex).unwrap();
        let prefix = format!("totp1:{}:", principal.user.id);
        TotpSecret::from_bytes(plaintext.strip_prefix(prefix.as_bytes()).unwrap().to_vec())
    }

    /// The authenticator app's code `steps_from_now` time steps away from now.
    fn code(&self, secret: &TotpSecret, steps_from_now: i64) -> SecretString {
        let totp = Totp::new(self.auth.config().mfa.totp).unwrap();
        let step = i64::try_from(totp.params().step_secs).unwrap();
        totp.code_at(secret, self.auth.now() + steps_from_now * step).unwrap()
    }

    /// Signs in an account that has a second factor: the password, then `factor`.
    fn sign_in_with(&self, name: &str, factor: &SecondFactor) -> Result<SessionToken, AuthError> {
        let LoginOutcome::MfaRequired(pending) = self.login(name, PASSWORD).unwrap() else {
            panic!("{name} has no second factor");
        };
        let done = self.auth.complete_mfa_login(pending.token.expose(), factor, None, &home())?;
        Ok(done.token)
    }
}

fn totp(code: SecretString) -> SecondFactor {
    SecondFactor::Totp(code)
}

fn recovery(code: &RecoveryCode) -> SecondFactor {
    SecondFactor::RecoveryCode(code.display())
}
