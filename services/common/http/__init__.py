"""HTTP for every service: problem+json errors, request ids and access lines, key guards."""
