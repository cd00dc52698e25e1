-- The application runs as credit_ledger_app (the pool sets `role` at connect), which may
-- only read and insert into the log: UPDATE, DELETE and TRUNCATE are not granted, and the
-- trigger of 0001 refuses them even to the table's owner.
DO $$
BEGIN
    CREATE ROLE credit_ledger_app NOLOGIN;
EXCEPTION
    -- Roles are cluster-wide: another database of the cluster may have created it.
    WHEN duplicate_object OR unique_violation THEN NULL;
END;
$$;

-- The migrating user must be able to switch to the role (PostgreSQL 16+ no longer lets a
-- role's creator SET ROLE to it without membership, e.g. on managed PostgreSQL).
GRANT credit_ledger_app TO CURRENT_USER;

REVOKE ALL ON ALL TABLES IN SCHEMA ledger FROM PUBLIC;
GRANT USAGE ON SCHEMA ledger TO credit_ledger_app;
GRANT SELECT, INSERT ON ledger.events TO credit_ledger_app;
GRANT SELECT, INSERT, UPDATE ON
    ledger.institutions, ledger.micro_credentials, ledger.qualifications,
    ledger.assessments, ledger.credentials, ledger.redemptions, ledger.awards,
    ledger.api_keys
TO credit_ledger_app;
