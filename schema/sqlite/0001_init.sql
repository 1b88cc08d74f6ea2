-- The SQLite twin of postgres/0001_init.sql: the same tables, columns and
-- constraints in SQLite's types. See that file for what each table holds.
CREATE TABLE users (
    id          TEXT     PRIMARY KEY,
    email       TEXT     NOT NULL,
    role        TEXT     NOT NULL CHECK (role IN ('admin', 'member')),
    scopes      TEXT,
    service     BOOLEAN  NOT NULL DEFAULT false,
    disabled    BOOLEAN  NOT NULL DEFAULT false,
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE signing_keys (
    id          TEXT     PRIMARY KEY,
    public_key  BLOB     NOT NULL,
    sealed_key  BLOB     NOT NULL,
    status      TEXT     NOT NULL CHECK (status IN ('active', 'retiring', 'retired')),
    created_at  DATETIME NOT NULL,
    rotated_at  DATETIME,
    retire_at   DATETIME,
    retired_at  DATETIME
);
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (status) WHERE status = 'active';

CREATE TABLE api_tokens (
    id            TEXT     PRIMARY KEY,
    user_id       TEXT     NOT NULL REFERENCES users (id),
    description   TEXT     NOT NULL,
    scope         TEXT     NOT NULL,
    expiration    DATETIME NOT NULL,
    source_ip     TEXT,
    resources     TEXT,
    enabled       BOOLEAN  NOT NULL DEFAULT true,
    revoked_at    DATETIME,
    last_used_at  DATETIME,
    last_used_ip  TEXT,
    key_id        TEXT     NOT NULL REFERENCES signing_keys (id),
    token_hash    BLOB     NOT NULL,
    created_at    DATETIME NOT NULL,
    updated_at    DATETIME NOT NULL
);
CREATE INDEX api_tokens_user_created ON api_tokens (user_id, created_at, id);
CREATE INDEX api_tokens_created ON api_tokens (created_at, id);
