-- tokend_expect raises SQLSTATE TK001 with the message what unless ok is
-- true. A batch of creations appends its events on a condition (the chain's
-- head where the batch expects it, every token of the batch stored) and
-- calls it in the same statement, so that the transaction fails instead of
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
