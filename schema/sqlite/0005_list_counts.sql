-- Lists page by (created_at, id), with a cursor (keyset) or an offset. The
-- two list indexes also hold the columns the status filters read, so that
-- the rows a deep offset skips are read from the index alone.
DROP INDEX api_tokens_user_created;
DROP INDEX api_tokens_created;
CREATE INDEX api_tokens_user_created ON api_tokens (user_id, created_at, id, revoked_at, expiration, enabled);
CREATE INDEX api_tokens_created ON api_tokens (created_at, id, revoked_at, expiration, enabled);

-- A user's tokens not revoked, by expiration: counting the user's tokens
-- that expired today reads them. (Everyone's are read from
-- api_tokens_stopped, migration 0006.)
DROP INDEX api_tokens_user_live;
CREATE INDEX api_tokens_user_live ON api_tokens (user_id, expiration, enabled) WHERE revoked_at IS NULL;

-- token_counts holds how many tokens each user has, and everyone has
-- (owner ''), by class (0 revoked, 1 enabled, 2 disabled) and, for tokens
-- not revoked, by the day of their expiration (Unix days; 0 for revoked
-- ones): meta.pagination.total adds up a few of its rows instead of
-- counting tokens. A change to tokens appends its differences to
-- token_count_changes, in the change's transaction; tokend folds them into
-- token_counts in the background. A count reads both tables.
CREATE TABLE token_counts (
    owner  TEXT    NOT NULL,
    class  INTEGER NOT NULL,
    day    INTEGER NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (owner, class, day)
);
CREATE INDEX token_counts_zero ON token_counts (owner) WHERE n = 0;
CREATE TABLE token_count_changes (
    id      INTEGER PRIMARY KEY,
    user_id TEXT    NOT NULL,
    class   INTEGER NOT NULL,
    day     INTEGER NOT NULL,
    n       INTEGER NOT NULL
);
-- A user's changes are found by the index: a creation reads them to count
-- the user's live tokens.
CREATE INDEX token_count_changes_user ON token_count_changes (user_id);

WITH per_user AS (
    SELECT user_id AS owner,
           CASE WHEN revoked_at IS NOT NULL THEN 0 WHEN enabled THEN 1 ELSE 2 END AS class,
           CASE WHEN revoked_at IS NOT NULL THEN 0 ELSE CAST(strftime('%s', expiration) AS INTEGER) / 86400 END AS day,
           count(*) AS n
    FROM api_tokens
    GROUP BY 1, 2, 3
)
INSERT INTO token_counts (owner, class, day, n)
SELECT owner, class, day, n FROM per_user
UNION ALL
SELECT '', class, day, sum(n) FROM per_user GROUP BY class, day;
