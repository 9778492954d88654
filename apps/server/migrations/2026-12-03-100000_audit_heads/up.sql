-- The head of each audit trail (docs/audit.md, "The head outside the files"): the last line's
-- sequence number and hash, so that a restart notices a folder that lost its newest lines or
-- was deleted or replaced. One row per trail, named by host name and audit folder; rows of
-- trails not written in a long time are removed by housekeeping.
CREATE TABLE audit_heads (
    trail      TEXT   NOT NULL PRIMARY KEY,
    seq        BIGINT NOT NULL,
    hash       TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX audit_heads_updated_at ON audit_heads (updated_at);
