-- A user's live tokens (neither revoked nor expired) are counted at every
-- creation, against TOKEND_MAX_TOKENS_PER_USER: this index holds only the
-- tokens not revoked, by user and expiration, so the count reads the live
-- ones and nothing of a user's revoked history.
CREATE INDEX api_tokens_user_live ON api_tokens (user_id, expiration) WHERE revoked_at IS NULL;
