-- Partitions (proto/partitions.py): learners are split across N projector partitions by
-- their bucket; each partition has its own checkpoint and leader lock, over one read
-- model keyed by learner.

-- A checkpoint per partition of a layout (N partitions). Its position is a watermark:
-- every event of the partition (its learners' and every catalog event) at or before it
-- is applied. A read model built before partitions is one partition of one (an empty one
-- is no layout yet).
CREATE TABLE projector.checkpoints (
    partitions  smallint NOT NULL CHECK (partitions BETWEEN 1 AND 256),
    partition   smallint NOT NULL CHECK (partition >= 0 AND partition < partitions),
    position    bigint   NOT NULL CHECK (position >= 0),
    PRIMARY KEY (partitions, partition)
);
INSERT INTO projector.checkpoints (partitions, partition, position)
    SELECT 1, 0, position FROM projector.checkpoint WHERE position > 0;
DROP TABLE projector.checkpoint;

-- The bucket of a learner, as proto.partitions.learner_bucket computes it (FNV-1a 32 of
-- the id's UTF-8 bytes, mod 256); tests/integration hold the two to the same answers.
-- The projector computes buckets in Python when it writes; this fills the rows written
-- before partitions.
CREATE FUNCTION projector.learner_bucket(learner text) RETURNS smallint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    bytes bytea := convert_to(learner, 'UTF8');
    hash  bigint := 2166136261;
BEGIN
    FOR i IN 0 .. length(bytes) - 1 LOOP
        hash := ((hash # get_byte(bytes, i)) * 16777619) % 4294967296;
    END LOOP;
    RETURN (hash % 256)::smallint;
END;
$$;

-- The bucket beside every learner row, so a partition's rows are found without hashing;
-- and each stream's version, so a partition, whose positions are not contiguous, sees a
-- lost message as a gap in its stream's versions (NULL: written before this migration).
ALTER TABLE projector.events ADD COLUMN bucket smallint, ADD COLUMN stream_version bigint;
UPDATE projector.events SET bucket = projector.learner_bucket(learner_id)
    WHERE learner_id IS NOT NULL;
ALTER TABLE projector.events ADD CONSTRAINT events_bucket_of_learners
    CHECK ((learner_id IS NULL) = (bucket IS NULL));
-- A learner's events are looked up with its bucket, and a partition's learners are read
-- back bucket by bucket, learner by learner (the rebuild), from this one index.
CREATE INDEX events_bucket_learner ON projector.events (bucket, learner_id, position)
    WHERE learner_id IS NOT NULL;
DROP INDEX projector.events_learner;

ALTER TABLE projector.credit_banks ADD COLUMN bucket smallint, ADD COLUMN stream_version bigint;
UPDATE projector.credit_banks SET bucket = projector.learner_bucket(learner_id);
ALTER TABLE projector.credit_banks ALTER COLUMN bucket SET NOT NULL;

ALTER TABLE projector.progress ADD COLUMN bucket smallint;
UPDATE projector.progress SET bucket = projector.learner_bucket(learner_id);
ALTER TABLE projector.progress ALTER COLUMN bucket SET NOT NULL;

GRANT SELECT, INSERT, UPDATE, DELETE ON projector.checkpoints TO credit_ledger_projector;
