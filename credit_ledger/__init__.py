"""Composition, configuration and tooling for the credit ledger (CLI, dev stack, embedded servers)."""
