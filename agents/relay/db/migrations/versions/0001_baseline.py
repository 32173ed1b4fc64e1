"""baseline: the relay schema of the release before Alembic

Revision ID: 0001
Revises:
Create Date: 2026-12-02

A database made by that release has no alembic_version, so Alembic starts it here. Its tables were
created by ``metadata.create_all`` from the same declarations as below (``archive_objects`` only once
the archive server started): the tables it has are kept as they are and the missing ones created.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    for name, create in _TABLES.items():
        if name not in existing:
            create()


def _archive_objects() -> None:
    op.create_table('archive_objects',
    sa.Column('cid', sa.String(length=120), nullable=False),
    sa.Column('upload_id', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('stored_at', sa.DateTime(), nullable=False),
    sa.Column('reported_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('cid')
    )
    with op.batch_alter_table('archive_objects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_archive_objects_upload_id'), ['upload_id'], unique=False)


def _devices() -> None:
    op.create_table('devices',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', sa.String(length=128), nullable=False),
    sa.Column('label', sa.String(length=256), nullable=False),
    sa.Column('public_key', sa.String(length=128), nullable=False),
    sa.Column('tunnel_address', sa.String(length=64), nullable=False),
    sa.Column('enrolled_at', sa.DateTime(), nullable=False),
    sa.Column('rotated_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('last_seen', sa.DateTime(), nullable=True),
    sa.Column('agent_version', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.String(length=512), nullable=False),
    sa.Column('last_telemetry', sa.LargeBinary(), nullable=True),
    sa.Column('health_reported_at', sa.DateTime(), nullable=True),
    sa.Column('health_reported_status', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('device_id'),
    sa.UniqueConstraint('public_key'),
    sa.UniqueConstraint('tunnel_address')
    )


def _events() -> None:
    op.create_table('events',
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('camera', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('start', sa.DateTime(), nullable=True),
    sa.Column('end', sa.DateTime(), nullable=True),
    sa.Column('ended', sa.Boolean(), nullable=False),
    sa.Column('max_score', sa.Float(), nullable=False),
    sa.Column('mean_score', sa.Float(), nullable=False),
    sa.Column('track_json', sa.Text(), nullable=False),
    sa.Column('snapshot_ref', sa.String(length=256), nullable=False),
    sa.Column('clip_ref', sa.String(length=256), nullable=False),
    sa.Column('clip_duration_s', sa.Float(), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('forwarded_at', sa.DateTime(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_device_start', ['device_id', 'start'], unique=False)
        batch_op.create_index('ix_events_expires', ['expires_at'], unique=False)
        batch_op.create_index('ix_events_pending', ['forwarded_at', 'received_at'], unique=False)


def _revoked_tokens() -> None:
    op.create_table('revoked_tokens',
    sa.Column('nonce', sa.String(length=128), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('learned_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('nonce')
    )


def _telemetry() -> None:
    op.create_table('telemetry',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('telemetry', schema=None) as batch_op:
        batch_op.create_index('ix_telemetry_device_received', ['device_id', 'received_at'], unique=False)


def _used_tokens() -> None:
    op.create_table('used_tokens',
    sa.Column('nonce', sa.String(length=128), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('reported', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('nonce')
    )


_TABLES = {
    'archive_objects': _archive_objects,
    'devices': _devices,
    'events': _events,
    'revoked_tokens': _revoked_tokens,
    'telemetry': _telemetry,
    'used_tokens': _used_tokens,
}


def downgrade() -> None:
    op.drop_table('used_tokens')
    with op.batch_alter_table('telemetry', schema=None) as batch_op:
        batch_op.drop_index('ix_telemetry_device_received')

    op.drop_table('telemetry')
    op.drop_table('revoked_tokens')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_pending')
        batch_op.drop_index('ix_events_expires')
        batch_op.drop_index('ix_events_device_start')

    op.drop_table('events')
    op.drop_table('devices')
    with op.batch_alter_table('archive_objects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_archive_objects_upload_id'))

    op.drop_table('archive_objects')
