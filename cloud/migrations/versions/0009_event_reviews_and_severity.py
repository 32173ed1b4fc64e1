"""event reviews and severity: each member's reviewed events; an event's severity

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

``event_reviews``: one row per member and event they reviewed (issue #20); no row means unreviewed.
``events.severity``: "alert" or "detection", decided on the edge; rows from before are detections.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('severity', sa.String(length=10), server_default='detection', nullable=False))
    op.create_table(
        'event_reviews',
        sa.Column('user_id', sa.String(length=36), nullable=False),
        sa.Column('tenant_id', sa.String(length=36), nullable=False),
        sa.Column('event_id', sa.String(length=64), nullable=False),
        sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id', 'event_id'], ['events.tenant_id', 'events.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'tenant_id', 'event_id'),
    )


def downgrade() -> None:
    op.drop_table('event_reviews')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('severity')
