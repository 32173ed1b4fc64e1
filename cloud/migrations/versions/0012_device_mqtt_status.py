"""device mqtt status: the device's connection to its site's MQTT broker, as it last reported it

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

``device_config_reports.mqtt_state`` ("connected", "failing", "disabled"; "" until the device reports one)
and ``mqtt_error`` (why it fails, for people), from ``ConfigStatus.mqtt`` (issue #20): a broker that refuses
the device (a wrong password, a certificate not trusted) is shown on the device page.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('device_config_reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mqtt_state', sa.String(length=16), server_default='', nullable=False))
        batch_op.add_column(sa.Column('mqtt_error', sa.String(length=500), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('device_config_reports', schema=None) as batch_op:
        batch_op.drop_column('mqtt_error')
        batch_op.drop_column('mqtt_state')
