"""The footage index in the edge database: recorded segments and assembled clips.

Times are stored as UTC epoch seconds (floats): cheap to compare and index. Paths are stored relative to
the store's root (the edge data directory) when inside it. The invariant that retention and the
recorder keep: a row is inserted only after its file is complete on disk, and a row is deleted (and
committed) before its file is removed — so the index never points at a missing file; a crash between
the two leaves at worst an unindexed file, which :meth:`VideoStore.reconcile` sweeps up.

One exception: when the disk is so full that the database itself cannot commit (SQLite needs room to
grow its write-ahead log), nothing could ever be freed that way. Then :meth:`VideoStore.delete` with
``files_first=True`` removes the files first and the rows right after, in the room just made; until
that commit a reader may find a row without its file, and a crash in between leaves rows that
:meth:`VideoStore.reconcile` drops at the next start.
"""

from __future__ import annotations

import enum
import errno
import os
import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import sessionmaker

from agents.common.sqlite import WriterSession
from agents.edge.db import open_database
from agents.edge.db.tables import Clip, Segment
from agents.edge.video.mp4 import read_segment, truncate_to_fragments
from guardian.runtime.logging import get_logger

log = get_logger("guardian.edge.segments")


def to_ts(moment: datetime | float) -> float:
    """UTC epoch seconds of ``moment`` (a timezone-aware datetime, or already seconds)."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("naive datetime: give times in UTC with tzinfo")
        return moment.timestamp()
    return float(moment)


def from_ts(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException) -> bool:
    """``exc`` says the filesystem is full: ENOSPC/EDQUOT from a write (PyAV's errors are OSErrors too),
    or SQLite's SQLITE_FULL ("database or disk is full") through SQLAlchemy."""
    if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
        return True
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    return isinstance(orig, sqlite3.Error) and getattr(orig, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


class FootageClass(enum.StrEnum):
    """Retention classes."""

    CONTINUOUS = "continuous"
    EVENT = "event"


@dataclass(frozen=True)
class NewSegment:
    camera: str
    path: Path
    start_ts: float
    end_ts: float
    size_bytes: int
    codec: str
    frames: int


class VideoStore:
    """Footage on disk under ``root`` and its index in the edge database (shared by threads)."""

    def __init__(self, root: Path, sessions: sessionmaker[WriterSession]) -> None:
        self.root = root
        self.recordings_dir = root / "recordings"
        self.clips_dir = root / "clips"
        self.sessions = sessions

    @classmethod
    def open(cls, root: Path, db_path: Path) -> VideoStore:
        """Open the store at ``root`` with the edge database at ``db_path`` (``agents.edge.db.database_path``)."""
        _engine, sessions = open_database(db_path)
        return cls(root, sessions)

    # paths ------------------------------------------------------------------------------------------
    def relative(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path.resolve())

    def absolute(self, stored: str) -> Path:
        path = Path(stored)
        return path if path.is_absolute() else self.root / path

    def segment_path(self, camera: str, start_ts: float) -> Path:
        """``recordings/<camera>/<YYYY-MM-DD>/<HH>/<MM>-<SS>.<micro>.mp4`` (UTC)."""
        start = from_ts(start_ts)
        return (
            self.recordings_dir / camera / f"{start:%Y-%m-%d}" / f"{start:%H}" / f"{start:%M-%S}.{start:%f}.mp4"
        )

    # segments ---------------------------------------------------------------------------------------
    def add_segment(self, new: NewSegment) -> Segment:
        with self.sessions.begin() as session:
            row = Segment(
                camera=new.camera,
                path=self.relative(new.path),
                start_ts=new.start_ts,
                end_ts=new.end_ts,
                size_bytes=new.size_bytes,
                codec=new.codec,
                frames=new.frames,
            )
            session.add(row)
        return row

    def segments(self, camera: str, start: datetime | float | None = None, end: datetime | float | None = None) -> list[Segment]:
        """Segments of ``camera`` overlapping ``[start, end)``, oldest first (all when unbounded)."""
        query = select(Segment).where(Segment.camera == camera)
        if end is not None:
            query = query.where(Segment.start_ts < to_ts(end))
        if start is not None:
            query = query.where(Segment.end_ts > to_ts(start))
        with self.sessions() as session:
            return list(session.scalars(query.order_by(Segment.start_ts)))

    def oldest_segments(
        self, limit: int, before_ts: float | None = None, *, camera: str | None = None, other_than: Collection[str] = ()
    ) -> list[Segment]:
        """The oldest segments (of ``camera`` only, or of every camera but ``other_than``), oldest first."""
        query = select(Segment)
        if before_ts is not None:
            query = query.where(Segment.end_ts < before_ts)
        if camera is not None:
            query = query.where(Segment.camera == camera)
        if other_than:
            query = query.where(Segment.camera.not_in(list(other_than)))
        with self.sessions() as session:
            return list(session.scalars(query.order_by(Segment.start_ts).limit(limit)))

    def bytes_by_camera(self) -> dict[str, int]:
        with self.sessions() as session:
            rows = session.execute(select(Segment.camera, func.sum(Segment.size_bytes)).group_by(Segment.camera))
            return {camera: int(total or 0) for camera, total in rows}

    def recent_by_camera(self, count: int = 5) -> dict[str, list[tuple[int, float]]]:
        """``camera -> [(size_bytes, duration_s), …]`` of each camera's ``count`` newest segments."""
        with self.sessions() as session:
            cameras = list(session.scalars(select(Segment.camera).distinct()))
            return {
                camera: [
                    (int(size), float(duration))
                    for size, duration in session.execute(
                        select(Segment.size_bytes, Segment.end_ts - Segment.start_ts)
                        .where(Segment.camera == camera).order_by(Segment.start_ts.desc()).limit(count)
                    )
                ]
                for camera in cameras
            }

    def total_bytes(self) -> int:
        with self.sessions() as session:
            segments = session.scalar(select(func.coalesce(func.sum(Segment.size_bytes), 0))) or 0
            clips = session.scalar(select(func.coalesce(func.sum(Clip.size_bytes), 0))) or 0
        return int(segments) + int(clips)

    # clips ------------------------------------------------------------------------------------------
    def add_clip(self, camera: str, path: Path, start_ts: float, end_ts: float, size: int, codec: str, frames: int) -> Clip:
        with self.sessions.begin() as session:
            stored = self.relative(path)
            session.execute(delete(Clip).where(Clip.path == stored))
            row = Clip(
                camera=camera, path=stored, start_ts=start_ts, end_ts=end_ts, size_bytes=size, codec=codec,
                frames=frames, created_ts=datetime.now(UTC).timestamp(),
            )
            session.add(row)
        return row

    def clips(self) -> list[Clip]:
        with self.sessions() as session:
            return list(session.scalars(select(Clip).order_by(Clip.created_ts)))

    def oldest_clips(self, limit: int, before_ts: float | None = None) -> list[Clip]:
        query = select(Clip)
        if before_ts is not None:
            query = query.where(Clip.created_ts < before_ts)
        with self.sessions() as session:
            return list(session.scalars(query.order_by(Clip.created_ts).limit(limit)))

    # deletion (row first, then file) ----------------------------------------------------------------
    def delete(self, rows: Sequence[Segment | Clip], *, files_first: bool = False) -> int:
        """Delete ``rows`` from the index, commit, then remove their files; returns the bytes freed.

        ``files_first``: the files go first, then the rows — only for a database that cannot commit
        because the disk is full (see the module's docstring)."""
        if not rows:
            return 0
        freed = self._remove_files(rows) if files_first else 0
        segment_ids = [r.id for r in rows if isinstance(r, Segment)]
        clip_ids = [r.id for r in rows if isinstance(r, Clip)]
        with self.sessions.begin() as session:
            if segment_ids:
                session.execute(delete(Segment).where(Segment.id.in_(segment_ids)))
            if clip_ids:
                session.execute(delete(Clip).where(Clip.id.in_(clip_ids)))
        return freed if files_first else self._remove_files(rows)

    def _remove_files(self, rows: Sequence[Segment | Clip]) -> int:
        freed = 0
        for row in rows:
            path = self.absolute(row.path)
            try:
                freed += path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                continue
            _prune_empty_dirs(path.parent, stop=self.root)
        return freed

    def reconcile(self, recover: bool = True) -> tuple[int, int]:
        """Make index and disk agree (run at start-up, before recording): drop rows whose file is gone;
        index complete-looking unindexed segment files left by a crash (``recover``) or delete them.
        Returns ``(rows dropped, files handled)``."""
        dropped = handled = 0
        with self.sessions.begin() as session:
            known = set()
            for model in (Segment, Clip):
                for row_id, stored in session.execute(select(model.id, model.path)).all():
                    if self.absolute(stored).is_file():
                        known.add(str(self.absolute(stored).resolve()))
                    else:
                        session.execute(delete(model).where(model.id == row_id))
                        dropped += 1
        if self.recordings_dir.is_dir():
            for path in sorted(self.recordings_dir.rglob("*.mp4")):
                if str(path.resolve()) in known:
                    continue
                handled += 1
                relative = self.relative(path)
                size = path.stat().st_size
                found = examine_segment(path) if recover else "recovery off"
                if isinstance(found, NewSegment):
                    self.add_segment(found)
                    # Said per file: an operator looking for footage around a crash learns what is left.
                    log.info("segment_recovered", camera=found.camera, path=relative,
                             seconds=round(found.end_ts - found.start_ts, 3), frames=found.frames,
                             bytes=found.size_bytes, bytes_cut=size - found.size_bytes)
                else:
                    path.unlink(missing_ok=True)
                    _prune_empty_dirs(path.parent, stop=self.root)
                    log.warning("segment_removed", path=relative, reason=found)
        return dropped, handled


def _prune_empty_dirs(directory: Path, stop: Path) -> None:
    stop = stop.resolve()
    current = directory.resolve()
    while current != stop and stop in current.parents:
        try:
            os.rmdir(current)
        except OSError:
            return
        current = current.parent


def probe_segment(path: Path) -> NewSegment | None:
    """Read a segment file left without an index row (after a crash); ``None`` if it has no complete
    fragment or no frame (:func:`examine_segment` says why)."""
    found = examine_segment(path)
    return found if isinstance(found, NewSegment) else None


def examine_segment(path: Path) -> NewSegment | str:
    """:func:`probe_segment`, with the reason instead of ``None``: the segment to index, or why the file
    cannot be kept. A file cut short is first cut back to its last complete fragment.

    The start comes from the file name (``recordings/<camera>/<date>/<hour>/<MM-SS.micro>.mp4``)."""
    try:
        camera, day, hour = path.parts[-4], path.parts[-3], path.parts[-2]
        minute_second, micro = path.stem.split(".")
        start = datetime.strptime(f"{day} {hour} {minute_second}.{micro} +0000", "%Y-%m-%d %H %M-%S.%f %z")
    except (ValueError, IndexError):
        return "not a segment name (recordings/<camera>/<date>/<hour>/<MM-SS.micro>.mp4)"
    try:
        size = path.stat().st_size
        if not truncate_to_fragments(path):
            return f"no complete fragment in its {size} bytes (cut short before its first fragment was complete)"
    except OSError as exc:
        return f"unreadable ({exc.strerror or type(exc).__name__})"
    found = read_segment(path)
    if found is None:
        return "no decodable frame"
    span, codec = found
    start_ts = start.timestamp()
    return NewSegment(camera, path, start_ts, start_ts + span.duration_s, path.stat().st_size, codec, span.frames)
