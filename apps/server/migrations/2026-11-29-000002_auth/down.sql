DROP TABLE login_throttle;
DROP TABLE sessions;
DROP TABLE user_roles;
DROP TABLE role_permissions;
DROP TABLE roles;
ALTER TABLE users DROP COLUMN privilege_epoch;
ALTER TABLE users DROP COLUMN disabled;
