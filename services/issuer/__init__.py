"""Issuer: awards stacked qualifications and issues Open Badges 3.0 credentials (not built yet)."""
