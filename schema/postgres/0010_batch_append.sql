-- tokend_expect raises SQLSTATE TK001 with the message what unless ok is
-- true. A batch of creations written in one round trip stores its tokens
-- and appends their events on conditions (every token fits under its
-- user's cap, the chain's head is where the batch expects it) and calls it
-- in the statements that write, so that the transaction fails instead of
-- committing tokens without their events (internal/store/createpipeline.go).
CREATE FUNCTION tokend_expect(ok boolean, what text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = 'TK001', MESSAGE = what;
    END IF;
    RETURN true;
END
$$;
