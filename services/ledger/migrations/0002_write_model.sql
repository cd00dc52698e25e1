-- The ledger's write model: what it must know to refuse bad events. Maintained in the
-- same transaction as the append, so it is always exactly as current as the log.
CREATE TABLE ledger.institutions (
    institution_id      text     PRIMARY KEY,
    name                text     NOT NULL,
    kind                text     NOT NULL,
    accredited_sectors  text[]   NOT NULL,
    max_level_halves    smallint NOT NULL CHECK (max_level_halves BETWEEN 2 AND 16),
    accredited          boolean  NOT NULL
);

CREATE TABLE ledger.micro_credentials (
    code             text     PRIMARY KEY,
    version          integer  NOT NULL,
    title            text     NOT NULL,
    sector           text     NOT NULL,
    level_halves     smallint NOT NULL CHECK (level_halves BETWEEN 2 AND 16),
    notional_hours   integer  NOT NULL CHECK (notional_hours > 0),
    validity_years   smallint NOT NULL CHECK (validity_years BETWEEN 1 AND 7),
    definition       jsonb    NOT NULL
);

CREATE TABLE ledger.qualifications (
    code        text    PRIMARY KEY,
    version     integer NOT NULL,
    definition  jsonb   NOT NULL
);

-- Natural key: an assessment id is unique per institution.
CREATE TABLE ledger.assessments (
    institution_id  text    NOT NULL,
    assessment_id   text    NOT NULL,
    learner_id      text    NOT NULL,
    code            text    NOT NULL,
    assessed_on     date    NOT NULL,
    validity_years  smallint NOT NULL,
    revoked         boolean NOT NULL DEFAULT false,
    redeemed        boolean NOT NULL DEFAULT false,
    position        bigint  NOT NULL,
    PRIMARY KEY (institution_id, assessment_id)
);
CREATE INDEX assessments_learner ON ledger.assessments (learner_id);

CREATE TABLE ledger.credentials (
    institution_id  text    NOT NULL,
    credential_id   text    NOT NULL,
    assessment_id   text    NOT NULL,
    learner_id      text    NOT NULL,
    revoked         boolean NOT NULL DEFAULT false,
    PRIMARY KEY (institution_id, credential_id)
);

CREATE TABLE ledger.redemptions (
    institution_id  text NOT NULL,
    redemption_id   text NOT NULL,
    PRIMARY KEY (institution_id, redemption_id)
);

CREATE TABLE ledger.awards (
    award_id            text    PRIMARY KEY,
    learner_id          text    NOT NULL,
    qualification_code  text    NOT NULL,
    revoked             boolean NOT NULL DEFAULT false
);

-- Bearer API keys: only a SHA-256 of the (256-bit random) secret is stored.
CREATE TABLE ledger.api_keys (
    key_id          text        PRIMARY KEY,
    secret_sha256   bytea       NOT NULL CHECK (octet_length(secret_sha256) = 32),
    role            text        NOT NULL CHECK (role IN ('institution', 'issuer', 'admin', 'auditor')),
    institution_id  text,
    name            text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    CHECK ((role = 'institution') = (institution_id IS NOT NULL))
);
