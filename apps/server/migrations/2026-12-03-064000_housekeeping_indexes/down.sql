DROP INDEX mfa_totp_pending_expires_at;
DROP INDEX mfa_challenges_expires_at;
DROP INDEX login_throttle_last_failure_at;
DROP INDEX sessions_created_at;
DROP INDEX sessions_last_seen_at;
