-- The SQLite twin of postgres/0007_token_lifecycle.sql: rotation links and
-- the pending first-use retirement, leak reports, and the recent clients
-- (lines of time, address and user agent), with the partial indexes of
-- leaked tokens.
ALTER TABLE api_tokens ADD COLUMN rotated_from TEXT;
ALTER TABLE api_tokens ADD COLUMN rotated_to TEXT;
ALTER TABLE api_tokens ADD COLUMN retire_previous_on_use BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE api_tokens ADD COLUMN leaked_at DATETIME;
ALTER TABLE api_tokens ADD COLUMN leak_url TEXT;
ALTER TABLE api_tokens ADD COLUMN leak_source TEXT;
ALTER TABLE api_tokens ADD COLUMN recent_clients TEXT;
CREATE INDEX api_tokens_user_leaked ON api_tokens (user_id, created_at, id) WHERE leaked_at IS NOT NULL;
CREATE INDEX api_tokens_leaked ON api_tokens (created_at, id) WHERE leaked_at IS NOT NULL;
