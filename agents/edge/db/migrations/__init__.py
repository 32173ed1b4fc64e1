"""Alembic migrations of the edge database (run by :func:`agents.edge.db.open_database`)."""
