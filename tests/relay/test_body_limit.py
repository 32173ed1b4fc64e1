"""The relay's public HTTPS listener (enrolment, key rotation, /media) holds no stranger's large body: a body
over the limit is answered 413 before it is read in full, and the connection is closed so the rest is
never read. A real relay process (tls mode, loopback), a streaming client that counts what it got to send.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import httpx
import pytest

from agents.relay.enrolment import MAX_BODY_BYTES
from tests.relay.tlsstack import TlsStack

BIG = 32 * 1024 * 1024  # the size that was read in full to answer 422
CHUNK = 64 * 1024


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsStack]:
    st = TlsStack(tmp_path_factory.mktemp("bodylimit"))
    try:
        st.start_relay()
        yield st
    finally:
        st.close()
        print(f"===== relay =====\n{st.log_tail('relay', 40)}")


@pytest.fixture
def http(stack: TlsStack) -> Iterator[httpx.Client]:
    with httpx.Client(verify=ssl.create_default_context(cafile=str(stack.ca_cert)), timeout=30) as client:
        yield client


class Body:
    """A body of ``total`` bytes that counts how much of it the client got to hand to the socket."""

    def __init__(self, total: int) -> None:
        self.total, self.given = total, 0

    def __iter__(self) -> Iterator[bytes]:
        block = b"x" * CHUNK
        while self.given < self.total:
            self.given += CHUNK
            yield block


@pytest.mark.parametrize("path", ["/api/v1/enrol", "/api/v1/rotate", "/media/v1/events/ev-1/clip.mp4"])
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_large_body_is_refused_before_it_is_read(stack: TlsStack, http: httpx.Client, path: str,
                                                   declared: bool) -> None:
    body = Body(BIG)
    headers = {"Content-Type": "application/json"}
    if declared:
        headers["Content-Length"] = str(BIG)
    # httpcore reads the answer when the server stops taking the body (a write error), as browsers do.
    method = "GET" if path.startswith("/media") else "POST"
    response = http.request(method, f"{stack.relay_url}{path}", content=body, headers=headers)
    assert response.status_code == 413, (response.status_code, response.text[:200])
    assert response.json()["error"] == "too_large"
    assert response.headers["connection"] == "close"
    # The server stopped reading: the client could hand over only what the socket buffers took
    # (a few MB on loopback), never the whole body.
    assert body.given < BIG // 2, body.given


def test_a_body_at_the_limit_still_reaches_the_route(stack: TlsStack, http: httpx.Client) -> None:
    # Just under the limit: read in full and judged by the route (a refused token), not by size.
    filler = "x" * (MAX_BODY_BYTES - 200)
    response = http.post(f"{stack.relay_url}/api/v1/enrol",
                         json={"token": "not-a-token", "public_key": "k", "csr": None, "pad": filler})
    assert response.status_code != 413
    chunked = http.post(f"{stack.relay_url}/api/v1/enrol", content=Body(MAX_BODY_BYTES - CHUNK),
                        headers={"Content-Type": "application/json"})
    assert chunked.status_code == 422  # not JSON, but read to the end: the limit did not cut it


def test_the_relay_lives_on_and_says_what_it_refused(stack: TlsStack, http: httpx.Client) -> None:
    http.post(f"{stack.relay_url}/api/v1/enrol", content=b"x" * (MAX_BODY_BYTES + 1))
    assert http.get(f"{stack.relay_url}/healthz").json() == {"status": "ok"}
    assert '"request_body_too_large"' in stack.log_tail("relay", 400)
