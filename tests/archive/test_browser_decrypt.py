"""The archived copy played in real headless Chromium: edge encryption → relay Archive gRPC → SeaweedFS
(weed mini) → cloud record, ingested event and presigned download → the UI (ui/dist served by the cloud)
fetches the ciphertext cross-origin from the store, checks it against its CID, asks for the secret,
derives the key with hash-wasm's Argon2id, decrypts with WebCrypto and plays it from a Blob URL.

Also: a wrong secret and a damaged download each show their own message; the secret never appears in
any request the browser makes, in its storage or DOM, nor in the relay's or the cloud's databases and
logs. And the committed Vitest fixtures (ui/src/archive/fixtures) still open with the edge's Python code.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from agents.edge.archive.crypto import decrypt_bytes
from agents.relay.archive_store import cid_of_bytes
from cloud.api.main import create_app
from cloud.core.db import migrate
from tests.archive import test_end_to_end as e2e
from tests.archive.conftest import BUCKET, READER_KEY, READER_SECRET, Seaweed, add_clip_event
from tests.archive.test_end_to_end import DEVICE, SECRET, captured_logs, world  # noqa: F401 (fixture)
from tests.cloud import batches
from tests.cloud.conftest import add_relay, make_settings
from tests.cloud.servers import serve

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "ui" / "dist"
FIXTURES = ROOT / "ui" / "src" / "archive" / "fixtures"
ARTIFACTS = ROOT / "test-artifacts" / "archive"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
TIMEOUT_MS = 30_000
WRONG = "Winter-orchard 7 lanterns & a quiet cat"


def test_vitest_fixtures_open_with_the_edge_code() -> None:
    """The files the browser tests decrypt are real edge output: Python opens them to the same bytes."""
    meta = json.loads((FIXTURES / "fixtures.json").read_text())
    for name in ("small", "default"):
        blob = (FIXTURES / meta[name]["file"]).read_bytes()
        assert cid_of_bytes(blob) == meta[name]["cid"]
        plain = decrypt_bytes(blob, meta["secret"])
        assert plain == bytes((i * 31 + 7) % 251 for i in range(meta[name]["plain_size"]))
        assert hashlib.sha256(plain).hexdigest() == meta[name]["plain_sha256"]


@pytest.fixture
def cloud_app(tmp_path: Path, seaweed: Seaweed) -> Any:
    """The cloud serving ui/dist, with the store as its archive endpoint (so it is in the UI's CSP)."""
    from guardian.contracts import auth

    if not (DIST / "index.html").is_file():
        pytest.fail("ui/dist is not built; run scripts/setup.sh (scripts/setup.d/80-ui.sh builds it)")
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    migrate(url)
    settings = make_settings(url, auth.generate_private_key(), auth={"cookie_secure": False},
                             http={"ui_dir": str(DIST), "cors_origins": []},
                             archive={"endpoint_url": seaweed.endpoint, "bucket": BUCKET,
                                      "access_key_id": READER_KEY, "secret_access_key": READER_SECRET})
    return create_app(settings)


@pytest.fixture
def cloud_url(cloud_app: Any) -> Any:
    with serve(cloud_app) as url:
        yield url


def test_browser_decrypts_and_plays_archived_clip(tmp_path, seaweed, cloud_app, cloud_url, footage_mp4,
                                                  captured_logs, capfd, monkeypatch) -> None:  # noqa: F811
    seaweed.empty()
    relays: list[Any] = []

    def remember_relay(app: Any, name: str) -> Any:
        relays.append(add_relay(app, name))
        return relays[-1]

    monkeypatch.setattr(e2e, "add_relay", remember_relay)

    async def main() -> tuple[Any, str]:
        async with world(tmp_path, seaweed, cloud_app, cloud_url, footage_mp4) as w:
            event_id = add_clip_event(w.edge_sessions, w.data_dir, footage_mp4)
            await w.uploader.run_once()
            return w, event_id

    w, event_id = asyncio.run(main())
    item = w.item(event_id)
    assert item.status == "stored", item.reason
    plain = w.clip(event_id)
    plain_sha = hashlib.sha256(plain).hexdigest()
    assert seaweed.keys() == [item.cid]

    # The event summary reaches the cloud the real way: the tenant's relay's signed ingestion.
    relay = relays[0]
    body = batches.batch(relay.id, events=[batches.event(DEVICE, "porch", "person",
                                                         datetime.now(UTC) - timedelta(minutes=2),
                                                         event_id=event_id, seconds=20)])
    response = httpx.post(cloud_url + "/api/v1/ingest", content=body,
                          headers={**relay.headers("POST", "/api/v1/ingest", body), "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert [r["cid"] for r in w.cloud("GET", f"/api/v1/archives?event_id={event_id}").json()] == [item.cid]

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    requests: list[dict[str, Any]] = []
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=cloud_url, viewport={"width": 1280, "height": 1000})
            context.on("request", lambda r: requests.append(
                {"url": r.url, "method": r.method, "headers": r.headers, "body": r.post_data_buffer or b""}))
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            # (Console errors from the sign-in probe's 401 and the unreachable test relay are expected.)
            page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)

            page.goto("/login")
            page.get_by_label("E-mail").fill(w.member.email)
            page.get_by_label("Password").fill(w.member.password)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("heading", name="Dashboard", level=1).wait_for()

            page.goto(f"/events/{event_id}")
            page.get_by_role("heading", name="Person on porch").wait_for()
            section = page.locator("section.archive")
            section.get_by_role("button", name="Play archived copy").click()

            # The secret is asked for only once the download matched its CID.
            secret = section.get_by_label("Archive secret")
            secret.wait_for()
            fetched = [r for r in requests if r["url"].startswith(seaweed.endpoint)]
            assert len(fetched) == 1 and f"/{BUCKET}/{item.cid}?" in fetched[0]["url"]
            assert "cookie" not in {k.lower() for k in fetched[0]["headers"]}
            page.screenshot(path=str(ARTIFACTS / "archive-secret.png"), full_page=True)

            # A wrong secret: a clear message, and another try on the same download.
            secret.fill(WRONG)
            section.get_by_role("button", name="Decrypt and play").click()
            section.get_by_role("alert").filter(has_text="Wrong archive secret").wait_for()
            assert secret.input_value() == ""
            page.screenshot(path=str(ARTIFACTS / "archive-wrong-secret.png"), full_page=True)

            secret.fill(SECRET)
            section.get_by_role("button", name="Decrypt and play").click()
            video = section.locator("video[data-sha256]")
            video.wait_for()
            assert video.get_attribute("data-sha256") == plain_sha  # exactly the original bytes
            assert (video.get_attribute("src") or "").startswith("blob:")
            # Argon2id and the decryption ran in a Web Worker, not on the page's main thread.
            assert video.get_attribute("data-opened-in") == "worker"
            page.evaluate("v => { v.muted = true; return v.play(); }", video.element_handle())
            page.wait_for_function("v => v.currentTime > 1.0 && !v.paused", arg=video.element_handle())
            assert page.evaluate("v => [v.videoWidth, v.videoHeight]", video.element_handle()) == [768, 576]
            assert len([r for r in requests if r["url"].startswith(seaweed.endpoint)]) == 1  # no second fetch
            page.screenshot(path=str(ARTIFACTS / "archive-playing.png"), full_page=True)

            # Nothing of the secret stays in the page or its storage.
            stored = page.evaluate("""() => JSON.stringify([document.documentElement.outerHTML,
                Object.entries(localStorage), Object.entries(sessionStorage), document.cookie])""")
            assert SECRET not in stored and WRONG not in stored

            # A damaged download (one byte flipped in transit) is refused before the secret is asked for.
            def flip(route: Any) -> None:
                upstream = route.fetch()
                data = bytearray(upstream.body())
                data[len(data) // 2] ^= 1
                route.fulfill(response=upstream, body=bytes(data))

            page.route(f"{seaweed.endpoint}/**", flip)
            page.reload()
            section.get_by_role("button", name="Play archived copy").click()
            alert = section.get_by_role("alert")
            alert.filter(has_text="The download is damaged or not this clip").wait_for()
            assert "content ID" in alert.inner_text()
            assert section.get_by_label("Archive secret").count() == 0
            page.screenshot(path=str(ARTIFACTS / "archive-damaged.png"), full_page=True)
            context.close()
        finally:
            browser.close()
    assert not errors, errors

    # The store's object is still the ciphertext (the browser only read it).
    blob = seaweed.client().get_object(Bucket=BUCKET, Key=item.cid)["Body"].read()
    assert cid_of_bytes(blob) == item.cid and decrypt_bytes(blob, SECRET) == plain

    # The secret never left the browser: not in any request it made (URL, headers, body) …
    needles = {"secret": SECRET.encode(), "wrong secret": WRONG.encode(),
               "secret (url-encoded)": SECRET.replace(" ", "%20").encode(),
               "secret (form-encoded)": SECRET.replace(" ", "+").encode(),
               "secret (hex)": SECRET.encode().hex().encode(), "secret (base64)": base64.b64encode(SECRET.encode())}
    sent = b"\n".join(r["url"].encode() + repr(sorted(r["headers"].items())).encode() + r["body"] for r in requests)
    assert len(requests) > 10
    # … nor reached the relay or the cloud: databases, logs, relay → cloud requests, the store's log.
    out, err = capfd.readouterr()
    dumps = {
        "browser requests": sent,
        "relay db": "\n".join(sqlite3.connect(tmp_path / "relay" / "relay.db").iterdump()).encode(),
        "cloud db": "\n".join(sqlite3.connect(tmp_path / "cloud.db").iterdump()).encode(),
        "logs": (captured_logs.getvalue() + out + err).encode(),
        "relay → cloud requests": b"\n".join(w.requests),
        "store log": seaweed.log.read_bytes(),
    }
    assert item.cid.encode() in dumps["cloud db"] and b"/api/v1/archives/" in dumps["logs"] + sent
    leaks = [f"{what} in {where}" for what, needle in needles.items() for where, text in dumps.items() if needle in text]
    assert not leaks, leaks
