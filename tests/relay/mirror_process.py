"""The update mirror alone, as its own process (the relay serves it the same way, on its tunnel address):

    python -m tests.relay.mirror_process FD SETTINGS_JSON

FD is a listening socket the test bound (so no port race); SETTINGS_JSON the ``[updates]`` section.
SIGTERM stops it; the tests also kill it with SIGKILL mid-download. ``MirrorProcess`` starts it so
(tests/relay/test_update_mirror.py).
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import uvicorn

from agents.relay.config import UpdatesSettings
from agents.relay.update_mirror import UpdateMirror
from guardian.runtime.logging import configure_logging
from guardian.runtime.metrics import AgentMetrics

ROOT = Path(__file__).resolve().parents[2]


async def main(fd: int, settings_json: str) -> None:
    configure_logging("INFO", sys.stderr)
    mirror = UpdateMirror(UpdatesSettings.model_validate(json.loads(settings_json)), AgentMetrics("relay"))
    mirror.open()
    server = uvicorn.Server(uvicorn.Config(mirror.app(), log_config=None, access_log=False, lifespan="off"))
    try:
        await server.serve(sockets=[socket.socket(fileno=fd)])
    finally:
        await mirror.close()


class MirrorProcess:
    """This module run as a process of its own, on a socket bound here; its log in ``workdir/mirror.log``."""

    def __init__(self, workdir: Path, settings: dict[str, object]) -> None:
        self.workdir = workdir
        self.settings = {"enabled": True, "cache_dir": str(workdir / "cache"), **settings}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "mirror.log"
        self.port = 0

    def start(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.relay.mirror_process", str(sock.fileno()), json.dumps(self.settings)],
                cwd=ROOT, stdout=log, stderr=log, pass_fds=[sock.fileno()],
            )
        sock.close()
        from tests.relay.netlab import wait_for  # here: the mirror's own process need not import the lab

        wait_for(lambda: self._answers(), 30, "the mirror to answer")

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the mirror exited: {self.log.read_text()[-2000:]}")
        try:
            return httpx.get(f"{self.url}nothing/here", timeout=2).status_code == 404
        except httpx.HTTPError:
            return False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(15)
        self.proc = None

    def objects(self) -> list[str]:
        directory = Path(str(self.settings["cache_dir"])) / "objects"
        return sorted(p.name for p in directory.iterdir()) if directory.exists() else []



if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
