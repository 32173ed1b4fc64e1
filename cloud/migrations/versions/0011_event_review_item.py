"""event review item: the review item the edge grouped an event into

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

``events.review_item`` (issue #20): the id of the edge's review item (a camera's overlapping activity);
"" when the edge sent none: the events held before, and those of older edges, are items of one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review_item', sa.String(length=64), server_default='', nullable=False))
    op.create_index('ix_events_tenant_item', 'events', ['tenant_id', 'review_item'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_events_tenant_item', table_name='events')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('review_item')
