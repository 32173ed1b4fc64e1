"""The API against its own OpenAPI document: schemathesis, every check, on SQLite and on PostgreSQL.

Every operation gets its examples, its coverage cases (boundaries, missing parameters, methods it does not
have) and a bounded number of generated requests (``MAX_EXAMPLES``; derandomized, so every run sends the
same requests), signed out and signed in as a tenant admin (bearer token). Each answer
must be one the document promises (status, headers, body schema), no 5xx, schema-valid requests accepted
and schema-invalid ones refused.

Left out, with why:
- ``GET /api/v1/events/stream``: a live stream that never ends on its own, so there is no answer to
  validate; tests/cloud/test_live.py covers it.
- The routes a relay signs (``/api/v1/ingest``, ``/api/v1/relay/…``) get a third run, signed by the
  tenant's relay (RFC 9421 over the exact request, made by a ``requests`` auth that sees the final bytes),
  instead of the admin's bearer, which they do not take. ``POST /api/v1/ingest`` is left out of that
  run: its body is a protobuf ``IngestBatch`` in the proto3 JSON mapping, documented as an opaque object
  (the message: guardian/contracts/cloud/v1/), so generated objects are refused for fields the
  message does not have; tests/cloud/test_ingest.py covers it, and the signed-out run still covers it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.pytest._test_builder import build_operation_test
from schemathesis.python import asgi

from cloud.api.main import create_app
from cloud.core.db import migrate
from guardian.contracts import auth
from tests.cloud.conftest import PgServer, RelayHandle, add_relay, make_settings, signup, test_client

# Per operation and run (fuzzing phase). All six runs (three, on both databases) take about 2.5 min on
# the 2 shared cores of the development machine (18-32 s each).
MAX_EXAMPLES = 25
_ENDLESS = "/api/v1/events/stream"
_SIGNED_BY_RELAY = r"^/api/v1/(ingest|relay/)"

# Where a schema-valid request is still refused with 422 for a rule JSON Schema cannot state, the
# positive-data check also accepts 422 (every other check stays on). The 422s are documented.
_CONTENT_RULES = {
    # A password's strength (zxcvbn) and an address' own rules (no special-use domain such as .test).
    "^/api/v1/auth/signup$": "password strength, e-mail address rules",
    "^/api/v1/tenant/members$": "password strength, e-mail address rules",
    "^/api/v1/users/me/password$": "password strength",
    # since/until: the range of one request is bounded per bucket (two parameters together).
    "^/api/v1/events/counts$": "length of the time range",
    # Names unique within a list (cameras, zones, masks; threshold labels): a rule over items' fields.
    "^/api/v1/devices/[^/]+/config$": "unique camera, zone, mask and threshold-label names; an MQTT CA in PEM, with TLS",
    # Notifications: a known IANA time zone, the tenant's own cameras, quiet hours that end; a key on the curve.
    "^/api/v1/notifications/(rules|subscriptions)$": "known time zone and cameras, a P-256 point",
}
_CONFIG = SchemathesisConfig.from_dict({"operations": [
    {"include-path-regex": path,
     "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]}}}
    for path in _CONTENT_RULES
] + [
    # A long poll: with nothing new, each request would wait its generated `wait` (up to 30 s); always 0 here,
    # tests/cloud/test_config_long_poll.py covers the waiting and the bounds.
    {"include-path-regex": "^/api/v1/relay/configs$", "parameters": {"query.wait": 0}},
]})


@dataclass
class Api:
    app: Any
    token: str
    relay: RelayHandle


class RelaySignature(requests.auth.AuthBase):
    """Signs the request as it will be sent: method, path with query, body bytes (after serialization)."""

    def __init__(self, relay: RelayHandle) -> None:
        self.relay = relay

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        url = urlsplit(request.url or "")
        body = request.body or b""
        assert isinstance(body, bytes | str), "a streamed body cannot be signed"  # schemathesis sends whole ones
        request.headers.update(auth.sign_relay_request(
            self.relay.key, relay_id=self.relay.id, method=request.method or "GET",
            path=url.path + (f"?{url.query}" if url.query else ""),
            body=body.encode() if isinstance(body, str) else body))
        return request


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, signing_key: Any) -> Iterator[Api]:
    name = ""
    if request.param == "sqlite":
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('schemathesis')) / 'cloud.db'}"
        migrate(url)
    else:
        server: PgServer = request.getfixturevalue("pg_server")
        template: str = request.getfixturevalue("pg_template")
        name = f"t_{uuid.uuid4().hex[:12]}"
        url = server.create_db(name, template)
    app = create_app(make_settings(url, signing_key))
    relay = add_relay(app, "relay-schemathesis")  # sign-up assigns it to the tenant
    with test_client(app) as client:
        member = signup(client, "admin@schemathesis.example.org")
    try:
        yield Api(app, member.token, relay)
    finally:
        asgi.shutdown_lifespans()  # schemathesis keeps each app's lifespan running until told
        if name:
            request.getfixturevalue("pg_server").drop_db(name)


def _run(api: Api, headers: dict[str, str], exclude_regex: str | None = None, include_regex: str | None = None,
         signer: RelaySignature | None = None) -> list[str]:
    """Every operation of the document, every phase; returns the failures (operation: what failed)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app, config=_CONFIG).exclude(path=_ENDLESS)
    if exclude_regex:
        schema = schema.exclude(path_regex=exclude_regex)
    if include_regex:
        schema = schema.include(path_regex=include_regex)
    failures: list[str] = []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            failures.append(f"the document itself: {result.err()}")
            continue
        operation = result.ok()

        def check(case: Any) -> None:
            case.call_and_validate(headers=headers, auth=signer)

        # What schema.parametrize() builds per operation (its lazy, fixture-based form needs pytest's
        # subtests, which this pytest no longer offers): every phase the config enables (examples,
        # coverage: boundaries and unsupported methods, fuzzing), with _SETTINGS.
        test = build_operation_test(config=schema.config, operation=operation, test_func=check, given_kwargs={},
                                    feedback=FeedbackSources(), explicit_settings=_SETTINGS)
        try:
            test()
        except (Exception, FailureGroup) as exc:  # collected: one run names every failing operation
            # schemathesis' message: each distinct failure, the answer and a curl command to reproduce it.
            failures.append(f"{operation.label}: {str(exc).strip()}")
    return failures


_SETTINGS = settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
                     suppress_health_check=list(HealthCheck))


def test_signed_out(api: Api) -> None:
    failures = _run(api, {})
    assert not failures, "\n\n".join(failures)


def test_signed_in_admin(api: Api) -> None:
    failures = _run(api, {"Authorization": f"Bearer {api.token}"}, exclude_regex=_SIGNED_BY_RELAY)
    assert not failures, "\n\n".join(failures)


def test_signed_by_relay(api: Api) -> None:
    failures = _run(api, {}, include_regex=_SIGNED_BY_RELAY, exclude_regex="^/api/v1/ingest$",
                    signer=RelaySignature(api.relay))
    assert not failures, "\n\n".join(failures)


# What the run above found, pinned on its own (both databases, through conftest's client).


def test_allow_names_every_method_of_the_path(client) -> None:
    """405 and OPTIONS named only the first route's method (``Allow: GET`` for GET and PATCH /tenant)."""
    r = client.options("/api/v1/tenant")
    assert r.status_code == 204 and r.headers["allow"] == "GET, OPTIONS, PATCH", (r.status_code, r.headers)
    r = client.delete("/api/v1/tenant")
    assert r.status_code == 405 and r.headers["allow"] == "GET, OPTIONS, PATCH", (r.status_code, r.headers)
    assert r.json()["error"]["code"] == "method_not_allowed"
    r = client.put("/api/v1/devices/some-device")
    assert r.status_code == 405 and r.headers["allow"] == "DELETE, GET, OPTIONS, PATCH", r.headers
    # A CORS preflight is still CORS's to answer.
    r = client.options("/api/v1/tenant", headers={"Origin": "https://app.example.org",
                                                  "Access-Control-Request-Method": "PATCH"})
    assert r.status_code == 200 and "PATCH" in r.headers["access-control-allow-methods"], r.headers


def test_an_unreadable_body_is_the_documented_422(client) -> None:
    """Not UTF-8: FastAPI's 400, which no operation documents; now the 422 every body error gets."""
    r = client.post("/api/v1/auth/login", content=b"\x11\xc3au", headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_request" and r.json()["error"]["details"][0]["field"] == "body"
