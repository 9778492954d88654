-- Accounts, roles, sessions and login-throttle counters. Same schema on SQLite and
-- PostgreSQL: text ids, BIGINT Unix-second timestamps, no backend-only types.

-- A disabled account cannot log in; its sessions are deleted when it is disabled.
ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT FALSE;
-- Bumped on every role change: sessions issued under an older epoch get a new token.
ALTER TABLE users ADD COLUMN privilege_epoch BIGINT NOT NULL DEFAULT 0;

-- Roles are named sets of permissions; the permissions themselves are a closed list in the
-- code (sec_auth::Permission), stored here by name.
CREATE TABLE roles (
    name        TEXT NOT NULL PRIMARY KEY,
    description TEXT NOT NULL
);

CREATE TABLE role_permissions (
    role       TEXT NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (role, permission)
);

CREATE TABLE user_roles (
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT   NOT NULL REFERENCES roles (name) ON DELETE CASCADE,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, role)
);
CREATE INDEX user_roles_role ON user_roles (role);

-- Server-side sessions. Only the SHA-256 of the token is stored (hex).
CREATE TABLE sessions (
    id               TEXT   NOT NULL PRIMARY KEY,
    user_id          TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash       TEXT   NOT NULL UNIQUE,
    created_at       BIGINT NOT NULL,
    last_seen_at     BIGINT NOT NULL,
    authenticated_at BIGINT NOT NULL,
    privilege_epoch  BIGINT NOT NULL,
    ip               TEXT,
    user_agent       TEXT
);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- Login failure counters: one row per (subject, client address) and one per subject with
-- ip = '' (the account-wide counter). The subject is `user:<id>`, or `name:<identifier>` for
-- a name that matches no account.
CREATE TABLE login_throttle (
    subject         TEXT   NOT NULL,
    ip              TEXT   NOT NULL,
    failures        BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    last_success_at BIGINT,
    PRIMARY KEY (subject, ip)
);

INSERT INTO roles (name, description) VALUES
    ('user', 'Every account: its own profile, password and sessions'),
    ('admin', 'Administers accounts and roles, reads the audit trail');
INSERT INTO role_permissions (role, permission) VALUES
    ('admin', 'users:read'),
    ('admin', 'users:manage'),
    ('admin', 'roles:manage'),
    ('admin', 'audit:read');
