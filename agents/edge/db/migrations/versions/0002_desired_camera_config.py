"""desired camera config: config_versions, camera sources and sealed credentials

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

Cameras can now come from the cloud's desired config (issue #17): where a camera came from, its sealed
credentials and detection settings, and what the last apply did to it; config_versions keeps the versions
received. Existing rows are edge.toml's cameras (source "file").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('config_versions',
    sa.Column('version', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=256), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('version')
    )
    with op.batch_alter_table('config_versions', schema=None) as batch_op:
        batch_op.create_index('ix_config_versions_status_version', ['status', 'version'], unique=False)

    with op.batch_alter_table('cameras', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=16), server_default='file', nullable=False))
        batch_op.add_column(sa.Column('display_name', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('record_credentials', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('detect_credentials', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('detection_json', sa.Text(), server_default='', nullable=False))
        batch_op.add_column(sa.Column('config_state', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('config_error', sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column('config_version', sa.BigInteger(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('cameras', schema=None) as batch_op:
        batch_op.drop_column('config_version')
        batch_op.drop_column('config_error')
        batch_op.drop_column('config_state')
        batch_op.drop_column('detection_json')
        batch_op.drop_column('detect_credentials')
        batch_op.drop_column('record_credentials')
        batch_op.drop_column('display_name')
        batch_op.drop_column('source')

    with op.batch_alter_table('config_versions', schema=None) as batch_op:
        batch_op.drop_index('ix_config_versions_status_version')

    op.drop_table('config_versions')
