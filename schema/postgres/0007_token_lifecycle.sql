-- Rotation (POST /users/:userId/api-tokens/:tokenId/rotate): a token
-- names the token it replaced (rotated_from) and the token that replaced
-- it (rotated_to); ids only, without a foreign key, since either may be
-- purged before the other. retire_previous_on_use marks a token whose
-- first successful use still has to retire the token it replaced; it is
-- cleared when it did.
ALTER TABLE api_tokens ADD COLUMN rotated_from uuid;
ALTER TABLE api_tokens ADD COLUMN rotated_to uuid;
ALTER TABLE api_tokens ADD COLUMN retire_previous_on_use boolean NOT NULL DEFAULT false;

-- Leaks reported by secret scanning (POST /secret-scanning/reports): when,
-- where and by what the token was found.
ALTER TABLE api_tokens ADD COLUMN leaked_at timestamptz;
ALTER TABLE api_tokens ADD COLUMN leak_url text;
ALTER TABLE api_tokens ADD COLUMN leak_source text;

-- The latest use from each of the token's last five client addresses,
-- newest first: a line each, of the time in Unix milliseconds, the address
-- and the user agent, separated by tabs (store/uses.go). Written with
-- last_used_at, in the batched flush of uses.
ALTER TABLE api_tokens ADD COLUMN recent_clients text;

-- Leaked tokens are few: filter[leaked]=true and its count read them from
-- these partial indexes, a user's and everyone's, in list order.
CREATE INDEX api_tokens_user_leaked ON api_tokens (user_id, created_at, id) WHERE leaked_at IS NOT NULL;
CREATE INDEX api_tokens_leaked ON api_tokens (created_at, id) WHERE leaked_at IS NOT NULL;
