"""The issuer's HTTP surface: public key material, status lists, verification; learners'
credentials for authenticated callers; health and metrics."""
