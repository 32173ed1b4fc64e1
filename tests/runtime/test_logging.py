"""Secrets and personal data never reach a log line, whichever logger wrote it."""

from __future__ import annotations

import io
import json
import logging

import pytest

from guardian.runtime.logging import configure_logging, get_logger, redact_text

SECRETS = [
    "hunter2",  # RTSP password
    "s3cr3t-token-value",
    "Zm9vYmFyYmF6cXV4",  # bearer token
    "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ0ZW5hbnQtMSJ9.c2lnbmF0dXJlc2lnbmF0dXJl",  # a JWT
    "alice@example.com",
    "correct horse battery staple",
    "wg-private-key-material",
    "query-secret-abc",
]


@pytest.fixture
def captured():
    stream = io.StringIO()
    configure_logging("DEBUG", stream=stream)
    yield stream
    configure_logging("INFO")


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_structlog_fields_and_messages_are_redacted(captured):
    log = get_logger("test", camera="front")
    log.info("camera_connecting", url="rtsp://admin:hunter2@10.0.0.5:554/stream1")
    log.info("enrolled", token="s3cr3t-token-value", private_key="wg-private-key-material")
    log.info("request", headers={"Authorization": "Bearer Zm9vYmFyYmF6cXV4", "Accept": "*/*"})
    log.warning("user said hello from alice@example.com")
    log.info("login", password="correct horse battery staple", user_email="alice@example.com")
    log.info("clip_link", link="https://relay.example/clip?event=1&token=eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ0ZW5hbnQtMSJ9.c2lnbmF0dXJlc2lnbmF0dXJl")
    log.info("fetch", url="https://relay/x?sig=query-secret-abc&n=1")

    text = captured.getvalue()
    for secret in SECRETS:
        assert secret not in text, secret
    records = lines(captured)
    assert len(records) == 7
    # What is safe stays useful: host, path, camera context, header names.
    assert records[0]["url"] == "rtsp://***@10.0.0.5:554/stream1"
    assert records[0]["camera"] == "front" and records[0]["level"] == "info"
    assert records[2]["headers"]["Accept"] == "*/*"
    assert records[5]["link"].startswith("https://relay.example/clip?event=1&token=")


def test_stdlib_loggers_and_tracebacks_are_redacted(captured):
    logging.getLogger("uvicorn.error").warning("connect to rtsp://admin:hunter2@cam/1 failed for alice@example.com")
    try:
        raise ConnectionError("could not open rtsp://admin:hunter2@cam/1 with token=s3cr3t-token-value")
    except ConnectionError:
        get_logger("test").exception("camera_failed")
    text = captured.getvalue()
    for secret in SECRETS:
        assert secret not in text, secret
    records = lines(captured)
    assert records[0]["logger"] == "uvicorn.error"
    assert "rtsp://***@cam/1" in records[0]["event"]
    assert "ConnectionError" in records[1]["exception"]


JWT = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ0ZW5hbnQtMSJ9.c2lnbmF0dXJlc2lnbmF0dXJl"
UNSIGNED_JWT = "eyJhbGciOiJub25lIn0.e30."  # alg none, empty claims: short segments, no signature


def test_jwts_in_plain_text_are_redacted(captured):
    log = get_logger("test")
    log.info(f"relay presented {JWT} for event 1")
    log.info("clip", note=f"token was {JWT}, expired", other=f"({UNSIGNED_JWT})")
    logging.getLogger("uvicorn.access").info("GET /clip/%s HTTP/1.1", JWT)
    log.info("blob", body=f'{{"access_token":"{JWT}"}}'.encode())
    text = captured.getvalue()
    assert JWT not in text and UNSIGNED_JWT not in text
    assert "eyJ" not in text
    records = lines(captured)
    assert records[0]["event"] == "relay presented [redacted] for event 1"
    assert records[1]["note"] == "token was [redacted], expired"


def test_secrets_in_lists_and_nested_dicts_are_redacted(captured):
    log = get_logger("test")
    log.info("settings_loaded", settings={"password": "hunter2", "camera": {"url": "rtsp://admin:hunter2@cam/1",
                                                                            "api_key": "query-secret-abc"}})
    log.info("batch", items=[JWT, "alice@example.com", {"secret": "s3cr3t-token-value"}, ("Bearer Zm9vYmFyYmF6cXV4",)])
    log.info("tokens", tokens=["s3cr3t-token-value", JWT])  # a secret-named key: all of it
    log.info("nested", cameras=[{"name": "front", "credentials": {"user": "admin", "passwd": "hunter2"}}],
             hosts={"edge": ["rtsp://admin:hunter2@cam/2"]}, ids=frozenset({"alice@example.com"}))
    log.info("body", text='{"email": "x", "password": "correct horse battery staple", "private_key": "wg-private-key-material"}')
    log.info("repr", text="Settings(password='hunter2', secret_key=\"query-secret-abc\")")
    text = captured.getvalue()
    for secret in SECRETS:
        assert secret not in text, secret
    records = lines(captured)
    assert records[0]["settings"]["password"] == "[redacted]"
    assert records[0]["settings"]["camera"]["url"] == "rtsp://***@cam/1"
    assert records[0]["settings"]["camera"]["api_key"] == "[redacted]"
    assert records[1]["items"][:2] == ["[redacted]", "[email]"]
    assert records[1]["items"][2] == {"secret": "[redacted]"}
    assert records[2]["tokens"] == "[redacted]"
    assert records[3]["cameras"][0]["name"] == "front"
    assert records[3]["cameras"][0]["credentials"] == "[redacted]"
    assert records[3]["hosts"] == {"edge": ["rtsp://***@cam/2"]}


def test_objects_rendered_as_text_are_redacted(captured):
    from dataclasses import dataclass

    @dataclass
    class Settings:
        url: str
        password: str

    class Opaque:
        def __str__(self) -> str:
            return "Opaque(url=rtsp://admin:hunter2@cam/3, secret='query-secret-abc', owner=alice@example.com)"

    get_logger("test").info("loaded", settings=Settings(url="rtsp://admin:hunter2@cam/1", password="hunter2"),
                            thing=Opaque())
    text = captured.getvalue()
    for secret in SECRETS:
        assert secret not in text, secret
    record = lines(captured)[0]
    assert record["settings"] == {"url": "rtsp://***@cam/1", "password": "[redacted]"}
    assert record["thing"] == "Opaque(url=rtsp://***@cam/3, secret='[redacted]', owner=[email])"


def test_redaction_stays_linear_on_long_text():
    """Long fields (a blob, a base64 body) redact in linear time: patterns free to start anywhere in a long
    run of letters backtracked quadratically (a 50 kB field took seconds to minutes per line)."""
    import time

    from guardian.runtime.logging import redact_text

    for text in ("a" * 200_000, "password" * 25_000, "a." * 100_000, "a@" * 100_000, "https://" + "a" * 200_000,
                 "k: '" + "a" * 200_000, "eyJ" + "a" * 200_000):
        started = time.perf_counter()
        redact_text(text)
        assert time.perf_counter() - started < 1.0, text[:20]
    assert redact_text("x" * 1000 + " mail bob@example.org " + "y" * 1000).count("[email]") == 1


@pytest.mark.parametrize(("text", "secret"), [
    ("connecting to rtsp://admin:hunter2@cam/1", "hunter2"),  # URL credentials: only "@" gives them away
    ("header was Bearer Zm9vYmFyYmF6cXV4", "Zm9vYmFyYmF6cXV4"),
    ("header was BASIC dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy"),
    ("got eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ0ZW5hbnQtMSJ9.c2lnbmF0dXJl", "c2lnbmF0dXJl"),
    ("{password: 'hunter2'}", "hunter2"),
    ("?token=s3cr3t-token-value", "s3cr3t-token-value"),
    ("from alice@example.com", "alice"),
])
def test_each_kind_of_secret_is_found_on_its_own(text, secret):
    """Text is scanned once for what any secret needs (a quick path for plain fields): each kind, alone
    in its line, still reaches its redaction."""
    assert secret not in redact_text(text)


def test_plain_text_passes_unchanged():
    for text in ("/api/v1/events/{event_id}", "GET", "cloud.access", "2026-01-02T03:04:05.678Z", "ünïcode ok"):
        assert redact_text(text) == text


JOURNAL_PROGRAM = """
import logging, sys
from guardian.runtime.logging import configure_logging, get_logger
configure_logging("DEBUG")
log = get_logger("test")
log.debug("detail"); log.info("started"); log.warning("slow"); log.error("failed")
logging.getLogger("uvicorn.error").critical("down")
"""


def _run_with_stdout_to(path, journal_stream: str | None) -> list[str]:
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    if journal_stream is not None:
        env["JOURNAL_STREAM"] = journal_stream
    with open(path, "w") as out:
        subprocess.run([sys.executable, "-c", JOURNAL_PROGRAM], stdout=out, env=env, check=True,
                       cwd=Path(__file__).resolve().parents[2])
    return Path(path).read_text().splitlines()


def test_lines_carry_their_syslog_priority_when_stdout_is_journald(tmp_path):
    """systemd names the stream it connected (JOURNAL_STREAM=device:inode); lines on that stream start with
    sd-daemon(3)'s ``<N>`` so journald stores warnings and errors at their priority, not all as info."""
    import os

    out = tmp_path / "stdout"
    out.touch()
    status = os.stat(out)
    journal = _run_with_stdout_to(out, f"{status.st_dev}:{status.st_ino}")
    assert [line[:3] for line in journal] == ["<7>", "<6>", "<4>", "<3>", "<2>"]
    assert [json.loads(line[3:])["event"] for line in journal] == ["detail", "started", "slow", "failed", "down"]

    # Another stream than the one systemd named (the program's output piped or redirected): plain JSON.
    other = tmp_path / "other"
    other.touch()
    plain = _run_with_stdout_to(other, f"{status.st_dev}:{status.st_ino}")
    assert [json.loads(line)["level"] for line in plain] == ["debug", "info", "warning", "error", "critical"]
    assert [json.loads(line)["level"] for line in _run_with_stdout_to(out, None)][1] == "info"
    assert [json.loads(line)["level"] for line in _run_with_stdout_to(out, "garbage")][2] == "warning"
