"""relay version: the software version a relay names in its signed calls

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

``relays.agent_version``: from the User-Agent (``guardian-relay/<version>``) of the relay's signed calls,
for the operator's fleet page; empty until a relay of this release calls.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('relays', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agent_version', sa.String(length=50), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('relays', schema=None) as batch_op:
        batch_op.drop_column('agent_version')
