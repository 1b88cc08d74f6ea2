-- Retention (TOKEND_TOKEN_RETENTION) purges the tokens that stopped working
-- long ago, in small batches. A token stops working when it is revoked or
-- when it expires, whichever comes first: this index orders tokens by that
-- moment, the CASE below (revoked_at when it is the earlier, expiration
-- otherwise, a NULL revoked_at included), so that a batch reads only the
-- rows it deletes. claim_expiration follows, because a token is purged only
-- once its exp claim has passed too: the index alone answers both tests.
-- The purge's query spells the expression exactly so (store/retention.go).
CREATE INDEX api_tokens_stopped ON api_tokens
    ((CASE WHEN revoked_at < expiration THEN revoked_at ELSE expiration END), claim_expiration);
