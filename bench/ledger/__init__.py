"""The write-path benchmark's scenarios; ``python -m bench.ledger_bench`` runs them."""
