-- The SQLite twin of postgres/0003_changes.sql: one sequence of changes.
-- SQLite has one writer at a time, so the numbers are taken in commit order
-- here too; replicas poll change_counter instead of listening.
CREATE TABLE change_counter (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL
);
INSERT INTO change_counter (id, seq) VALUES (1, 1);

ALTER TABLE api_tokens ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE signing_keys ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
UPDATE api_tokens SET change_seq = 1 WHERE updated_at > created_at;
UPDATE users SET change_seq = 1 WHERE updated_at > created_at;
UPDATE signing_keys SET change_seq = 1;

-- SQLite cannot add a NOT NULL column without a default; the store always
-- writes it.
ALTER TABLE api_tokens ADD COLUMN claim_expiration DATETIME;
UPDATE api_tokens SET claim_expiration = expiration;

DROP INDEX api_tokens_updated;
DROP INDEX users_updated;
CREATE INDEX api_tokens_changes ON api_tokens (change_seq, id) WHERE change_seq > 0;
CREATE INDEX users_changes ON users (change_seq, id) WHERE change_seq > 0;
