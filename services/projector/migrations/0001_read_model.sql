-- The projector's own schema (DESIGN §2: no service reads another's tables).
CREATE SCHEMA IF NOT EXISTS projector;

-- The last log position applied; committed in the same transaction as the change it
-- describes, so a crash never applies an event twice or loses one.
CREATE TABLE projector.checkpoint (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    position   bigint  NOT NULL CHECK (position >= 0)
);
INSERT INTO projector.checkpoint (singleton, position) VALUES (true, 0);

-- The projector's copy of the log, for as-of replays (one fold serves live and history).
CREATE TABLE projector.events (
    position     bigint      PRIMARY KEY,
    stream       text        NOT NULL,
    type         text        NOT NULL,
    data         jsonb       NOT NULL,
    recorded_at  timestamptz NOT NULL,
    learner_id   text
);
CREATE INDEX events_learner ON projector.events (learner_id, position) WHERE learner_id IS NOT NULL;
CREATE INDEX events_catalog ON projector.events (position) WHERE learner_id IS NULL;

-- The credit bank read model, one row per learner.
CREATE TABLE projector.credit_banks (
    learner_id  text        PRIMARY KEY,
    position    bigint      NOT NULL,
    summary     jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- Progress towards every qualification whose rule names something the learner holds.
CREATE TABLE projector.progress (
    learner_id          text    NOT NULL,
    qualification_code  text    NOT NULL,
    rule_version        integer NOT NULL,
    satisfied           boolean NOT NULL,
    position            bigint  NOT NULL,
    decision            jsonb   NOT NULL,
    PRIMARY KEY (learner_id, qualification_code)
);
CREATE INDEX progress_satisfied ON projector.progress (qualification_code, learner_id) WHERE satisfied;

-- Threshold events decided, one per (learner, qualification, rule version, award
-- generation). Kept across rebuilds, so a rebuild never publishes one a second time.
CREATE TABLE projector.thresholds (
    learner_id          text    NOT NULL,
    qualification_code  text    NOT NULL,
    rule_version        integer NOT NULL,
    award_generation    integer NOT NULL,
    position            bigint  NOT NULL,
    message_id          text    NOT NULL UNIQUE,
    PRIMARY KEY (learner_id, qualification_code, rule_version, award_generation)
);

-- The outbox: messages committed with the change that caused them, published after.
CREATE TABLE projector.outbox (
    id            bigserial   PRIMARY KEY,
    message_id    text        NOT NULL UNIQUE,
    subject       text        NOT NULL,
    payload       bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX outbox_pending ON projector.outbox (id) WHERE published_at IS NULL;

-- The projector runs as its own role, which can touch only its own schema.
DO $$
BEGIN
    CREATE ROLE credit_ledger_projector NOLOGIN;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END;
$$;
GRANT credit_ledger_projector TO CURRENT_USER;
GRANT USAGE ON SCHEMA projector TO credit_ledger_projector;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA projector TO credit_ledger_projector;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA projector TO credit_ledger_projector;
