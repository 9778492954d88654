//! Diesel's description of the tables; kept identical for both backends (see `migrations/`).

diesel::table! {
    /// Accounts.
    users (id) {
        /// Random UUID, as text.
        id -> Text,
        /// The name as the user typed it (after normalisation).
        username -> Text,
        /// The case-folded form that uniqueness is checked on.
        username_canonical -> Text,
        /// The address as given (domain lower-cased).
        email -> Text,
        /// The lower-cased form that uniqueness is checked on.
        email_canonical -> Text,
        /// PHC string of the password hash.
        password_hash -> Text,
        /// Unix seconds.
        created_at -> BigInt,
        /// Unix seconds.
        updated_at -> BigInt,
        /// A disabled account cannot log in.
        disabled -> Bool,
        /// Bumped on every role change.
        privilege_epoch -> BigInt,
        /// When the current address was verified (Unix seconds); NULL until then.
        email_verified_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Named sets of permissions.
    roles (name) {
        /// Role name.
        name -> Text,
        /// What it is for.
        description -> Text,
    }
}

diesel::table! {
    /// Which permissions each role holds.
    role_permissions (role, permission) {
        /// Role name.
        role -> Text,
        /// Permission name, e.g. `users:read`.
        permission -> Text,
    }
}

diesel::table! {
    /// Which roles each account holds.
    user_roles (user_id, role) {
        /// Account id.
        user_id -> Text,
        /// Role name.
        role -> Text,
        /// Unix seconds.
        granted_at -> BigInt,
    }
}

diesel::table! {
    /// Server-side sessions.
    sessions (id) {
        /// Random UUID, as text.
        id -> Text,
        /// Account id.
        user_id -> Text,
        /// Hex SHA-256 of the token.
        token_hash -> Text,
        /// Unix seconds.
        created_at -> BigInt,
        /// Unix seconds, written at most once a minute.
        last_seen_at -> BigInt,
        /// Unix seconds of the last password (or second-factor) proof.
        authenticated_at -> BigInt,
        /// Assurance level: 1 password only, 2 with a second factor.
        aal -> BigInt,
        /// Unix seconds of the last second-factor proof in this session, if any.
        second_factor_at -> Nullable<BigInt>,
        /// The account's privilege epoch when the token was issued.
        privilege_epoch -> BigInt,
        /// Client address at login.
        ip -> Nullable<Text>,
        /// `User-Agent` at login.
        user_agent -> Nullable<Text>,
    }
}

diesel::table! {
    /// Login failure counters.
    login_throttle (subject, ip) {
        /// `user:<id>` or `name:<identifier>`.
        subject -> Text,
        /// Client address, or empty for the account-wide counter.
        ip -> Text,
        /// Consecutive failures.
        failures -> BigInt,
        /// Unix seconds.
        last_failure_at -> BigInt,
        /// Unix seconds of the last success from this address.
        last_success_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// Active TOTP factors.
    mfa_totp (user_id) {
        /// Account id.
        user_id -> Text,
        /// The secret, sealed with the MFA key ring (a Fernet token).
        secret_sealed -> Text,
        /// The last accepted time step.
        last_step -> BigInt,
        /// Unix seconds.
        enabled_at -> BigInt,
    }
}

diesel::table! {
    /// TOTP enrollments waiting for their confirming code.
    mfa_totp_pending (user_id) {
        /// Account id.
        user_id -> Text,
        /// The secret, sealed.
        secret_sealed -> Text,
        /// Unix seconds.
        created_at -> BigInt,
        /// Unix seconds.
        expires_at -> BigInt,
    }
}

diesel::table! {
    /// Unused recovery codes.
    mfa_recovery_codes (user_id, code_hash) {
        /// Account id.
        user_id -> Text,
        /// Hex SHA-256 of the code.
        code_hash -> Text,
        /// Unix seconds.
        created_at -> BigInt,
    }
}

diesel::table! {
    /// Logins waiting for their second factor.
    mfa_challenges (id) {
        /// Random UUID, as text.
        id -> Text,
        /// Account id.
        user_id -> Text,
        /// Hex SHA-256 of the pending step's token.
        token_hash -> Text,
        /// Unix seconds.
        created_at -> BigInt,
        /// Unix seconds.
        expires_at -> BigInt,
    }
}

diesel::table! {
    /// The head of each audit trail, recorded outside the audit files.
    audit_heads (trail) {
        /// `host:folder`: the host name and the audit folder's absolute path.
        trail -> Text,
        /// Sequence number of the last line written.
        seq -> BigInt,
        /// Its hash (lowercase hex).
        hash -> Text,
        /// Unix seconds.
        updated_at -> BigInt,
    }
}

diesel::table! {
    /// Notes, each owned by one account (the worked example resource).
    notes (id) {
        /// Random UUID, as text.
        id -> Text,
        /// The owning account's id; every query filters on it.
        owner_id -> Text,
        /// One line, 1 to 200 characters.
        title -> Text,
        /// Up to 10 000 characters, line breaks allowed.
        body -> Text,
        /// Unix seconds.
        created_at -> BigInt,
        /// Unix seconds.
        updated_at -> BigInt,
    }
}

diesel::table! {
    /// One-time tokens sent by mail (verification, address change, password reset).
    account_tokens (token_hash) {
        /// SHA-256 of the token, hex.
        token_hash -> Text,
        /// The account it acts on.
        user_id -> Text,
        /// `verify_email`, `change_email` or `reset_password`.
        purpose -> Text,
        /// The address the token proves (the new one for a change).
        email -> Nullable<Text>,
        /// Unix seconds.
        created_at -> BigInt,
        /// Unix seconds; the token is refused from then on.
        expires_at -> BigInt,
    }
}

diesel::table! {
    /// Mail waiting to be sent (the transactional outbox).
    mail_outbox (id) {
        /// Random UUID, as text; also the message's Message-ID.
        id -> Text,
        /// The message, sealed with the MFA key ring when one is configured.
        payload -> Text,
        /// Unix seconds.
        created_at -> BigInt,
        /// Sends tried so far.
        attempts -> BigInt,
        /// Unix seconds before which no worker tries it.
        next_attempt_at -> BigInt,
        /// The claim of the worker sending it.
        claim -> Nullable<Text>,
        /// Unix seconds until which the claim holds.
        claimed_until -> Nullable<BigInt>,
        /// Why the last attempt failed (no message content).
        last_error -> Nullable<Text>,
        /// Unix seconds when it was given up.
        failed_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(account_tokens -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(mfa_challenges -> users (user_id));
diesel::joinable!(user_roles -> users (user_id));
diesel::joinable!(user_roles -> roles (role));
diesel::joinable!(role_permissions -> roles (role));
diesel::joinable!(notes -> users (owner_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    roles,
    role_permissions,
    user_roles,
    sessions,
    login_throttle,
    mfa_totp,
    mfa_totp_pending,
    mfa_recovery_codes,
    mfa_challenges,
    audit_heads,
    notes,
    account_tokens,
    mail_outbox
);
