"""``guardian-edge metrics camera-ids``: which camera an opaque ``camera`` label of the fleet's metrics is.

The operator's Prometheus sees ``camera="c-…"`` only (:mod:`agents.edge.uplink.camera_ids`); on the box,
the tenant or an installer maps the ids back to the camera names: one ``name<TAB>id`` line per camera
(edge.toml's and the cameras table's, or the names given).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys

from agents.edge.config import DEFAULT_CONFIG, EdgeSettings
from guardian.runtime.cli import add_config_argument
from guardian.runtime.config import load_settings
from guardian.runtime.logging import configure_logging, get_logger

log = get_logger("guardian.edge.uplink.metrics_cli")


def configured_camera_names(settings: EdgeSettings) -> set[str]:
    """edge.toml's cameras and those of the cameras table (a desired config's), read without writing:
    this command runs as root, and must leave no root-owned database file behind for the agents."""
    # Imported here: `guardian-edge --help` (the release self-test) must run with the base dependencies only.
    from sqlalchemy import create_engine, select
    from sqlalchemy.exc import SQLAlchemyError

    from agents.edge.db import database_path
    from agents.edge.db.tables import Camera

    names = {camera.name for camera in settings.cameras}
    path = database_path(settings)
    if path.exists():
        # Without a -wal file all is in the main file, and "immutable" reads it creating no -wal or -shm
        # ("mode=ro" would); with one, the agents are at work and their -wal and -shm are read as they are.
        mode = "mode=ro" if path.with_name(f"{path.name}-wal").exists() else "immutable=1"
        engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(f"{path.as_uri()}?{mode}", uri=True))
        try:
            with engine.connect() as connection:
                names |= set(connection.scalars(select(Camera.name)))
        except SQLAlchemyError as exc:  # edge.toml's names still help; say why the others are missing
            log.warning("camera_ids_database_unreadable", path=str(path), error=str(exc))
        finally:
            engine.dispose()
    return names


def _camera_ids(args: argparse.Namespace) -> int:
    from agents.edge.uplink.camera_ids import camera_id, camera_id_key_path, load_or_create_key

    settings = load_settings(EdgeSettings, args.config)
    configure_logging(settings.log_level, stream=sys.stderr)  # stdout is the answer
    key = load_or_create_key(camera_id_key_path(settings))
    for name in sorted(args.names or configured_camera_names(settings)):
        print(f"{name}\t{camera_id(key, name)}")
    return 0


def add_metrics_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    metrics = sub.add_parser("metrics", help="the metrics this edge sends its relay")
    actions = metrics.add_subparsers(metavar="ACTION")
    ids = actions.add_parser("camera-ids", help="camera name -> the opaque id its metrics carry off the box")
    add_config_argument(ids, DEFAULT_CONFIG, "GUARDIAN_EDGE_CONFIG")
    ids.add_argument("names", nargs="*", metavar="NAME", help="camera names (default: every configured camera)")
    ids.set_defaults(handler=_camera_ids)
