"""Running the API: one uvicorn process, or ``http.workers`` worker processes sharing one listening socket.

Several workers need PostgreSQL (the settings refuse them on SQLite, the single-process mode): each worker
has its own pools and admission gates (:mod:`cloud.core.capacity`) and its own ``LISTEN`` connection, so
live events reach streams on every worker and every host. uvicorn's supervisor starts the workers, replaces
one that dies or hangs, and stops them all on SIGTERM. Prometheus metrics are summed across the workers
(prometheus_client's multiprocess mode, files in a directory the supervisor empties at start).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from cloud.core.config import CONFIG_ENV, CloudSettings, config_file, load_cloud_settings
from guardian.runtime.errors import ConfigError, GuardianError
from guardian.runtime.logging import configure_logging, get_logger

log = get_logger("guardian.cloud")

# A worker finds the settings its supervisor loaded through CONFIG_ENV, the config file's path (the rest of
# the settings, environment and credentials, a spawned worker inherits).
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own name for it
# Streams (SSE) never finish by themselves: a stopping server gives open responses this long.
GRACEFUL_SHUTDOWN_SECONDS = 5
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
# The supervisor's pid, for its workers to tell whether it died before they could ask to die with it.
SUPERVISOR_PID_ENV = "GUARDIAN_CLOUD_SUPERVISOR_PID"


def _uvicorn_config(app: FastAPI | str, settings: CloudSettings, host: str, port: int, workers: int) -> uvicorn.Config:
    return uvicorn.Config(
        app, host=host, port=port, workers=workers, factory=isinstance(app, str),
        log_config=None, proxy_headers=settings.http.trusted_proxy_count > 0, server_header=False,
        # uvicorn's access log prints raw URLs (OIDC codes, ids); cloud.access logs route templates.
        access_log=False, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


def serve(settings: CloudSettings, config_path: Path | None, *, host: str, port: int, workers: int) -> None:
    """Serve until SIGTERM or SIGINT; return once every worker has stopped."""
    if workers == 1:
        from cloud.api.main import create_app

        server = _Server(_uvicorn_config(create_app(settings), settings, host, port, 1))
        server.run()
        if not server.started:
            raise GuardianError("the HTTP server did not start (see the log above)")
        log.info("cloud_stopped", signal=server.stop_signal.name if server.stop_signal else None)
        return
    if not settings.database.is_postgres:
        raise ConfigError("http.workers", ["several workers need PostgreSQL: SQLite is the single-process mode"])
    config = _uvicorn_config("cloud.server:worker_app", settings, host, port, workers)
    with _metrics_directory():
        path = config_file(config_path)
        if path is None:
            os.environ.pop(CONFIG_ENV, None)
        else:
            os.environ[CONFIG_ENV] = str(path.resolve())
        os.environ[SUPERVISOR_PID_ENV] = str(os.getpid())
        supervisor = Multiprocess(config, sockets=[_tcp_socket(config.bind_socket())])
        log.info("cloud_workers_starting", workers=workers, host=host, port=port)
        supervisor.run()
    log.info("cloud_stopped", workers=workers)


def _tcp_socket(sock: socket.socket) -> socket.socket:
    """The same listening socket, marked as TCP: asyncio turns Nagle off only on accepted sockets whose
    protocol says TCP, and uvicorn binds with protocol 0, so every answer of a worker waited for the
    client's delayed ACK (about 40 ms more per response)."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return sock
    return socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())


def _die_with_supervisor() -> None:
    """A worker whose supervisor is gone (killed with SIGKILL) stops too instead of holding the port.

    The kernel only signals deaths after the request: a supervisor killed while this worker was still
    starting (importing the app takes a while) left it running as an orphan, so check for that too."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    supervisor = os.environ.get(SUPERVISOR_PID_ENV)
    if supervisor and os.getppid() != int(supervisor):
        log.warning("cloud_worker_orphaned")
        os._exit(0)


def worker_app() -> FastAPI:
    """The app of one worker process (uvicorn imports this in each one it spawns)."""
    _die_with_supervisor()
    from cloud.api.main import create_app

    path = os.environ.get(CONFIG_ENV)
    settings = load_cloud_settings(Path(path) if path else None)
    configure_logging(settings.log_level)
    return create_app(settings)


@contextlib.contextmanager
def _metrics_directory() -> Iterator[None]:
    """A fresh directory for the workers' metric files (systemd's RuntimeDirectory when there is one)."""
    runtime = os.environ.get("RUNTIME_DIRECTORY")
    if runtime:
        path = Path(runtime.split(":")[0]) / "metrics"
        shutil.rmtree(path, ignore_errors=True)  # counters of a previous run must not be added in
        path.mkdir(parents=True)
        made = False
    else:
        path, made = Path(tempfile.mkdtemp(prefix="guardian-cloud-metrics-")), True
    os.environ[METRICS_DIR_ENV] = str(path)
    try:
        yield
    finally:
        os.environ.pop(METRICS_DIR_ENV, None)
        if made:
            shutil.rmtree(path, ignore_errors=True)


class _Server(uvicorn.Server):
    """uvicorn's server, minus the re-raise of the stop signal after its graceful shutdown.

    ``uvicorn.Server`` ends by raising the captured SIGTERM again with the default handler restored,
    so a cleanly stopped cloud died "by signal" (systemd: status=15/TERM, a failed stop in scripts).
    A service stopped on request exits 0: the signal is only recorded.
    """

    stop_signal: signal.Signals | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():  # as uvicorn: only there
            yield
            return
        original = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self.stop_signal = signal.Signals(sig)
        self.handle_exit(sig, frame)
