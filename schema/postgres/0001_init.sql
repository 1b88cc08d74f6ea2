-- Users own API tokens. scopes is the space-separated list the user's tokens
-- may carry; NULL means the catalog's default for the role.
CREATE TABLE users (
    id          uuid        PRIMARY KEY,
    email       text        NOT NULL,
    role        text        NOT NULL CHECK (role IN ('admin', 'member')),
    scopes      text,
    service     boolean     NOT NULL DEFAULT false,
    disabled    boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);

-- Ed25519 signing keys. id is the PASERK k2.pid of the public key; the
-- private key is sealed with AES-256-GCM under a key derived from
-- TOKEND_SECRET. At most one key is active: it signs new tokens. Retiring
-- keys still verify until retire_at; retired keys verify nothing.
CREATE TABLE signing_keys (
    id           text        PRIMARY KEY,
    public_key   bytea       NOT NULL,
    sealed_key   bytea       NOT NULL,
    status       text        NOT NULL CHECK (status IN ('active', 'retiring', 'retired')),
    created_at   timestamptz NOT NULL,
    rotated_at   timestamptz,
    retire_at    timestamptz,
    retired_at   timestamptz
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (status) WHERE status = 'active';

-- API token metadata. The token string is never stored: token_hash is its
-- SHA-256 digest. expiration starts as the token's exp claim and can only
-- move earlier. resources is JSON.
CREATE TABLE api_tokens (
    id            uuid        PRIMARY KEY,
    user_id       uuid        NOT NULL REFERENCES users (id),
    description   text        NOT NULL,
    scope         text        NOT NULL,
    expiration    timestamptz NOT NULL,
    source_ip     text,
    resources     text,
    enabled       boolean     NOT NULL DEFAULT true,
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    last_used_ip  text,
    key_id        text        NOT NULL REFERENCES signing_keys (id),
    token_hash    bytea       NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX api_tokens_user_created ON api_tokens (user_id, created_at, id);
CREATE INDEX api_tokens_created ON api_tokens (created_at, id);
