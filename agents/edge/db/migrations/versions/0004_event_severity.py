"""event severity: alert or detection

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

A camera's desired config can name alert zones (issue #20): an event whose person or vehicle stood in one
is an alert, the rest are detections. Existing events are detections.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('severity', sa.String(length=10), server_default='detection', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('severity')
