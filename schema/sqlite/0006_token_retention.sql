-- The SQLite twin of postgres/0006_token_retention.sql: tokens ordered by
-- the moment they stopped working, then by their exp claim, for the purge.
-- SQLite uses an index on an expression only for a query that spells the
-- expression the same way (store/retention.go).
CREATE INDEX api_tokens_stopped ON api_tokens
    ((CASE WHEN revoked_at < expiration THEN revoked_at ELSE expiration END), claim_expiration);
