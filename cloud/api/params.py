"""Shared input types for the edge of the API: every text and every date a client sends goes through them.

- :data:`Text`: a string without control characters (U+0000–U+001F, U+007F). PostgreSQL refuses NUL in
  ``text`` and would answer 500; the others have no business in a name, label or id either. Used by every
  text field of a request body and every text path or query parameter; the OpenAPI document carries it
  as a ``pattern``.
- :data:`Timestamp`: an ISO 8601 date and time with a zone, between :data:`EARLIEST` and :data:`LATEST`
  (UTC). Outside that range the arithmetic and the conversion to UTC of a request would overflow (year 1
  at +12:00 is before year 1 in UTC): a clear 422 instead of a 500. Numbers (Unix times) are refused:
  the schema says ``date-time``.

Both refuse with the ordinary 422 ``invalid_request`` whose details name the field and the problem.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, BeforeValidator, Field
from pydantic_core import PydanticCustomError

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# The same rule as a JSON Schema pattern (documentation; validation is _printable's, with a clear message).
NO_CONTROL_PATTERN = r"^[^\x00-\x1f\x7f]*$"

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
_ISO_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
# The range in the schema's own terms, for clients and fuzzers that read only standard keywords: ISO
# form with a zone and a year from 1971 to 9997 (a day inside the bounds whatever the zone; the exact
# bounds are formatMinimum/formatExclusiveMaximum, in UTC).
DATE_TIME_PATTERN = (
    r"^(197[1-9]|19[89][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-7])-[0-9]{2}-[0-9]{2}[Tt ]"
    r"[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)


def _printable(value: str) -> str:
    if CONTROL_CHARACTERS.search(value):
        raise PydanticCustomError("control_characters", "must not contain control characters (such as NUL, tab or a line break)")
    return value


def _document_pattern(schema: dict[str, Any]) -> None:
    # A field with its own, stricter pattern keeps it (that pattern excludes control characters already).
    schema.setdefault("pattern", NO_CONTROL_PATTERN)


Text = Annotated[str, AfterValidator(_printable), Field(json_schema_extra=_document_pattern)]
"""A string without control characters; add length limits with ``Field``/``Query``/``Path`` as usual."""


def _iso_only(value: object) -> object:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATE_TIME.match(value):
        raise PydanticCustomError("date_time_format", "must be an ISO 8601 date and time with a zone, e.g. 2024-01-01T00:00:00Z")
    return value


def _iso(value: datetime) -> str:
    return f"{value:%Y-%m-%dT%H:%M:%SZ}"


def _bounded(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise PydanticCustomError("date_time_zone", "needs a time zone, e.g. 2024-01-01T00:00:00Z")
    # Aware datetimes compare without converting either one, so this cannot overflow.
    if not EARLIEST <= value < LATEST:
        raise PydanticCustomError("date_time_range", f"must be from {_iso(EARLIEST)} to before {_iso(LATEST)}")
    return value.astimezone(UTC)


Timestamp = Annotated[
    datetime,
    BeforeValidator(_iso_only),
    AfterValidator(_bounded),
    Field(json_schema_extra={"formatMinimum": _iso(EARLIEST), "formatExclusiveMaximum": _iso(LATEST),
                             "pattern": DATE_TIME_PATTERN}),
]
"""An aware date and time from 1970-01-01T00:00:00Z to before 9999-01-01T00:00:00Z, returned in UTC."""

PathId = Annotated[Text, Path(min_length=1, max_length=128, description="An id (no control characters).")]
"""An id in a path (event, device, camera, member, relay, CID)."""
