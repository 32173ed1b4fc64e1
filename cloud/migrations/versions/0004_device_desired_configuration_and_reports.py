"""device desired configuration and reports

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

``device_config_versions``: the numbered versions of each device's desired configuration (issue #17), a
``guardian.edge.v1.DesiredConfig`` in the proto3 JSON mapping each, the last few per device; ``seq`` is the
relays' cursor (GET /api/v1/relay/configs). ``device_config_reports``: what each device last reported
through its relay (applied and refused versions, per-camera status, its config key).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'device_config_reports',
        sa.Column('device_id', sa.String(length=64), nullable=False),
        sa.Column('tenant_id', sa.String(length=36), nullable=False),
        sa.Column('applied_version', sa.BigInteger(), nullable=False),
        sa.Column('refused_version', sa.BigInteger(), nullable=False),
        sa.Column('refused_reason', sa.String(length=500), nullable=False),
        sa.Column('cameras', sa.Text(), nullable=False),
        sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('config_key_id', sa.String(length=16), nullable=False),
        sa.Column('config_public_key', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['device_id'], ['devices.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('device_id'),
    )
    with op.batch_alter_table('device_config_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_config_reports_tenant_id'), ['tenant_id'], unique=False)

    op.create_table(
        'device_config_versions',
        sa.Column('device_id', sa.String(length=64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.String(length=36), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('desired', sa.Text(), nullable=False),
        sa.Column('enabled_cameras', sa.SmallInteger(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(['created_by'], ['users.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['device_id'], ['devices.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('device_id', 'version'),
        sa.UniqueConstraint('tenant_id', 'seq', name='uq_device_config_versions_tenant_seq'),
    )


def downgrade() -> None:
    op.drop_table('device_config_versions')
    with op.batch_alter_table('device_config_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_config_reports_tenant_id'))
    op.drop_table('device_config_reports')
