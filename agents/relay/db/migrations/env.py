"""Alembic environment of the relay database: the connection comes from the caller, never from a file."""

from agents.common.migrations import run_environment
from agents.relay.db.tables import RelayBase

run_environment(RelayBase.metadata)
