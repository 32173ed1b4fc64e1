"""A small process supervisor: start programs, wait until they are ready, stream their logs, stop them all.

Each child runs in its own process group (so a terminal's Ctrl-C reaches only the supervisor, which then
stops the children in reverse start order) with a parent-death signal (``setpriv --pdeathsig TERM``), so
even a supervisor killed with SIGKILL leaves no orphans. A child is ready when:

- ``Notify()``: it sends ``READY=1`` on the ``NOTIFY_SOCKET`` the supervisor made for it (the agents
  speak sd_notify through ``guardian.runtime.systemd``, as they do under systemd);
- ``Http(url)``: ``url`` answers 200;
- ``Line(regex)``: a line of its output matches.

Output (stdout and stderr together) goes to ``<log_dir>/<name>.log`` and, when ``echo`` is on, to the
console with a ``name |`` prefix (JSON log lines shortened to ``level event key=value…``).

A child started with a :class:`Restart` policy is restarted by :meth:`Supervisor.watch` as systemd
restarts a unit with ``Restart=on-failure``: after ``RestartSec=`` when it exited non-zero or was killed
(not for a clean exit, SIGTERM/SIGINT/SIGHUP/SIGPIPE, or a ``RestartPreventExitStatus=`` code), at most
``StartLimitBurst=`` starts within ``StartLimitIntervalSec=``; past that it gives up on that child and
says so loudly, and the others keep running. What the supervisor decides goes to the console and to
``<log_dir>/supervisor.log``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

SETPRIV = shutil.which("setpriv")


class SupervisorError(Exception):
    """A child failed to start, died, or a step failed; ``log_tail`` has its last output lines."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        self.log_tail = log_tail
        super().__init__(message + (f"\n--- last output ---\n{log_tail}" if log_tail else ""))


class PortBusy(SupervisorError):
    def __init__(self, port: int, what: str, holder: str) -> None:
        self.port, self.what, self.holder = port, what, holder
        by = f" by {holder}" if holder else ""
        super().__init__(f"port {port} ({what}) is already in use{by}; stop that program or choose other "
                         "ports (--port-base, see --help)")


@dataclass(frozen=True)
class Notify:
    """Ready when the child sends READY=1 to its NOTIFY_SOCKET."""


@dataclass(frozen=True)
class Http:
    url: str
    ca_file: Path | None = None


@dataclass(frozen=True)
class Line:
    pattern: str


Readiness = Notify | Http | Line

# systemd's "clean" signals: a unit killed by one of them is not restarted by Restart=on-failure.
_CLEAN_SIGNALS = frozenset({signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE})
_UNIT_TIME = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h)?\s*$")


def _unit_seconds(text: str) -> float:
    """A systemd time span as seconds ("5s", "100ms", "2min", "30"); only the forms the units use."""
    found = _UNIT_TIME.match(text)
    if found is None:
        raise ValueError(f"unsupported time span: {text!r}")
    value, unit = float(found.group(1)), found.group(2) or "s"
    return value * {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}[unit]


@dataclass(frozen=True)
class Restart:
    """``Restart=on-failure`` with the unit's settings; the defaults are systemd's own."""

    delay_s: float = 0.1  # RestartSec=
    burst: int = 5  # StartLimitBurst= (DefaultStartLimitBurst)
    interval_s: float = 10.0  # StartLimitIntervalSec= (DefaultStartLimitIntervalSec)
    prevent: frozenset[int] = frozenset()  # RestartPreventExitStatus=

    @classmethod
    def from_unit(cls, path: Path) -> Restart | None:
        """The policy of a unit file; None when it does not restart on failure."""
        values: dict[str, str] = {}
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if line and not line.startswith(("#", ";", "[")) and "=" in line:
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip()
        if values.get("Restart", "no") not in ("on-failure", "always"):
            return None
        default = cls()
        return cls(
            delay_s=_unit_seconds(values["RestartSec"]) if "RestartSec" in values else default.delay_s,
            burst=int(values.get("StartLimitBurst", default.burst)),
            interval_s=(_unit_seconds(values["StartLimitIntervalSec"]) if "StartLimitIntervalSec" in values
                        else default.interval_s),
            prevent=frozenset(int(code) for code in values.get("RestartPreventExitStatus", "").split() if code.isdigit()),
        )

    def restarts_after(self, returncode: int) -> bool:
        """Would systemd restart a unit whose main process ended so (``Popen.returncode``)?"""
        if returncode < 0:
            return signal.Signals(-returncode) not in _CLEAN_SIGNALS
        return returncode != 0 and returncode not in self.prevent


def _ended(returncode: int) -> str:
    return f"killed by {signal.Signals(-returncode).name}" if returncode < 0 else f"exit code {returncode}"


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes]
    log_path: Path
    ready: Readiness
    notify: socket.socket | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=60))
    matched: threading.Event = field(default_factory=threading.Event)
    started_at: float = field(default_factory=time.monotonic)
    ready_after_s: float | None = None
    reader: threading.Thread | None = None
    restart: Restart | None = None
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    starts: deque[float] = field(default_factory=lambda: deque(maxlen=64))  # start times (the start limit)
    restart_at: float | None = None  # died; to be started again at this time
    restarts: int = 0
    waiting_ready: bool = False  # restarted, not ready yet
    given_up: bool = False  # not restarted any more (start limit, prevented exit code, clean exit)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(list(self.tail)[-lines:])


def port_holder(port: int) -> str:
    """Who listens on ``port`` (``ss`` names the process when it may), or ''."""
    if shutil.which("ss") is None:
        return ""
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=False).stdout
    found = re.search(r'users:\(\("([^"]+)",pid=(\d+)', out)
    return f"{found.group(1)} (pid {found.group(2)})" if found else ("another program" if out.strip() else "")


def check_ports(ports: Mapping[str, int], address: str = "127.0.0.1") -> None:
    """Fail with a clear message when one of ``ports`` (what → port) cannot be bound."""
    for what, port in ports.items():
        with socket.socket() as sock:
            try:
                sock.bind((address, port))
            except OSError:
                raise PortBusy(port, what, port_holder(port)) from None


def _short(line: str) -> str:
    """A structlog JSON line as ``level event key=value …``; anything else unchanged."""
    if not line.startswith("{"):
        return line
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict) or "event" not in record:
        return line
    level = str(record.pop("level", "info"))
    event = record.pop("event")
    for noise in ("timestamp", "logger", "service"):
        record.pop(noise, None)
    rest = " ".join(f"{k}={v}" for k, v in record.items())
    return f"{level:7} {event} {rest}".rstrip()


class Supervisor:
    def __init__(self, log_dir: Path, env: Mapping[str, str] | None = None, echo: bool = False,
                 out: IO[str] | None = None) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.base_env = dict(env if env is not None else os.environ)
        for inherited in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID"):
            self.base_env.pop(inherited, None)
        self.echo = echo
        self.out = out or sys.stdout
        self.children: list[Child] = []
        self._print_lock = threading.Lock()
        # Notify sockets live in a short private directory (AF_UNIX paths are limited to 108 bytes).
        self._sock_dir = Path(tempfile.mkdtemp(prefix="guardian-demo-"))
        self.width = 8

    # output -----------------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        with self._print_lock:
            print(text, file=self.out, flush=True)

    def note(self, text: str, loud: bool = False) -> None:
        """A decision of the supervisor: on the console (loud: framed, and on stderr too) and in supervisor.log."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        with (self.log_dir / "supervisor.log").open("a") as log:
            log.write(f"{stamp} {'ALERT ' if loud else ''}{text}\n")
        if not loud:
            self.say(f"demo: {text}")
            return
        banner = "!" * 78
        self.say(f"{banner}\ndemo: {text}\n{banner}")
        if self.out is not sys.stderr:
            print(f"demo: {text}", file=sys.stderr, flush=True)

    def _pump(self, child: Child, pattern: re.Pattern[str] | None) -> None:
        assert child.proc.stdout is not None
        with child.log_path.open("ab") as log:
            for raw in iter(child.proc.stdout.readline, b""):
                log.write(raw)
                log.flush()
                line = raw.decode(errors="replace").rstrip("\n")
                child.tail.append(line)
                if pattern is not None and not child.matched.is_set() and pattern.search(line):
                    child.matched.set()
                if self.echo:
                    with self._print_lock:
                        print(f"{child.name:>{self.width}} | {_short(line)}", file=self.out, flush=True)

    # starting ---------------------------------------------------------------------------------------
    def start(self, name: str, argv: Sequence[str], ready: Readiness, env: Mapping[str, str] | None = None,
              cwd: Path | None = None, restart: Restart | None = None) -> Child:
        """Start ``argv`` in its own process group; call :meth:`wait_ready` to wait for it.

        With ``restart``, :meth:`watch` starts it again when it dies (see the module's docstring).
        """
        full_env = {**self.base_env, **(env or {})}
        notify = None
        if isinstance(ready, Notify):
            path = self._sock_dir / f"{name}.sock"
            path.unlink(missing_ok=True)
            notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            notify.bind(str(path))
            full_env["NOTIFY_SOCKET"] = str(path)
        log_path = self.log_dir / f"{name}.log"
        child = Child(name, list(argv), self._popen(argv, full_env, cwd), log_path, ready, notify,
                      restart=restart, env=full_env, cwd=cwd)
        child.starts.append(child.started_at)
        self._read_output(child)
        self.children.append(child)
        self.width = max(self.width, len(name))
        return child

    @staticmethod
    def _popen(argv: Sequence[str], env: Mapping[str, str], cwd: Path | None) -> subprocess.Popen[bytes]:
        # pdeathsig fires when the *thread* that forked the child ends: start and restart children from
        # the supervisor's own (main) thread, never from a short-lived helper thread.
        command = [SETPRIV, "--pdeathsig", "TERM", "--", *argv] if SETPRIV is not None else list(argv)
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env=dict(env), cwd=cwd, start_new_session=True)

    def _read_output(self, child: Child) -> None:
        pattern = re.compile(child.ready.pattern) if isinstance(child.ready, Line) else None
        child.matched.clear()
        child.reader = threading.Thread(target=self._pump, args=(child, pattern), name=f"log-{child.name}",
                                        daemon=True)
        child.reader.start()

    def wait_ready(self, child: Child, timeout: float) -> float:
        """Block until ``child`` is ready; returns seconds since it started. Raises if it dies or times out."""
        deadline = child.started_at + timeout
        while True:
            if not child.alive:
                time.sleep(0.2)  # let the reader catch the last lines
                raise SupervisorError(f"{child.name} exited with code {child.proc.returncode} before it was ready "
                                      f"(log: {child.log_path})", child.log_tail())
            if self._is_ready(child, min(0.25, max(0.0, deadline - time.monotonic()))):
                child.ready_after_s = time.monotonic() - child.started_at
                return child.ready_after_s
            if time.monotonic() > deadline:
                raise SupervisorError(f"{child.name} was not ready after {timeout:.0f} s (log: {child.log_path})",
                                      child.log_tail())

    def _is_ready(self, child: Child, wait: float) -> bool:
        ready = child.ready
        if isinstance(ready, Notify):
            assert child.notify is not None
            child.notify.settimeout(max(wait, 0.01))
            try:
                message = child.notify.recv(4096).decode(errors="replace")
            except TimeoutError:
                return False
            return "READY=1" in message.splitlines()
        if isinstance(ready, Line):
            return child.matched.wait(wait)
        context = ssl.create_default_context(cafile=str(ready.ca_file)) if ready.ca_file else None
        try:
            with urllib.request.urlopen(ready.url, timeout=2, context=context) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(wait)
        return False

    def run(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None, stdin: str | None = None,
            timeout: float = 120.0) -> str:
        """Run a one-shot step to completion; its output goes to ``<name>.log``; returns stdout."""
        full_env = {**self.base_env, **(env or {})}
        result = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, env=full_env,
                                timeout=timeout, check=False)
        with (self.log_dir / f"{name}.log").open("a") as log:
            log.write(f"$ {' '.join(argv)}\n{result.stdout}{result.stderr}")
        if result.returncode != 0:
            raise SupervisorError(f"{name} failed with code {result.returncode}: {' '.join(argv)}",
                                  (result.stdout + result.stderr)[-3000:])
        return result.stdout

    # watching and stopping --------------------------------------------------------------------------
    def dead(self) -> list[Child]:
        return [c for c in self.children if not c.alive]

    def given_up(self) -> list[Child]:
        return [c for c in self.children if c.given_up]

    def watch(self) -> None:
        """Restart what died, as systemd would; call it every fraction of a second from the thread that
        started the children (the demo's main loop)."""
        now = time.monotonic()
        for child in self.children:
            if child.given_up:
                continue
            if child.alive:
                if child.waiting_ready and self._is_ready(child, 0.0):
                    child.waiting_ready = False
                    child.ready_after_s = time.monotonic() - child.started_at
                    self.note(f"{child.name} is running again (restart {child.restarts}, ready after "
                              f"{child.ready_after_s:.1f} s)")
                continue
            code = child.proc.returncode
            assert code is not None
            if child.restart_at is None:
                self._died(child, code, now)
            elif now >= child.restart_at:
                self._start_again(child, now)

    def _died(self, child: Child, code: int, now: float) -> None:
        policy = child.restart
        if policy is None or not policy.restarts_after(code):
            child.given_up = True
            why = "no restart policy" if policy is None else (
                "a clean stop" if code <= 0 else f"exit code {code} is RestartPreventExitStatus=, restarting "
                "does not fix it")
            self.note(f"{child.name} ended ({_ended(code)}); NOT restarted ({why}). The rest keeps running. "
                      f"Last output in {child.log_path}:\n{child.log_tail(15)}", loud=True)
            return
        child.restart_at = now + policy.delay_s
        self.note(f"{child.name} died ({_ended(code)}); restarting it in {policy.delay_s:g} s "
                  f"(Restart=on-failure, as its unit; log: {child.log_path})")

    def _start_again(self, child: Child, now: float) -> None:
        policy = child.restart
        assert policy is not None
        recent = [t for t in child.starts if now - t < policy.interval_s]
        if len(recent) >= policy.burst:
            child.given_up = True
            self.note(f"GAVE UP on {child.name}: started {len(recent)} times within {policy.interval_s:g} s "
                      f"(start limit, StartLimitBurst={policy.burst}); it stays stopped, the rest keeps running. "
                      f"Last output in {child.log_path}:\n{child.log_tail(15)}", loud=True)
            return
        if child.reader is not None:
            child.reader.join(2)  # the last lines of the run that died
        if child.proc.stdout is not None:
            child.proc.stdout.close()
        self._drain_notify(child)
        child.proc = self._popen(child.argv, child.env, child.cwd)
        child.started_at = now
        child.starts.append(now)
        child.restart_at = None
        child.restarts += 1
        child.waiting_ready = True
        self._read_output(child)

    @staticmethod
    def _drain_notify(child: Child) -> None:
        """Drop what the previous run sent (its READY=1 must not count for the new one)."""
        if child.notify is None:
            return
        child.notify.setblocking(False)
        try:
            while True:
                child.notify.recv(4096)
        except (BlockingIOError, OSError):
            pass
        finally:
            child.notify.setblocking(True)

    def stop(self, child: Child, timeout: float = 15.0) -> int | None:
        """SIGTERM to the child's process group, SIGKILL after ``timeout``; returns its exit code."""
        proc = child.proc
        if proc.poll() is None:
            self._signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.say(f"{child.name} did not stop within {timeout:.0f} s; killing it")
                self._signal_group(proc.pid, signal.SIGKILL)
                proc.wait(10)
        self._signal_group(proc.pid, signal.SIGKILL)  # anything it left behind in its group
        if child.reader is not None:
            child.reader.join(2)
        if proc.stdout is not None:
            proc.stdout.close()
        if child.notify is not None:
            child.notify.close()
            child.notify = None
        return proc.returncode

    @staticmethod
    def _signal_group(pgid: int, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signum)

    def stop_all(self, timeout: float = 15.0) -> dict[str, int | None]:
        """Stop every child, newest first (as systemd stops units: the detector before the uplink, the edge
        before the relay, the relay before the cloud)."""
        codes: dict[str, int | None] = {}
        for child in reversed(self.children):
            codes[child.name] = self.stop(child, timeout)
        self.children.clear()
        shutil.rmtree(self._sock_dir, ignore_errors=True)
        return codes
