-- When each session last proved a second factor (a login completed with it, a
-- re-authentication with a TOTP or recovery code, or the confirmation of an enrollment), Unix
-- seconds; NULL when it never did. Changes to an existing factor need this proof to be recent:
-- a password re-authentication moves `authenticated_at`, never this. Existing sessions start
-- without a proof, so the rule fails closed for them.
ALTER TABLE sessions ADD COLUMN second_factor_at BIGINT;
