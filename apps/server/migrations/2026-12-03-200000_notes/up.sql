-- Notes: the worked example of a resource owned by a user (README, "Forking it"). Portable
-- SQL per docs/database.md: a text UUID id, BIGINT Unix-second times, and the owner as a
-- foreign key that deletes a user's notes with the account.
CREATE TABLE notes (
    id         TEXT   NOT NULL PRIMARY KEY,
    owner_id   TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title      TEXT   NOT NULL,
    body       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Every query is scoped to one owner, and the list is ordered by creation: this index serves
-- both (and the cascade from users).
CREATE INDEX notes_owner_created ON notes (owner_id, created_at);
