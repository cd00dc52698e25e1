-- The write model of consent (ConsentGranted / ConsentWithdrawn, recorded by learners): each
-- grant once, so that a withdrawal names a grant the learner made and a grant is withdrawn
-- once. What a grant lets its grantee read is the projector's to apply.
CREATE TABLE ledger.consents (
    grant_id                text    PRIMARY KEY,
    learner_id              text    NOT NULL,
    grantee_institution_id  text    NOT NULL,
    valid_until             date,
    position                bigint  NOT NULL,
    withdrawn               boolean NOT NULL DEFAULT false
);
CREATE INDEX consents_learner ON ledger.consents (learner_id);
GRANT SELECT, INSERT, UPDATE ON ledger.consents TO credit_ledger_app;
