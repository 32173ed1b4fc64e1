"""push per review item: a member is notified once per review item; rules may ask for alerts only

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

``push_claims.item_key`` (the event's ``review_item``, or its own id when it has none) with a unique
(tenant_id, item_key, user_id): another event of an item a member was notified of notifies nobody again
(issue #20 item 5). Claims held before are given their event's item; where a member already had two claims
of one item, the earliest stays. ``notification_rules.severity``: "all" (as before) or "alert".
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('notification_rules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('severity', sa.String(length=10), server_default='all', nullable=False))

    with op.batch_alter_table('push_claims', schema=None) as batch_op:
        batch_op.add_column(sa.Column('item_key', sa.String(length=64), server_default='', nullable=False))
    op.execute(
        "UPDATE push_claims SET item_key = COALESCE((SELECT NULLIF(events.review_item, '') FROM events"
        " WHERE events.tenant_id = push_claims.tenant_id AND events.id = push_claims.event_id), event_id)")
    op.execute(
        "DELETE FROM push_claims WHERE EXISTS (SELECT 1 FROM push_claims AS earlier"
        " WHERE earlier.tenant_id = push_claims.tenant_id AND earlier.user_id = push_claims.user_id"
        " AND earlier.item_key = push_claims.item_key AND (earlier.claimed_at < push_claims.claimed_at"
        " OR (earlier.claimed_at = push_claims.claimed_at AND earlier.event_id < push_claims.event_id)))")
    with op.batch_alter_table('push_claims', schema=None) as batch_op:
        # The claim is always written with its item: no default (the model has none).
        batch_op.alter_column('item_key', existing_type=sa.String(length=64), server_default=None)
        batch_op.create_unique_constraint('uq_push_claims_tenant_item_user', ['tenant_id', 'item_key', 'user_id'])


def downgrade() -> None:
    with op.batch_alter_table('push_claims', schema=None) as batch_op:
        batch_op.drop_constraint('uq_push_claims_tenant_item_user', type_='unique')
        batch_op.drop_column('item_key')
    with op.batch_alter_table('notification_rules', schema=None) as batch_op:
        batch_op.drop_column('severity')
