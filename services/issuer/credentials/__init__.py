"""Open Badges 3.0 credentials: the JSON, the JWS, the keys and the status lists (pure)."""
