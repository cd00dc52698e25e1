-- Each event's projector bucket (docs/architecture.md §3, proto/partitions.py), so a read
-- of one partition (GET /v1/log?partition=k&of=N) filters on a stored column.
--
-- The bucket is derived from the stream, never chosen by a client and never part of the
-- canonical bytes: the hash chain is unchanged, and an auditor recomputes it from the
-- stream if they care to.

-- FNV-1a (32 bit) of the learner id's UTF-8 bytes, modulo 256: proto.partitions.learner_bucket.
-- bigint arithmetic: h < 2^32 and the prime < 2^25, so every product fits.
CREATE FUNCTION ledger.learner_bucket(learner_id text) RETURNS smallint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    bytes bytea := convert_to(learner_id, 'UTF8');
    h bigint := 2166136261;
BEGIN
    FOR i IN 0 .. length(bytes) - 1 LOOP
        h := ((h # get_byte(bytes, i)) * 16777619) % 4294967296;
    END LOOP;
    RETURN (h % 256)::smallint;
END;
$$;

-- A stream's bucket: its learner's, NULL for every other stream (proto.partitions.stream_bucket).
CREATE FUNCTION ledger.stream_bucket(stream text) RETURNS smallint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN starts_with(stream, 'learner-')
                THEN ledger.learner_bucket(substr(stream, 9)) END
$$;

-- Added as a generated column, which backfills every row (the append-only triggers fire on
-- UPDATE / DELETE / TRUNCATE, not on ALTER TABLE), then made a plain column: the ledger
-- computes the bucket at append (services/ledger/append.py, with proto.partitions) and
-- inserts it, since evaluating this function per row cost about a fifth of the raw
-- INSERT / COPY throughput (4 to 6 us a row) where the insert of a precomputed value costs
-- about 2 %. tests/integration/test_bucket.py holds the two functions equal.
ALTER TABLE ledger.events
    ADD COLUMN bucket smallint GENERATED ALWAYS AS (ledger.stream_bucket(stream)) STORED;
ALTER TABLE ledger.events ALTER COLUMN bucket DROP EXPRESSION;
