"""desired configs, their feed cursor and config reports (issue #17)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('config_feed',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('cursor', sa.Text(), nullable=False),
    sa.Column('stored_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('config_reports',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('applied_version', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.LargeBinary(), nullable=False),
    sa.Column('reported_at', sa.DateTime(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('forwarded_seq', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('device_id')
    )
    op.create_table('desired_configs',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('device_id')
    )


def downgrade() -> None:
    op.drop_table('desired_configs')
    op.drop_table('config_reports')
    op.drop_table('config_feed')
