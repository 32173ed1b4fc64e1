"""live sessions: the audit of live views (who, which camera, started, ended; no media)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

``live_sessions``: one row per live token minted (issue #18); its open rows count against the plan's
concurrent viewers.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'live_sessions',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('tenant_id', sa.String(length=36), nullable=False),
        sa.Column('user_id', sa.String(length=36), nullable=True),
        sa.Column('device_id', sa.String(length=64), nullable=False),
        sa.Column('camera', sa.String(length=64), nullable=False),
        sa.Column('stream', sa.String(length=8), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('live_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_live_sessions_tenant_started', ['tenant_id', 'started_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('live_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_live_sessions_tenant_started')
    op.drop_table('live_sessions')
