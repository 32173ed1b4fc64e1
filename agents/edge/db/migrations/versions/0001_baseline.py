"""baseline: the edge schema of the release before Alembic

Revision ID: 0001
Revises:
Create Date: 2026-12-02

A database made by that release has no alembic_version, so Alembic starts it here. Its tables were
created by ``metadata.create_all`` from the same declarations as below, but only those whose modules
the opening service had imported (``archive_queue`` only once the archive service ran): the tables it
has are kept as they are and the missing ones created. An outbox from before the unique index on event
keys may hold two rows of one event (two processes both inserted it): the newest is kept.
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
    if "outbox" in existing:
        _unique_outbox_event_keys()


def _unique_outbox_event_keys() -> None:
    indexes = {ix["name"] for ix in sa.inspect(op.get_bind()).get_indexes("outbox")}
    if "ux_outbox_event_key" in indexes:
        return
    op.execute(
        "DELETE FROM outbox WHERE kind = 0 AND id NOT IN (SELECT MAX(id) FROM outbox WHERE kind = 0 GROUP BY key)"
    )
    if "ix_outbox_key" in indexes:
        op.drop_index("ix_outbox_key", table_name="outbox")
    op.create_index("ux_outbox_event_key", "outbox", ["key"], unique=True, sqlite_where=sa.text("kind = 0"))


def _archive_queue() -> None:
    op.create_table('archive_queue',
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('upload_id', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ciphertext', sa.String(length=300), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('cid', sa.String(length=120), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    with op.batch_alter_table('archive_queue', schema=None) as batch_op:
        batch_op.create_index('ix_archive_queue_status_next', ['status', 'next_attempt_at'], unique=False)


def _cameras() -> None:
    op.create_table('cameras',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('record_url', sa.String(length=1024), nullable=False),
    sa.Column('detect_url', sa.String(length=1024), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=256), nullable=True),
    sa.Column('failure', sa.String(length=32), nullable=True),
    sa.Column('since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_frame_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('fps', sa.Float(), nullable=False),
    sa.Column('bitrate_bps', sa.Float(), nullable=False),
    sa.Column('reconnects', sa.Integer(), nullable=False),
    sa.Column('codec', sa.String(length=32), nullable=True),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )


def _events() -> None:
    op.create_table('events',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('camera', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=32), nullable=False),
    sa.Column('model', sa.String(length=80), nullable=False),
    sa.Column('start_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended', sa.Boolean(), nullable=False),
    sa.Column('max_score', sa.Float(), nullable=False),
    sa.Column('mean_score', sa.Float(), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.Column('snapshot_ref', sa.String(length=200), nullable=False),
    sa.Column('thumbnail_ref', sa.String(length=200), nullable=False),
    sa.Column('clip_ref', sa.String(length=200), nullable=False),
    sa.Column('clip_start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('clip_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('clip_duration_s', sa.Float(), nullable=False),
    sa.Column('track_json', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_camera_start', ['camera', 'start_at'], unique=False)
        batch_op.create_index('ix_events_label_start', ['label', 'start_at'], unique=False)
        batch_op.create_index('ix_events_start', ['start_at'], unique=False)


def _outbox() -> None:
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('generation', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_kind_id', ['kind', 'id'], unique=False)
        batch_op.create_index('ux_outbox_event_key', ['key'], unique=True, sqlite_where=sa.text('kind = 0'))


def _video_clips() -> None:
    op.create_table('video_clips',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('camera', sa.String(length=32), nullable=False),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('start_ts', sa.Float(), nullable=False),
    sa.Column('end_ts', sa.Float(), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('codec', sa.String(length=32), nullable=False),
    sa.Column('frames', sa.Integer(), nullable=False),
    sa.Column('created_ts', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('path')
    )
    with op.batch_alter_table('video_clips', schema=None) as batch_op:
        batch_op.create_index('ix_video_clips_created', ['created_ts'], unique=False)


def _video_segments() -> None:
    op.create_table('video_segments',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('camera', sa.String(length=32), nullable=False),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('start_ts', sa.Float(), nullable=False),
    sa.Column('end_ts', sa.Float(), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('codec', sa.String(length=32), nullable=False),
    sa.Column('frames', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('path')
    )
    with op.batch_alter_table('video_segments', schema=None) as batch_op:
        batch_op.create_index('ix_video_segments_camera_start', ['camera', 'start_ts'], unique=False)
        batch_op.create_index('ix_video_segments_start', ['start_ts'], unique=False)


_TABLES = {
    'archive_queue': _archive_queue,
    'cameras': _cameras,
    'events': _events,
    'outbox': _outbox,
    'video_clips': _video_clips,
    'video_segments': _video_segments,
}


def downgrade() -> None:
    with op.batch_alter_table('video_segments', schema=None) as batch_op:
        batch_op.drop_index('ix_video_segments_start')
        batch_op.drop_index('ix_video_segments_camera_start')

    op.drop_table('video_segments')
    with op.batch_alter_table('video_clips', schema=None) as batch_op:
        batch_op.drop_index('ix_video_clips_created')

    op.drop_table('video_clips')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ux_outbox_event_key', sqlite_where=sa.text('kind = 0'))
        batch_op.drop_index('ix_outbox_kind_id')

    op.drop_table('outbox')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_start')
        batch_op.drop_index('ix_events_label_start')
        batch_op.drop_index('ix_events_camera_start')

    op.drop_table('events')
    op.drop_table('cameras')
    with op.batch_alter_table('archive_queue', schema=None) as batch_op:
        batch_op.drop_index('ix_archive_queue_status_next')

    op.drop_table('archive_queue')
