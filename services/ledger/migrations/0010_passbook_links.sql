-- Passbook links (services/ledger/passbook_links.py): how a learner gets in. An institution
-- that recorded the learner, or an admin, asks for a link and hands it over; the link is a
-- token signed with the system's link key, naming the link, the learner and when it ends.
-- The key is made once, by the first ledger process to need it, and shared by all.
CREATE TABLE ledger.passbook_link_keys (
    key_id      smallint    PRIMARY KEY,
    secret      bytea       NOT NULL CHECK (length(secret) = 32),
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- Every link issued, so that its requester, an admin or the learner can revoke it (and a
-- list can show who asked for which). The token itself is never stored.
CREATE TABLE ledger.passbook_links (
    link_id                   text        PRIMARY KEY,
    learner_id                text        NOT NULL,
    requested_by_key          text        NOT NULL,
    requested_by_institution  text,
    created_at                timestamptz NOT NULL DEFAULT now(),
    expires_at                timestamptz NOT NULL,
    revoked_at                timestamptz,
    revoked_by                text
);
CREATE INDEX passbook_links_learner ON ledger.passbook_links (learner_id, created_at);
GRANT SELECT, INSERT ON ledger.passbook_link_keys TO credit_ledger_app;
GRANT SELECT, INSERT, UPDATE ON ledger.passbook_links TO credit_ledger_app;
