-- Reconciliation from the ledger (services/issuer/reconcile.py): the log position every
-- QualificationAwarded, QualificationRevoked and revoked pass or certificate has been
-- checked up to, so a periodic pass reads only what came after. One row, shared by every
-- replica; only the replica holding the reconciliation's advisory lock moves it.
CREATE TABLE issuer.reconcile_checkpoint (
    id          boolean     PRIMARY KEY DEFAULT true CHECK (id),
    position    bigint      NOT NULL CHECK (position >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO issuer.reconcile_checkpoint (id, position) VALUES (true, 0);

GRANT SELECT, UPDATE ON issuer.reconcile_checkpoint TO credit_ledger_issuer;
