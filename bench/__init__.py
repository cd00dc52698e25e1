"""Benchmarks of the credit ledger (see bench/README.md); not part of the installed package."""
