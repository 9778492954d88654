-- Account lifecycle (docs/auth.md, "Account lifecycle"): verified addresses, the one-time
-- tokens that mail carries, and the outbox that delivers that mail. Same schema on SQLite and
-- PostgreSQL: text ids, BIGINT Unix seconds.

-- When the current address was proved to reach the account's owner; NULL until then. Existing
-- accounts start unverified.
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;

-- One-time tokens sent by mail: e-mail verification, the confirmation of a new address, and
-- password reset. Only the SHA-256 of a token is stored (hex), so a copy of the database
-- yields no usable link. `email` is the address the token proves (the new one for a change).
CREATE TABLE account_tokens (
    token_hash TEXT   NOT NULL PRIMARY KEY,
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT   NOT NULL,
    email      TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX account_tokens_user_purpose ON account_tokens (user_id, purpose);
CREATE INDEX account_tokens_expires_at ON account_tokens (expires_at);

-- Mail waiting to be sent, written in the same transaction as the change or token it reports.
-- `payload` is the message's content, sealed with the MFA key ring when one is configured
-- (always in production): it may carry a one-time link. A worker on every replica claims due
-- rows for `claimed_until`, sends them, and deletes each sent row; a failed send is retried
-- with back-off (`next_attempt_at`) until `failed_at` marks it given up.
CREATE TABLE mail_outbox (
    id              TEXT   NOT NULL PRIMARY KEY,
    payload         TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claim           TEXT,
    claimed_until   BIGINT,
    last_error      TEXT,
    failed_at       BIGINT
);
CREATE INDEX mail_outbox_next_attempt_at ON mail_outbox (next_attempt_at);
CREATE INDEX mail_outbox_failed_at ON mail_outbox (failed_at);
