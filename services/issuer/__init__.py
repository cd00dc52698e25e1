"""Issuer: awards stacked qualifications through the ledger, revokes them when their passes
are revoked, and issues Open Badges 3.0 credentials signed as VC-JWT (docs/architecture.md §2, §5)."""
