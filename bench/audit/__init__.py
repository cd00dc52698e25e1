"""The audit benchmark's scenarios; ``python -m bench.audit_bench`` runs them."""
