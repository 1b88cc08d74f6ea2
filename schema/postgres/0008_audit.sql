-- The audit log (SPEC §7): one row per change or aggregate of refused
-- authentications, appended in the transaction of its change. seq numbers
-- the events 1, 2, 3, … in commit order: it is taken under the lock of
-- audit_chain's one row, which the appending transaction holds until it
-- commits, so a reader that follows seq > its cursor never misses an
-- event. Each event carries its predecessor's hash (prev_hash) and its own
-- (hash, over every column: internal/audit.Event.Sum), so that
-- `tokend audit verify` detects a row changed, deleted or reordered.
CREATE TABLE audit_events (
    seq            bigint PRIMARY KEY,
    id             text NOT NULL UNIQUE,
    occurred_at    timestamptz NOT NULL,
    action         text NOT NULL,
    actor_user_id  text,
    actor_token_id text,
    target_type    text NOT NULL,
    target_id      text NOT NULL,
    user_id        text,
    source_ip      text,
    user_agent     text,
    -- JSON object {"attr":{"old":…,"new":…}}, as hashed; never a secret.
    changes        text,
    prev_hash      bytea NOT NULL,
    hash           bytea NOT NULL
);

-- The lists' filters, each in list order (seq); since and until, and
-- the retention's pruning, by time.
CREATE INDEX audit_events_user ON audit_events (user_id, seq) WHERE user_id IS NOT NULL;
CREATE INDEX audit_events_target ON audit_events (target_id, seq);
CREATE INDEX audit_events_actor ON audit_events (actor_user_id, seq) WHERE actor_user_id IS NOT NULL;
CREATE INDEX audit_events_action ON audit_events (action, seq);
CREATE INDEX audit_events_occurred ON audit_events (occurred_at);

-- The chain's head: the latest event's seq and hash, and where the chain
-- starts once retention pruned its old end (start_seq, the first event
-- kept, and start_prev_hash, the hash that event follows). Every append
-- locks this row until it commits.
CREATE TABLE audit_chain (
    id              integer PRIMARY KEY CHECK (id = 1),
    head_seq        bigint NOT NULL,
    head_hash       bytea NOT NULL,
    start_seq       bigint NOT NULL,
    start_prev_hash bytea NOT NULL
);
INSERT INTO audit_chain (id, head_seq, head_hash, start_seq, start_prev_hash)
VALUES (1, 0, decode(repeat('00', 32), 'hex'), 1, decode(repeat('00', 32), 'hex'));
