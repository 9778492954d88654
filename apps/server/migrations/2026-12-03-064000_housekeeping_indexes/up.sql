-- Housekeeping deletes expired and stale rows in batches; these indexes let each batch find
-- its rows without scanning the table.
CREATE INDEX sessions_last_seen_at ON sessions (last_seen_at);
CREATE INDEX sessions_created_at ON sessions (created_at);
CREATE INDEX login_throttle_last_failure_at ON login_throttle (last_failure_at);
CREATE INDEX mfa_challenges_expires_at ON mfa_challenges (expires_at);
CREATE INDEX mfa_totp_pending_expires_at ON mfa_totp_pending (expires_at);
