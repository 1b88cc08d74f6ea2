-- The SQLite twin of postgres/0008_audit.sql: the audit log and the head
-- of its chain of hashes. SQLite has one writer at a time, so seq follows
-- commit order here too.
CREATE TABLE audit_events (
    seq            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    occurred_at    DATETIME NOT NULL,
    action         TEXT NOT NULL,
    actor_user_id  TEXT,
    actor_token_id TEXT,
    target_type    TEXT NOT NULL,
    target_id      TEXT NOT NULL,
    user_id        TEXT,
    source_ip      TEXT,
    user_agent     TEXT,
    changes        TEXT,
    prev_hash      BLOB NOT NULL,
    hash           BLOB NOT NULL
);

CREATE INDEX audit_events_user ON audit_events (user_id, seq) WHERE user_id IS NOT NULL;
CREATE INDEX audit_events_target ON audit_events (target_id, seq);
CREATE INDEX audit_events_actor ON audit_events (actor_user_id, seq) WHERE actor_user_id IS NOT NULL;
CREATE INDEX audit_events_action ON audit_events (action, seq);
CREATE INDEX audit_events_occurred ON audit_events (occurred_at);

CREATE TABLE audit_chain (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    head_seq        INTEGER NOT NULL,
    head_hash       BLOB NOT NULL,
    start_seq       INTEGER NOT NULL,
    start_prev_hash BLOB NOT NULL
);
INSERT INTO audit_chain (id, head_seq, head_hash, start_seq, start_prev_hash)
VALUES (1, 0, zeroblob(32), 1, zeroblob(32));
