-- The issuer's own schema (DESIGN §2: no service reads another's tables).
CREATE SCHEMA IF NOT EXISTS issuer;

-- Why each eligibility message was acknowledged: the last decision taken on it.
CREATE TABLE issuer.award_decisions (
    message_id           text        PRIMARY KEY,
    learner_id           text        NOT NULL,
    qualification_code   text        NOT NULL,
    outcome              text        NOT NULL CHECK (outcome IN (
        'awarded', 'already_awarded', 'not_satisfied', 'no_rule_in_force', 'no_history'
    )),
    detail               text        NOT NULL,
    award_id             uuid,
    decided_at_position  bigint      NOT NULL CHECK (decided_at_position >= 0),
    deliveries           integer     NOT NULL CHECK (deliveries >= 1),
    decided_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX award_decisions_learner ON issuer.award_decisions (learner_id, qualification_code);

-- One credential per award, ever: the unique award_id makes a second signing (another
-- replica, a redelivery after a crash) lose the race instead of issuing twice.
CREATE TABLE issuer.credentials (
    credential_id          uuid        PRIMARY KEY,
    award_id               uuid        NOT NULL UNIQUE,
    learner_id             text        NOT NULL,
    learner_hash           text        NOT NULL,
    qualification_code     text        NOT NULL,
    qualification_version  integer     NOT NULL CHECK (qualification_version >= 1),
    award_generation       integer     NOT NULL CHECK (award_generation >= 0),
    award_position         bigint      NOT NULL CHECK (award_position >= 1),
    status_list_id         integer     NOT NULL CHECK (status_list_id >= 1),
    status_index           integer     NOT NULL CHECK (status_index >= 0),
    key_id                 text        NOT NULL,
    jwt                    text        NOT NULL,
    valid_from             timestamptz NOT NULL,
    issued_at              timestamptz NOT NULL DEFAULT now(),
    revoked_at             timestamptz,
    revocation_reason      text,
    -- Two credentials never share a status bit.
    UNIQUE (status_list_id, status_index),
    CHECK ((revoked_at IS NULL) = (revocation_reason IS NULL))
);
CREATE INDEX credentials_learner ON issuer.credentials (learner_id, issued_at);

-- Awards the ledger revoked, kept even before their credential exists, so a credential
-- signed after the revocation (out-of-order delivery) is born revoked.
CREATE TABLE issuer.revoked_awards (
    award_id    uuid        PRIMARY KEY,
    reason      text        NOT NULL,
    revoked_at  timestamptz NOT NULL,
    position    bigint      NOT NULL CHECK (position >= 1)
);

-- Global status indexes; list = index / 131072 + 1. A gap (a lost race) is a bit never set.
CREATE SEQUENCE issuer.status_index_seq AS bigint MINVALUE 0 START WITH 0;

-- W3C Bitstring Status Lists, 131072 bits (16 KB) each, index 0 the left-most bit.
CREATE TABLE issuer.status_lists (
    list_id     integer     PRIMARY KEY CHECK (list_id >= 1),
    purpose     text        NOT NULL CHECK (purpose = 'revocation'),
    bits        bytea       NOT NULL CHECK (octet_length(bits) = 16384),
    version     bigint      NOT NULL DEFAULT 1,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The outbox: messages committed with the change that caused them, published after.
CREATE TABLE issuer.outbox (
    id            bigserial   PRIMARY KEY,
    message_id    text        NOT NULL UNIQUE,
    subject       text        NOT NULL,
    payload       bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);
CREATE INDEX outbox_pending ON issuer.outbox (id) WHERE published_at IS NULL;

-- The issuer runs as its own role, which reaches only its own schema. Credentials and
-- revocations are never deleted (no DELETE or TRUNCATE is granted).
DO $$
BEGIN
    CREATE ROLE credit_ledger_issuer NOLOGIN;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END;
$$;
GRANT credit_ledger_issuer TO CURRENT_USER;
GRANT USAGE ON SCHEMA issuer TO credit_ledger_issuer;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA issuer TO credit_ledger_issuer;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA issuer TO credit_ledger_issuer;
