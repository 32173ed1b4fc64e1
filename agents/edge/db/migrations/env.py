"""Alembic environment of the edge database: the connection comes from the caller, never from a file."""

from agents.common.migrations import run_environment
from agents.edge.db.tables import EdgeBase

run_environment(EdgeBase.metadata)
