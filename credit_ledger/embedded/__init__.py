"""Real PostgreSQL and nats-server processes started from Python wheels, for dev and tests."""
