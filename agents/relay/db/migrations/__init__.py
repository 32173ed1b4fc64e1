"""Alembic migrations of the relay database (run by :func:`agents.relay.db.open_database`)."""
