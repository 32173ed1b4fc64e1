"""events by tenant and time of receipt

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

``ix_events_tenant_received``: a live stream that reconnects with ``Last-Event-ID`` first replays what its
tenant received (new events and newer versions, which now move ``received_at``) after that cursor.
"""

from __future__ import annotations

from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_tenant_received', ['tenant_id', 'received_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_tenant_received')
