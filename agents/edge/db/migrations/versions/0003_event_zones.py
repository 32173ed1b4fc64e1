"""event zones: the zones an event's object stood in

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

A camera's desired config can name zones (issue #17); each event records the names of the zones its
track touched. Existing events touched none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('zones_json', sa.Text(), server_default='[]', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('zones_json')
