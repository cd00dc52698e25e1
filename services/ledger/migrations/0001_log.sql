-- The log: one row per event, append-only, hash-chained (DESIGN §3).
CREATE SCHEMA IF NOT EXISTS ledger;

CREATE TABLE ledger.events (
    -- Gap-free and commit-ordered: assigned as last + 1 while the append lock is held
    -- (see append.sql), never by a sequence, whose values can commit out of order.
    position        bigint      PRIMARY KEY CHECK (position >= 1),
    -- The client's idempotency key.
    event_id        uuid        NOT NULL UNIQUE,
    stream          text        NOT NULL,
    stream_version  bigint      NOT NULL CHECK (stream_version >= 1),
    type            text        NOT NULL,
    schema_version  integer     NOT NULL,
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    recorded_at     timestamptz NOT NULL,
    -- SHA-256(previous hash || canonical bytes of this event); genesis is 32 zero bytes.
    hash            bytea       NOT NULL CHECK (octet_length(hash) = 32),
    -- Optimistic concurrency: two writers can never both take version n of a stream.
    UNIQUE (stream, stream_version)
);

CREATE INDEX events_recorded_at ON ledger.events (recorded_at);

-- Append-only, enforced here rather than trusted to the application: corrections are
-- new events (revocations), never edits.
CREATE FUNCTION ledger.refuse_log_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger.events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER events_refuse_update_delete
    BEFORE UPDATE OR DELETE ON ledger.events
    FOR EACH ROW EXECUTE FUNCTION ledger.refuse_log_change();

CREATE TRIGGER events_refuse_truncate
    BEFORE TRUNCATE ON ledger.events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_log_change();
