ALTER TABLE sessions DROP COLUMN second_factor_at;
