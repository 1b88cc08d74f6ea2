-- One sequence of changes, which the revocation feed and every replica's
-- in-memory state follow. A transaction that changes the state of tokens,
-- users or signing keys takes the next number from change_counter, stamps
-- the rows it changed with it, and notifies the channel tokend_changes with
-- it. The counter's row lock is held until the transaction ends, so numbers
-- are taken in commit order: once a number is visible, so is every change
-- with a smaller one, and a reader that has seen every change up to N
-- misses nothing by asking next for those after N.
CREATE TABLE change_counter (
    id   integer PRIMARY KEY CHECK (id = 1),
    seq  bigint  NOT NULL
);
INSERT INTO change_counter (id, seq) VALUES (1, 1);

-- change_seq is the number of a row's latest change; 0 means never changed
-- since it was created. Rows changed before this migration count as changed
-- once, at 1.
ALTER TABLE api_tokens ADD COLUMN change_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN change_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE signing_keys ADD COLUMN change_seq bigint NOT NULL DEFAULT 0;
UPDATE api_tokens SET change_seq = 1 WHERE updated_at > created_at;
UPDATE users SET change_seq = 1 WHERE updated_at > created_at;
UPDATE signing_keys SET change_seq = 1;

-- claim_expiration is the token's exp claim, its expiration when issued:
-- verifiers keep a shortened token's state until then. Tokens shortened
-- before this migration have lost it; their current expiration stands in.
ALTER TABLE api_tokens ADD COLUMN claim_expiration timestamptz;
UPDATE api_tokens SET claim_expiration = expiration;
ALTER TABLE api_tokens ALTER COLUMN claim_expiration SET NOT NULL;

DROP INDEX api_tokens_updated;
DROP INDEX users_updated;
CREATE INDEX api_tokens_changes ON api_tokens (change_seq, id) WHERE change_seq > 0;
CREATE INDEX users_changes ON users (change_seq, id) WHERE change_seq > 0;
