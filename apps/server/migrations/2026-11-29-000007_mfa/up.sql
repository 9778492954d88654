-- Multi-factor authentication: TOTP factors (the secret sealed with the MFA key ring, never
-- in plaintext), pending enrollments, one-time recovery codes (SHA-256 only), pending
-- second-factor steps of logins (SHA-256 of their token only), and the assurance level of
-- each session. Same schema on SQLite and PostgreSQL: text ids, BIGINT Unix seconds.

-- 1 = password only, 2 = password and a second factor.
ALTER TABLE sessions ADD COLUMN aal BIGINT NOT NULL DEFAULT 1;

-- The active TOTP factor of an account. `last_step` is the last accepted time step: a code is
-- accepted only for a later step, by one conditional UPDATE, so a code works once.
CREATE TABLE mfa_totp (
    user_id       TEXT   NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed TEXT   NOT NULL,
    last_step     BIGINT NOT NULL,
    enabled_at    BIGINT NOT NULL
);

-- A secret handed out for enrollment, waiting for its confirming code; it replaces the active
-- factor only when confirmed.
CREATE TABLE mfa_totp_pending (
    user_id       TEXT   NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);

-- Unused recovery codes; a used one is deleted.
CREATE TABLE mfa_recovery_codes (
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);

-- Logins whose password was right and that wait for the second factor.
CREATE TABLE mfa_challenges (
    id         TEXT   NOT NULL PRIMARY KEY,
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT   NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX mfa_challenges_user_id ON mfa_challenges (user_id);
