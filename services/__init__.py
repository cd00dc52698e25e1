"""The services of the credit ledger: ledger, projector and issuer."""
