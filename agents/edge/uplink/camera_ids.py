"""Opaque camera ids for the metrics that leave the edge (issue #23: no camera names in the fleet's metrics).

The recorder labels its series with the camera's config name (``camera="front_door"``), which the tenant
chose. The scrape proxy (:mod:`agents.edge.uplink.scrape_proxy`) rewrites every ``camera`` label value it
passes to the relay to ``c-`` and the first 12 hex digits of HMAC-SHA256(name), keyed by a per-edge secret:
stable across restarts, different on every edge for the same name, and not guessable from a list of
likely names without the secret. The secret is 32 random bytes made once in the uplink's state directory
(``camera-id.key``, 0600) and never sent anywhere; ``guardian-edge metrics camera-ids`` shows the mapping
on the box, for the tenant or an installer on site.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

from agents.edge.config import EdgeSettings
from agents.edge.enrolment import state_dir
from guardian.runtime.errors import GuardianError
from guardian.runtime.logging import get_logger

log = get_logger("guardian.edge.uplink.camera_ids")

KEY_BYTES = 32
ID_HEX_DIGITS = 12  # 48 bits: no collision among an edge's few cameras, short on the 4G link
CAMERA_LABEL = "camera"

# One label pair of a sample line (text format 0.0.4): the value is quoted, with \\, \" and \n escaped.
_LABEL_PAIR = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\\n]|\\.)*)"\s*(,?)')
_ESCAPE = re.compile(r"\\(.)")


class CameraIdKeyError(GuardianError):
    """The camera id secret cannot be used (a file of the wrong size)."""

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        super().__init__(f"camera id key {path}: {detail}")


def camera_id_key_path(settings: EdgeSettings) -> Path:
    return state_dir(settings) / "camera-id.key"


def load_or_create_key(path: Path) -> bytes:
    """The edge's camera id secret, made (0600) the first time it is asked for; whoever makes it first
    (the uplink or the command) wins, the other reads the same bytes."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic and never replaces: a key made meanwhile by another process stays
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise CameraIdKeyError(path, f"{len(key)} bytes, not {KEY_BYTES}")
    return key


def camera_id(key: bytes, name: str) -> str:
    """The opaque id that stands for the camera ``name`` in the metrics leaving this edge."""
    return "c-" + hmac.new(key, name.encode(), hashlib.sha256).hexdigest()[:ID_HEX_DIGITS]


def _unescape(value: str) -> str:
    return _ESCAPE.sub(lambda m: "\n" if m[1] == "n" else m[1], value)


def _with_camera_ids(line: str, key: bytes) -> str | None:
    """The sample ``line`` with its camera label's value replaced by the id; None when its label set
    cannot be parsed (the line is dropped rather than risk passing a name)."""
    name_end = line.find("{")
    if name_end < 0 or " " in line[:name_end]:
        return line  # no label set
    parts = [line[: name_end + 1]]
    position = name_end + 1
    while (pair := _LABEL_PAIR.match(line, position)) is not None:
        label, value, comma = pair.groups()
        if label == CAMERA_LABEL:
            value = camera_id(key, _unescape(value))
        parts.append(f'{label}="{value}"{comma}')
        position = pair.end()
        if not comma:
            break
    rest = line[position:].lstrip()
    if not rest.startswith("}"):
        return None
    parts.append(rest)
    return "".join(parts)


def pseudonymise_cameras(text: str, key: bytes) -> str:
    """The exposition ``text`` (text format 0.0.4) with every ``camera`` label value replaced by its id."""
    lines = []
    for line in text.splitlines():
        # Only a line that mentions "camera" can carry the label; the others need no parsing.
        if line.startswith("#") or CAMERA_LABEL not in line:
            lines.append(line)
        elif (rewritten := _with_camera_ids(line, key)) is not None:
            lines.append(rewritten)
        else:  # the series' name only: its labels are what must not leave
            log.warning("camera_ids_unparsed_sample_dropped", series=line.partition("{")[0])
    return "".join(f"{line}\n" for line in lines)
