"""event zones: the names of the zones an event touched

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Edges record the zones of a camera an event's object stood in (issue #17); relays forward their names
(never their geometry) in ``EventSummary.zones``. ``events.zones_json`` keeps them as a JSON list; rows
from before hold ``[]``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('zones_json', sa.Text(), server_default='[]', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('zones_json')
