"""A real Mosquitto for the tests: its own config, a free port, a password file; started and stopped by
the fixtures (and restarted by a test). And a subscriber that keeps what it receives."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

USER, PASSWORD = "guardian", "s3cret-broker-pass"
WAIT_S = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Mosquitto:
    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # A TLS listener besides the plain one (which the subscriber uses): the server's certificate and key files.
    tls: tuple[Path, Path] | None = None
    tls_port: int = field(default_factory=free_port)

    def write_config(self) -> Path:
        passwords = self.directory / "passwords"
        passwords.write_text("")
        subprocess.run(["mosquitto_passwd", "-b", str(passwords), USER, PASSWORD], check=True)
        passwords.chmod(0o600)
        config = self.directory / "mosquitto.conf"
        # No persistence: a restart forgets every retained message (what the publisher must make up for).
        # Run as whoever runs the tests (as root it would switch to a "mosquitto" user that cannot read here).
        user = pwd.getpwuid(os.geteuid()).pw_name
        text = (f"per_listener_settings false\nallow_anonymous false\npassword_file {passwords}\n"
                f"persistence false\nlog_dest stderr\nuser {user}\nlistener {self.port} 127.0.0.1\n")
        if self.tls is not None:
            text += f"listener {self.tls_port} 127.0.0.1\ncertfile {self.tls[0]}\nkeyfile {self.tls[1]}\n"
        config.write_text(text)
        return config

    def start(self) -> None:
        config = self.directory / "mosquitto.conf"
        if not config.exists():
            self.write_config()
        self.process = subprocess.Popen([mosquitto_binary(), "-c", str(config)], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + WAIT_S
        ports = [self.port, self.tls_port] if self.tls is not None else [self.port]
        while True:  # until it listens (it has no readiness notification without systemd)
            try:
                for port in ports:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("mosquitto did not start") from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=WAIT_S)
            self.process = None


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if found is None:
        raise RuntimeError("mosquitto is not installed (scripts/setup.d/56-mqtt.sh)")
    return found


class Subscriber:
    """Subscribes to ``#`` (discovery included); keeps every message, retained or not."""

    def __init__(self, port: int, username: str = USER, password: str = PASSWORD) -> None:
        self.messages: list[tuple[str, bytes, bool, int]] = []  # topic, payload, retained, received (monotonic ns)
        self._changed = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.username_pw_set(username, password)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.on_connect = lambda client, *args: client.subscribe("#", qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not subscribed.wait(WAIT_S):
            raise RuntimeError("the subscriber was not subscribed")

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._changed:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain), time.monotonic_ns()))
            self._changed.notify_all()

    def wait_for(self, topic: str, check: Callable[[bytes], bool] = lambda _: True, after: int = 0) -> bytes:
        """The first payload on ``topic`` (from the ``after``-th message on) that passes ``check``."""
        deadline = time.monotonic() + WAIT_S
        with self._changed:
            while True:
                for t, payload, _, _ in self.messages[after:]:
                    if t == topic and check(payload):
                        return payload
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = sorted({t for t, *_ in self.messages})
                    raise AssertionError(f"nothing on {topic} passed the check; topics seen: {seen}")
                self._changed.wait(left)

    def latest(self, topic: str) -> bytes | None:
        with self._changed:
            found = [payload for t, payload, *_ in self.messages if t == topic]
        return found[-1] if found else None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
