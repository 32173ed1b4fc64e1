"""Secrets and personal data never reach a log line, whichever logger wrote it."""

from __future__ import annotations

import io
import json
import logging

import pytest

from guardian.runtime.logging import configure_logging, get_logger

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
