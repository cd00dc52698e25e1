"""The issuer's server-rendered pages: a credential's page and the verify page."""
