-- Events each API key has waiting in each ledger process's group commit, so that every
-- process applies one fair share per key under contention (services/ledger/fair_share.py).
-- Unlogged: the counts are only ever seconds old and nothing of them must survive a crash.
CREATE UNLOGGED TABLE ledger.admission (
    process      text        NOT NULL,
    key_id       text        NOT NULL,
    waiting      integer     NOT NULL CHECK (waiting >= 0),
    reported_at  timestamptz NOT NULL,
    PRIMARY KEY (process, key_id)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON ledger.admission TO credit_ledger_app;
