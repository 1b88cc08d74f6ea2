-- Indexes for the revocation feed (GET /revocations), which reads tokens
-- and users changed since a point in time.
CREATE INDEX api_tokens_updated ON api_tokens (updated_at, id);
CREATE INDEX users_updated ON users (updated_at, id);
