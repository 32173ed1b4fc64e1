"""mqtt status: the detector's connection to the site's MQTT broker, for the config report

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

One row, written by the detector when its connection to the broker changes (connected, failing and why,
disabled), read by the uplink, which reports it to the cloud with the config (issue #20).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'mqtt_status',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('error', sa.String(length=500), nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('mqtt_status')
