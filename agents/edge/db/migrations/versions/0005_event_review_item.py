"""event review item: the id of the review item an event was grouped into

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

The edge groups a camera's overlapping events into review items as it opens them (issue #20) and sends
the item's id with each event. Existing events belong to no item ("": each is an item of its own).
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
        batch_op.add_column(sa.Column('review_item', sa.String(length=36), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('review_item')
