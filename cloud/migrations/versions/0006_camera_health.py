"""camera health: frames and bits per second, and the last error, from the device's telemetry

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Relays forward each camera's fps, bitrate and last error (``CameraHealth``, issue #17 item 4) for the
cards of the Cameras page; rows from before hold NULL (not reported yet).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cameras', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fps', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('bitrate_bps', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('reason', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('cameras', schema=None) as batch_op:
        batch_op.drop_column('reason')
        batch_op.drop_column('bitrate_bps')
        batch_op.drop_column('fps')
