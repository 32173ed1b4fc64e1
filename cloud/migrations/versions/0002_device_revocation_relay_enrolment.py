"""device revocation, relay enrolment endpoint

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

``devices.revoked_at``: a tenant admin revoked the device (DELETE /api/v1/devices/{id}); relays learn it
from GET /api/v1/relay/revocations. ``relays.enrolment_endpoint``: host:port of the relay's enrolment
endpoint when it is not the host and port of ``endpoint_url``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('relays', schema=None) as batch_op:
        batch_op.add_column(sa.Column('enrolment_endpoint', sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('relays', schema=None) as batch_op:
        batch_op.drop_column('enrolment_endpoint')
    with op.batch_alter_table('devices', schema=None) as batch_op:
        batch_op.drop_column('revoked_at')
