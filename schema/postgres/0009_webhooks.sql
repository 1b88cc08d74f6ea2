-- Webhooks (SPEC §7): endpoints that receive audit events. events is the
-- space-separated list of actions, or '*'. sealed_secret is the signing
-- secret sealed with AES-256-GCM under a key derived from TOKEND_SECRET,
-- bound to the webhook's id. failures counts the failed attempts since the
-- last success; at the configured limit the webhook is disabled.
CREATE TABLE webhooks (
    id            uuid        PRIMARY KEY,
    url           text        NOT NULL,
    events        text        NOT NULL,
    description   text        NOT NULL DEFAULT '',
    enabled       boolean     NOT NULL DEFAULT true,
    sealed_secret bytea       NOT NULL,
    failures      integer     NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX webhooks_created ON webhooks (created_at, id);

-- The fan-out's cursor: the seq of the last audit event turned into
-- deliveries. One row; the replica that fans out locks it.
CREATE TABLE webhook_cursor (
    id   integer PRIMARY KEY CHECK (id = 1),
    seq  bigint  NOT NULL
);
INSERT INTO webhook_cursor (id, seq) VALUES (1, 0);

-- The outbox: one delivery per event and webhook. payload is the body sent
-- at every attempt. A pending delivery is due at next_attempt_at; a
-- claimer holds it until locked_until (its lease), so that a claimer that
-- died gives it back. status: pending, succeeded, failed (retries spent).
CREATE TABLE webhook_deliveries (
    id              uuid        PRIMARY KEY,
    webhook_id      uuid        NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_seq       bigint      NOT NULL,
    event_id        text        NOT NULL,
    event_type      text        NOT NULL,
    payload         text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    locked_until    timestamptz,
    lease           uuid,
    created_at      timestamptz NOT NULL,
    UNIQUE (webhook_id, event_seq)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_list ON webhook_deliveries (webhook_id, event_seq DESC);
-- Finished deliveries are pruned by age (outbox.DeliveryRetention).
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (created_at) WHERE status <> 'pending';

-- Every attempt of a delivery: when, what the endpoint answered (or the
-- error that stopped it) and how long it took.
CREATE TABLE webhook_attempts (
    delivery_id  uuid        NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt      integer     NOT NULL,
    attempted_at timestamptz NOT NULL,
    status_code  integer,
    error        text,
    duration_ms  integer     NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

-- Expiry notices given (package expiry): one row per token and notice
-- window (in seconds), inserted with the apiToken.expiring event, so that a
-- notice is given once however many replicas look.
CREATE TABLE token_expiry_notices (
    token_id    uuid        NOT NULL,
    window_secs bigint      NOT NULL,
    noticed_at  timestamptz NOT NULL,
    PRIMARY KEY (token_id, window_secs)
);

-- The expiry notices read the live tokens by expiration.
CREATE INDEX api_tokens_live_expiration ON api_tokens (expiration) WHERE revoked_at IS NULL;
