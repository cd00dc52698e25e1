-- How far the relay got: the last position JetStream acknowledged. JetStream's own last
-- message is the resume point; this row only matters when the stream was emptied (purged,
-- or truncated by retention), so the relay does not re-send the whole log into it.
CREATE TABLE ledger.relay_progress (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    position   bigint  NOT NULL CHECK (position >= 0)
);
INSERT INTO ledger.relay_progress (singleton, position) VALUES (true, 0);
GRANT SELECT, UPDATE ON ledger.relay_progress TO credit_ledger_app;
