"""The ledger: the only writer of the log, its relay to NATS and its audit interface."""
