"""Structured JSON logs on stdout (journald keeps them) that never carry secrets or personal data.

Redaction runs on every event dict, for structlog loggers and for the standard library's loggers
(uvicorn, grpc, sqlalchemy) alike, so a credential cannot slip out through a third-party library:

- values of keys that name a secret (``password``, ``token``, ``secret``, ``authorization``, …);
- credentials inside URLs (``rtsp://user:pass@cam`` → ``rtsp://***@cam``);
- bearer tokens, JWTs and e-mail addresses anywhere inside a string;
- secret-named fields inside text, quoted or not (``"password": "…"``, ``password='…'``, ``token=…``), so a
  JSON body or an object's ``repr`` is safe too.

Containers (dicts, lists, tuples, sets, dataclasses) are walked to any depth; bytes are decoded first;
any other object is rendered with ``str`` and that text is redacted.

Under systemd the stream is journald's: each line then starts with its syslog priority (``<4>`` for a
warning, sd-daemon(3)), so journald stores it at that level and ``journalctl -p warning`` on the box or the
operator's central journal finds the warnings and errors (without it every line is stored as info).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

REDACTED = "[redacted]"

_SECRET_WORDS = r"pass(?:word|wd|phrase)?|secret|token|authori[sz]ation|api[_-]?key|private[_-]?key|credential|cookie"
_SECRET_KEY = re.compile(_SECRET_WORDS, re.IGNORECASE)
# Every pattern starts where a run of its characters starts (look-behind) and does not give characters
# back (possessive ``*+``): redaction stays linear in the text's length, so a long log field cannot stall
# the program (a pattern free to start anywhere in a 50 kB run of letters took minutes).
_URL_CREDENTIALS = re.compile(
    r"(?<![a-z0-9+.-])(?P<scheme>[a-z][a-z0-9+.-]*+://)[^/\s@:]*+(:[^/\s@]*+)?@", re.IGNORECASE
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
# Header and payload are base64url JSON, so the header starts eyJ ('{"'); "alg": "none" has no signature.
_JWT = re.compile(r"(?<![A-Za-z0-9])eyJ[A-Za-z0-9_-]{5,}+\.[A-Za-z0-9_-]{2,}+\.[A-Za-z0-9_-]*+")
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]++@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# key=value pairs that carry secrets, in URL queries (?token=…) and in free text (password=…).
_SECRET_QUERY = re.compile(
    r"(?i)(\b(?:token|access_token|refresh_token|sig|signature|key|password|passwd|secret)=)[^&\s\"',;]+"
)
# A key with a quoted value, as in JSON ("password": "…") or a repr (password='…'); the value is
# redacted when the key names a secret (_redact_pair).
_QUOTED_PAIR = re.compile(
    r"""(?<![\w-])(?P<key>[\w-]++)(?P<sep>["']?\s*+[:=]\s*+)(?P<value>"(?:[^"\\\n]|\\.)*+"|'(?:[^'\\\n]|\\.)*+')"""
)

# Every pattern above needs one of these to match (URL credentials and e-mails an "@", a bearer or basic
# credential its word, a JWT "eyJ", a quoted pair a quote, a query pair "="): text without any of them,
# like most fields of most lines, is returned as is after one scan instead of six substitutions.
_MAY_HOLD_SECRET = re.compile(r"""[@="']|eyJ|bearer|basic""", re.IGNORECASE)


def _redact_pair(match: re.Match[str]) -> str:
    key, sep, value = match["key"], match["sep"], match["value"]
    quote, inner = value[0], value[1:-1]
    if _SECRET_KEY.search(key):
        return f"{key}{sep}{quote}{REDACTED}{quote}"
    return f"{key}{sep}{quote}{_QUOTED_PAIR.sub(_redact_pair, inner)}{quote}"  # a repr inside a value


def redact_text(text: str) -> str:
    """Remove credentials and personal data from free text."""
    if not _MAY_HOLD_SECRET.search(text):
        return text
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}***@", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    text = _QUOTED_PAIR.sub(_redact_pair, text)
    text = _SECRET_QUERY.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    return _EMAIL.sub("[email]", text)


def redact_value(key: str | None, value: Any) -> Any:
    if key is not None and _SECRET_KEY.search(key) and value not in (None, "", False):
        return REDACTED
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return redact_text(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, Mapping):
        return {str(k): redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(None, v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return redact_value(key, dataclasses.asdict(value))
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    # Anything else would be rendered with str() after redaction: redact that text instead.
    return redact_text(str(value))


def redact_event(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: redact every field of the event."""
    return {key: redact_value(key if key != "event" else None, value) for key, value in event_dict.items()}


def _render_exception(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    # Tracebacks can quote URLs and tokens too: render them first, then redaction sees the text.
    return structlog.processors.format_exc_info(_logger, _method, event_dict)


# sd-daemon(3) priorities by the record's level; there is no NOTICE level in Python.
_SYSLOG_PRIORITY = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


def syslog_priority(levelno: int) -> int:
    return next((priority for level, priority in _SYSLOG_PRIORITY if levelno >= level), 7)


def is_journal_stream(stream: TextIO) -> bool:
    """Whether ``stream`` is connected to journald: systemd sets ``JOURNAL_STREAM`` to the device and inode
    of the service's stdout/stderr stream (systemd.exec(5)); a pipe or terminal the service was handed
    has other ones."""
    try:
        device, inode = (int(part) for part in os.environ.get("JOURNAL_STREAM", "").split(":"))
        status = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):  # unset or malformed, or no file descriptor (StringIO)
        return False
    return (status.st_dev, status.st_ino) == (device, inode)


class _JournalPriority(logging.Formatter):
    """Prefixes each line with its syslog priority for journald (sd-daemon(3))."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return f"<{syslog_priority(record.levelno)}>{self.inner.format(record)}"


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send all logs (structlog and stdlib) as one JSON object per line to ``stream`` (stdout), each
    line with its syslog priority first when the stream is journald's."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _render_exception,
            redact_event,
            structlog.processors.JSONRenderer(default=str),
        ],
    )
    stream = stream or sys.stdout
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_JournalPriority(formatter) if is_journal_stream(stream) else formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str, **context: Any) -> structlog.stdlib.BoundLogger:
    """A logger with ``context`` (camera, device, tenant …) bound to every line.

    It stays lazy: created at import time, it still uses the configuration made later in ``main``.
    """
    return structlog.stdlib.get_logger(name, **context)
