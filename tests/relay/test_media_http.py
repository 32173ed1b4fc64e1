"""The relay's media endpoint over the real path: browser → relay HTTPS → EdgeMedia gRPC (mutual TLS) →
the edge's events table and files. A real relay and a real edge uplink, in tls mode on loopback, with
the enrolment and uplink done the way the demo does them.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from guardian.contracts import auth
from guardian.contracts.auth.keys import b64d, b64e
from tests.relay.tlsstack import PYTHON, ROOT, TENANT, UI_ORIGIN, TlsStack, wait_for

CLIP = os.urandom(3_000_000) + b"GUARDIAN-END"  # several 256 KiB chunks, recognisable bytes
SNAPSHOT = b"\xff\xd8\xff\xe0snapshot" + os.urandom(20_000)
THUMBNAIL = b"\xff\xd8\xff\xe0thumb" + os.urandom(3_000)
# The edge's track points: unix time, normalised box, score.
TRACK = [[1_764_651_858.25, 0.1, 0.2, 0.3, 0.9, 0.81], [1_764_651_859.5, 0.15, 0.25, 0.35, 0.95, 0.77]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsStack]:
    st = TlsStack(tmp_path_factory.mktemp("tlsstack"))
    try:
        st.start_relay()
        result = st.enrol()
        assert result.returncode == 0, result.stderr
        st.event_id = st.add_event(CLIP, SNAPSHOT, THUMBNAIL)  # type: ignore[attr-defined]
        st.no_clip_event = st.add_event(None, SNAPSHOT, THUMBNAIL)  # type: ignore[attr-defined]
        st.tracked_event = st.add_event(None, None, None, track=TRACK)  # type: ignore[attr-defined]
        st.start_edge()
        wait_for(lambda: {st.event_id, st.no_clip_event, st.tracked_event} <= st.relay_events(), 30,  # type: ignore[attr-defined]
                 "events at the relay")
        yield st
    finally:
        st.close()
        for name in st.logs:
            print(f"===== {name} =====\n{st.log_tail(name, 40)}")


@pytest.fixture
def http(stack: TlsStack) -> Iterator[httpx.Client]:
    with httpx.Client(verify=ssl.create_default_context(cafile=str(stack.ca_cert)), timeout=20) as client:
        yield client


def _get(http: httpx.Client, stack: TlsStack, event_id: str, name: str = "clip.mp4", token: str | None = None,
         **headers: str) -> httpx.Response:
    token = token if token is not None else stack.clip_token(event_id)
    return http.get(stack.media_url(event_id, name), params={"token": token} if token else {},
                    headers={k.replace("_", "-"): v for k, v in headers.items()})


# --- tls mode: enrolment and uplink ------------------------------------------------------------------


def test_tls_mode_enrols_with_a_certificate_and_events_reach_the_relay(stack: TlsStack) -> None:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate((stack.edge_data / "uplink" / "tls.pem").read_bytes())
    assert cert.subject.rfc4514_string() == f"CN={stack.device_id}"
    key = stack.edge_data / "uplink" / "tls.key"
    assert key.stat().st_mode & 0o077 == 0  # the device's private key is private
    assert not (stack.edge_data / "uplink" / "wireguard.key").exists()  # no WireGuard in this mode
    # The relay stored the event with its edge-only metadata, received over the mutual-TLS uplink.
    assert stack.event_id in stack.relay_events()  # type: ignore[attr-defined]
    # A client without a device certificate cannot open the uplink.
    script = f"""
import grpc, sys
from guardian.contracts.edge.v1 import uplink_pb2, uplink_pb2_grpc
creds = grpc.ssl_channel_credentials(open({str(stack.ca_cert)!r}, 'rb').read())
ch = grpc.secure_channel('127.0.0.1:{stack.uplink_port}', creds)
try:
    list(uplink_pb2_grpc.UplinkStub(ch).Stream(iter([uplink_pb2.UplinkMessage(message_id=1)]), timeout=5))
except grpc.RpcError as exc:
    print(exc.code().name)
"""
    out = subprocess.run([PYTHON, "-c", script], check=False, capture_output=True, text=True, cwd=ROOT, timeout=30,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "UNAVAILABLE", out  # the TLS handshake itself is refused


# --- ranges ------------------------------------------------------------------------------------------


def test_full_get_is_the_file_byte_for_byte_with_cors(stack: TlsStack, http: httpx.Client) -> None:
    response = _get(http, stack, stack.event_id, Origin=UI_ORIGIN)  # type: ignore[attr-defined]
    assert response.status_code == 200
    assert response.content == CLIP
    assert response.content == stack.clip_path(stack.event_id).read_bytes()  # type: ignore[attr-defined]
    h = response.headers
    assert h["content-type"] == "video/mp4"
    assert h["accept-ranges"] == "bytes"
    assert int(h["content-length"]) == len(CLIP)
    assert h["access-control-allow-origin"] == UI_ORIGIN
    assert "access-control-allow-credentials" not in h
    assert "Content-Range" in h["access-control-expose-headers"]
    assert h["cross-origin-resource-policy"] == "cross-origin"
    assert h["content-disposition"].startswith("inline")
    download = http.get(stack.media_url(stack.event_id), params={"token": stack.clip_token(stack.event_id),  # type: ignore[attr-defined]
                                                                 "download": "1"}, headers={"Range": "bytes=0-0"})
    assert download.headers["content-disposition"].startswith("attachment")
    # Another origin gets no CORS grant.
    other = _get(http, stack, stack.event_id, Origin="https://evil.example", Range="bytes=0-0")  # type: ignore[attr-defined]
    assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-", 0, len(CLIP) - 1),  # the player's first request
        ("bytes=0-0", 0, 0),  # the UI's probe
        ("bytes=0-1023", 0, 1023),  # first bytes
        ("bytes=1000000-1299999", 1_000_000, 1_299_999),  # middle, across chunk boundaries
        ("bytes=2999000-", 2_999_000, len(CLIP) - 1),  # open range (seek near the end)
        ("bytes=-500", len(CLIP) - 500, len(CLIP) - 1),  # suffix (the moov atom at the end)
        ("bytes=2999990-9999999", 2_999_990, len(CLIP) - 1),  # end past the file: clamped
        ("bytes=-99999999", 0, len(CLIP) - 1),  # suffix longer than the file: all of it
    ],
)
def test_ranges(stack: TlsStack, http: httpx.Client, header: str, start: int, end: int) -> None:
    response = _get(http, stack, stack.event_id, Range=header)  # type: ignore[attr-defined]
    assert response.status_code == 206, response.text
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(CLIP)}"
    assert response.headers["accept-ranges"] == "bytes"
    assert int(response.headers["content-length"]) == end - start + 1
    assert response.content == CLIP[start : end + 1]


@pytest.mark.parametrize("header", ["bytes=3000012-", "bytes=9999999-10000000", "bytes=500-100", "bytes=abc",
                                    "bytes=-0", "bytes=-"])
def test_invalid_or_unsatisfiable_range_is_416(stack: TlsStack, http: httpx.Client, header: str) -> None:
    response = _get(http, stack, stack.event_id, Range=header)  # type: ignore[attr-defined]
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(CLIP)}"
    assert response.json()["error"] == "range_not_satisfiable"


def test_head_gives_the_size_without_the_body(stack: TlsStack, http: httpx.Client) -> None:
    token = stack.clip_token(stack.event_id)  # type: ignore[attr-defined]
    response = http.head(stack.media_url(stack.event_id), params={"token": token})  # type: ignore[attr-defined]
    assert response.status_code == 200 and response.content == b""
    assert int(response.headers["content-length"]) == len(CLIP)
    ranged = http.head(stack.media_url(stack.event_id), params={"token": token}, headers={"Range": "bytes=10-19"})  # type: ignore[attr-defined]
    assert ranged.status_code == 206 and ranged.headers["content-range"] == f"bytes 10-19/{len(CLIP)}"


def test_snapshot_and_thumbnail_are_jpeg(stack: TlsStack, http: httpx.Client) -> None:
    for name, data in (("snapshot.jpg", SNAPSHOT), ("thumbnail.jpg", THUMBNAIL)):
        response = _get(http, stack, stack.event_id, name)  # type: ignore[attr-defined]
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/jpeg"
        assert response.content == data


def test_track_json_holds_the_boxes_and_times_for_a_snapshot_token(stack: TlsStack, http: httpx.Client) -> None:
    ev = stack.tracked_event  # type: ignore[attr-defined]
    response = _get(http, stack, ev, "track.json", token=stack.clip_token(ev, scopes=("snapshot",)), Origin=UI_ORIGIN)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == UI_ORIGIN
    body = response.json()
    assert body["event_id"] == ev and body["label"] == "person" and body["start"].endswith("Z")
    times = [datetime.fromisoformat(p["at"]).timestamp() for p in body["points"]]
    assert times == pytest.approx([point[0] for point in TRACK], abs=1e-3)
    assert [[round(v, 4) for v in p["box"]] for p in body["points"]] == [[0.1, 0.2, 0.3, 0.9], [0.15, 0.25, 0.35, 0.95]]
    assert body["best"] == 0  # the point with the highest score: the snapshot's frame
    assert "score" not in response.text  # the boxes, not the model's scores
    # A clip- or thumbnail-only token does not show the boxes; another device's token finds nothing.
    for scopes in (("clip",), ("thumbnail",)):
        refused = _get(http, stack, ev, "track.json", token=stack.clip_token(ev, scopes=scopes))
        assert (refused.status_code, refused.json()["error"]) == (403, "wrong_scope")
    assert _get(http, stack, "not-cached-event", "track.json").status_code == 404


def test_a_download_is_named_for_people(stack: TlsStack, http: httpx.Client) -> None:
    ev = stack.event_id  # type: ignore[attr-defined]
    params = {"token": stack.clip_token(ev), "download": "1"}
    named = http.get(stack.media_url(ev), params={**params, "name": "front_2026-12-02_05-04-18_person.mp4"},
                     headers={"Range": "bytes=0-0"})
    assert named.headers["content-disposition"] == 'attachment; filename="front_2026-12-02_05-04-18_person.mp4"'
    # A name that is not a plain .mp4 file name is replaced by one built from the cache (UTC).
    for bad in ('x".mp4', "../x.mp4", "x.exe", "a b.mp4"):
        built = http.get(stack.media_url(ev), params={**params, "name": bad}, headers={"Range": "bytes=0-0"})
        disposition = built.headers["content-disposition"]
        assert disposition.startswith('attachment; filename="front_') and disposition.endswith('_person.mp4"'), bad


def test_image_requests_get_errors_without_a_json_body(stack: TlsStack, http: httpx.Client) -> None:
    """Chromium's ORB blocks a JSON answer to an <img>: image requests get the status with an empty body."""
    gone = stack.tracked_event  # type: ignore[attr-defined]  # no snapshot, no thumbnail
    image = _get(http, stack, gone, "thumbnail.jpg", Sec_Fetch_Dest="image", Accept="image/avif,image/webp,*/*")
    assert image.status_code == 404 and image.content == b""
    assert image.headers["x-media-error"] == "media_gone" and "json" not in image.headers.get("content-type", "")
    refused = _get(http, stack, gone, "snapshot.jpg", token="", Accept="image/*")
    assert refused.status_code == 401 and refused.content == b"" and refused.headers["x-media-error"] == "token_missing"
    # API clients keep the JSON.
    api = _get(http, stack, gone, "thumbnail.jpg", Accept="application/json")
    assert api.status_code == 404 and api.json()["error"] == "media_gone"


def test_cors_preflight_for_range(stack: TlsStack, http: httpx.Client) -> None:
    response = http.options(stack.media_url(stack.event_id), headers={  # type: ignore[attr-defined]
        "Origin": UI_ORIGIN, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "range"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == UI_ORIGIN
    assert "range" in response.headers["access-control-allow-headers"].lower()


# --- refusals ----------------------------------------------------------------------------------------


def _tamper(token: str) -> str:
    prefix, payload, signature = token.split(".")
    claims = json.loads(b64d(payload))
    claims["evt"] = "someone-elses-event"
    return ".".join([prefix, b64e(json.dumps(claims).encode()), signature])


@pytest.mark.parametrize("token_format", ["gt1", "jwt"])
def test_bad_tokens_are_refused(stack: TlsStack, http: httpx.Client, token_format: auth.TokenFormat) -> None:
    """Refused alike in both formats (this release's relay accepts both, docs/tokens.md)."""
    ev = stack.event_id  # type: ignore[attr-defined]
    other_key = auth.generate_private_key()

    def token(event_id: str, **kwargs: object) -> str:
        return stack.clip_token(event_id, token_format=token_format, **kwargs)  # type: ignore[arg-type]

    assert _get(http, stack, ev, token=token(ev), Range="bytes=0-0").status_code == 206
    cases = [
        ("", 401, "token_missing"),
        (token(ev, ttl=60, now=time.time() - 600), 401, "token_expired"),
        (_tamper(token(ev)), 401, "token_invalid"),
        (token(ev, key=other_key), 401, "token_invalid"),
        (token(ev, tenant="tenant-other"), 403, "wrong_tenant"),
        (token(stack.no_clip_event), 403, "wrong_event"),  # type: ignore[attr-defined]
        (token(ev, scopes=("thumbnail",)), 403, "wrong_scope"),
        (token(ev, device="dev-0000000000000000"), 403, "unknown_device"),
        (token(ev, relay_url="https://other-relay.example"), 403, "wrong_relay"),
    ]
    for refused, status, code in cases:
        response = _get(http, stack, ev, token=refused)
        assert (response.status_code, response.json()["error"]) == (status, code), code
        assert response.headers["cross-origin-resource-policy"] == "cross-origin"
        assert b"GUARDIAN-END" not in response.content


def _hand_minted(stack: TlsStack, event_id: str, token_format: auth.TokenFormat, lifetime: int) -> str:
    """A clip token signed with the cloud's key by hand, living ``lifetime`` s (the minting functions
    refuse more than 300 s, so a longer one can only be made like this: by a leaked-key holder or a
    cloud bug)."""
    import secrets

    import jwt
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = stack.token_key
    assert isinstance(key, Ed25519PrivateKey)
    issued = int(time.time()) - 5
    claims: dict[str, object] = {
        "tid": TENANT, "dev": stack.device_id, "evt": event_id, "scp": ["clip"], "url": stack.relay_url,
        "iat": issued, "exp": issued + lifetime, "jti": secrets.token_urlsafe(16),
    }
    if token_format == "jwt":
        return jwt.encode({"iss": "guardian-cloud", "aud": "guardian-relay", **claims}, key, algorithm="EdDSA",
                          headers={"typ": "guardian-clip+jwt", "kid": auth.key_id(key)})
    payload = b64e(json.dumps({"typ": "clip", "kid": auth.key_id(key), **claims}, sort_keys=True,
                              separators=(",", ":")).encode())
    return f"gt1.{payload}.{b64e(key.sign(b'guardian-token-v1.' + payload.encode()))}"


@pytest.mark.parametrize("token_format", ["gt1", "jwt"])
def test_a_clip_token_living_longer_than_300_s_is_refused(stack: TlsStack, http: httpx.Client,
                                                          token_format: auth.TokenFormat) -> None:
    """The relay holds the cloud to the 300 s cap itself (docs/tokens.md): a token signed with the right
    key for the right event, tenant, device and relay, valid now, is refused only for its lifetime."""
    ev = stack.event_id  # type: ignore[attr-defined]
    at_cap = _get(http, stack, ev, token=_hand_minted(stack, ev, token_format, 300), Range="bytes=0-0")
    assert at_cap.status_code == 206  # the hand-made envelope is right: at the cap it is served
    for lifetime in (301, 3600, 30 * 86400):
        response = _get(http, stack, ev, token=_hand_minted(stack, ev, token_format, lifetime), Range="bytes=0-0")
        assert (response.status_code, response.json()["error"]) == (401, "token_invalid"), lifetime
        assert b"GUARDIAN-END" not in response.content


def test_clip_gone_is_404(stack: TlsStack, http: httpx.Client) -> None:
    # An event whose clip was never assembled.
    response = _get(http, stack, stack.no_clip_event)  # type: ignore[attr-defined]
    assert response.status_code == 404 and response.json()["error"] == "media_gone"
    # A clip that retention deleted: the event row stays, the file is gone.
    gone = stack.add_event(b"x" * 1000)
    stack.clip_path(gone).unlink()
    response = _get(http, stack, gone)
    assert response.status_code == 404 and response.json()["error"] == "media_gone"
    # Not one of the three media names.
    assert _get(http, stack, stack.event_id, "clip.avi").status_code == 404  # type: ignore[attr-defined]


def _state(directory: Path) -> dict[str, tuple[int, str]]:
    return {str(p.relative_to(directory)): (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_nothing_is_written_to_disk_on_the_relay(stack: TlsStack, http: httpx.Client) -> None:
    marker = CLIP[1_500_000:1_500_064]
    before = _state(stack.relay_state)
    for _ in range(3):
        assert _get(http, stack, stack.event_id).content == CLIP  # type: ignore[attr-defined]
    after = _state(stack.relay_state)
    assert set(after) == set(before), "new files appeared in the relay's state dir"
    for name, (size, _digest) in after.items():
        # The SQLite files may change (heartbeats); nothing may grow by anything like a clip.
        assert size - before[name][0] < 64 * 1024, name
        assert marker not in (stack.relay_state / name).read_bytes(), name
    # And nothing under the relay's working directory or /tmp holds the clip's bytes either.
    tmp_hits = [p for p in Path("/tmp").glob("*") if p.is_file() and p.stat().st_size >= len(CLIP)
                and marker in p.read_bytes()]
    assert not tmp_hits


# --- edge offline, device revoked (these change the stack: keep them last) -----------------------------


def test_edge_offline_is_503_with_a_clear_body(stack: TlsStack, http: httpx.Client) -> None:
    stack.stop("edge")
    response = _get(http, stack, stack.event_id, Range="bytes=0-0")  # type: ignore[attr-defined]
    assert response.status_code in (503, 504)
    body = response.json()
    assert body["error"] in ("device_offline", "device_timeout") and "camera box" in body["detail"]
    # Back online: served again without restarting the relay.
    stack.start_edge()
    response = wait_for(lambda: (r := _get(http, stack, stack.event_id, Range="bytes=0-9")).status_code == 206 and r,  # type: ignore[attr-defined]
                        20, "the clip after the edge came back", interval=0.2)
    assert response.content == CLIP[:10]


def test_revoked_device_is_refused(stack: TlsStack, http: httpx.Client) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([PYTHON, "-m", "agents.relay.cli", "device", "revoke", "-c", str(stack.relay_config),
                          stack.device_id], check=False, capture_output=True, text=True, cwd=ROOT, env=env, timeout=30)
    assert out.returncode == 0, out.stderr
    response = _get(http, stack, stack.event_id)  # type: ignore[attr-defined]
    assert response.status_code == 403 and response.json()["error"] == "device_revoked"
