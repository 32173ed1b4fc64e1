"""Browser decryption of an archived 10 MB clip: headless Chromium running the UI's own decryptor
(ui/src/archive: hash-wasm Argon2id + WebCrypto AES-GCM), with the edge's Python decryptor on the same
file in the same run as the baseline.

    .venv/bin/python bench/archive_browser_decrypt.py [--rounds 5] [--clip PATH]

1. A ~10 MB H.264 clip is made from the footage (~/.cache/guardian/vtest.mp4 re-encoded at 1 Mbit/s,
   faststart), unless --clip names one, and encrypted by agents/edge/archive with the edge's defaults
   (Argon2id 64 MiB, t=3, p=1; 1 MiB chunks).
2. ui/src/archive/{cid,decrypt}.ts are bundled with rolldown (from ui/node_modules) into a page served
   to Chromium under the cloud's CSP ('wasm-unsafe-eval' for the WASM). Per round, in the page: the CID
   check (SHA-256 of the ciphertext), Argon2id, then the unwrap + all chunks, then the Blob. The download
   is excluded (the file is already in memory). The first round also pays for compiling the WASM.
3. Python (cryptography + argon2-cffi, native): the same CID check, derivation and decryption.
Figures are medians over ``--rounds`` (and each round for the browser); nothing is asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.edge.archive.crypto import (  # noqa: E402
    DEFAULT_CHUNK_SIZE,
    Header,
    KdfParams,
    decrypt_bytes,
    derive_kek,
    encrypt_bytes,
    unwrap,
)
from agents.relay.archive_store import cid_of_bytes  # noqa: E402

UI = ROOT / "ui"
FOOTAGE = Path.home() / ".cache" / "guardian" / "vtest.mp4"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; object-src 'none'"
SECRET = "bench: Winter-orchard 7 lanterns & a quiet fox"
ORIGIN = "http://localhost:9"  # routed by Playwright; localhost is a secure context (WebCrypto needs one)

ENTRY = """
import { verifyCid } from "%(ui)s/src/archive/cid.ts";
import { openArchive } from "%(ui)s/src/archive/decrypt.ts";
window.benchRound = async (secret, cid) => {
  const file = window.benchFile;
  const t0 = performance.now();
  await verifyCid(file, cid);
  const t1 = performance.now();
  const opened = await openArchive(file, secret);
  const blob = new Blob(opened.parts, { type: "video/mp4" });
  const t2 = performance.now();
  return { cidMs: t1 - t0, deriveMs: opened.deriveMs, decryptMs: opened.decryptMs, totalMs: t2 - t0, size: blob.size };
};
window.benchLoad = async () => {
  window.benchFile = new Uint8Array(await (await fetch("/clip.garc")).arrayBuffer());
  return window.benchFile.length;
};
"""


def make_clip(out: Path) -> Path:
    if not FOOTAGE.is_file():
        sys.exit(f"{FOOTAGE} missing: run scripts/setup.sh (scripts/setup.d/20-video.sh)")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(FOOTAGE), "-c:v", "libx264", "-preset", "veryfast",
                    "-b:v", "1000k", "-maxrate", "1000k", "-bufsize", "2000k", "-pix_fmt", "yuv420p",
                    "-movflags", "+faststart", "-an", str(out)], check=True)
    return out


def bundle(work: Path) -> Path:
    entry = work / "entry.js"
    entry.write_text(ENTRY % {"ui": UI})
    out = work / "dist"
    rolldown = UI / "node_modules" / ".bin" / "rolldown"
    if not rolldown.exists():
        sys.exit("ui/node_modules missing: cd ui && npm install")
    subprocess.run([str(rolldown), str(entry), "--dir", str(out), "--format", "esm", "--minify"], check=True,
                   cwd=UI, stdout=subprocess.DEVNULL)
    return out


def browser_rounds(dist: Path, blob: bytes, cid: str, rounds: int) -> tuple[list[dict[str, float]], str]:
    from playwright.sync_api import sync_playwright

    files = {p.name: p.read_bytes() for p in dist.iterdir()}
    page_html = b'<!doctype html><meta charset=utf-8><script type=module src="/entry.js"></script>'

    def serve(route) -> None:
        name = route.request.url.removeprefix(ORIGIN + "/")
        if name in ("", "index.html"):
            route.fulfill(body=page_html, headers={"Content-Type": "text/html", "Content-Security-Policy": CSP})
        elif name == "clip.garc":
            route.fulfill(body=blob, headers={"Content-Type": "application/octet-stream"})
        elif name in files:
            route.fulfill(body=files[name], headers={"Content-Type": "text/javascript"})
        else:
            route.fulfill(status=404, body=b"")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            version = browser.version
            page = browser.new_page()
            page.set_default_timeout(120_000)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route(f"{ORIGIN}/**", serve)
            page.goto(ORIGIN + "/")
            page.wait_for_function("typeof window.benchRound === 'function'")
            assert page.evaluate("window.benchLoad()") == len(blob)
            results = [page.evaluate("([s, c]) => window.benchRound(s, c)", [SECRET, cid]) for _ in range(rounds)]
            if errors:
                sys.exit(f"page errors: {errors}")
            return results, version
        finally:
            browser.close()


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clip", type=Path, help="the plaintext clip (default: a ~10 MB re-encode of the footage)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="guardian-bench-") as tmp:
        work = Path(tmp)
        clip = args.clip or make_clip(work / "clip.mp4")
        plain = clip.read_bytes()
        kek = derive_kek(SECRET, params=KdfParams())
        blob = encrypt_bytes(plain, kek, DEFAULT_CHUNK_SIZE)
        cid = cid_of_bytes(blob)
        header = Header.parse(blob)
        chunks = -(-len(plain) // header.chunk_size)

        # Python (native) baseline, same file, same run.
        py: dict[str, list[float]] = {"cid": [], "derive": [], "decrypt": [], "total": []}
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            assert cid_of_bytes(blob) == cid
            t1 = time.perf_counter()
            k = derive_kek(SECRET, header.salt, header.params)
            t2 = time.perf_counter()
            unwrap(header, k)
            assert decrypt_bytes(blob, kek=k) == plain
            t3 = time.perf_counter()
            py["cid"].append((t1 - t0) * 1000)
            py["derive"].append((t2 - t1) * 1000)
            py["decrypt"].append((t3 - t2) * 1000)
            py["total"].append((t3 - t0) * 1000)

        dist = bundle(work)
        results, version = browser_rounds(dist, blob, cid, args.rounds)
        for r in results:
            assert r["size"] == len(plain)

    br = {k: [r[f"{k}Ms"] for r in results] for k in ("cid", "derive", "decrypt", "total")}
    p = header.params
    print(f"clip: {len(plain):,} bytes ({len(plain) / 1e6:.1f} MB) H.264; ciphertext {len(blob):,} bytes, "
          f"{chunks} chunks of {header.chunk_size // 1024} KiB; Argon2id m={p.m_cost_kib} KiB t={p.t_cost} "
          f"p={p.parallelism}; {args.rounds} rounds, medians")
    print(f"browser: Chromium {version}, hash-wasm Argon2id (WASM) + WebCrypto AES-256-GCM (ui/src/archive)")
    print(f"{'':26}{'browser':>12}{'python':>12}{'ratio':>8}")
    rows = [("CID check (SHA-256)", "cid"), ("Argon2id derivation", "derive"),
            ("unwrap + decrypt chunks", "decrypt"), ("total (no download)", "total")]
    for label, key in rows:
        b, q = median(br[key]), median(py[key])
        print(f"{label:26}{b:10.1f}ms{q:10.1f}ms{b / q:7.1f}x")
    mb = len(plain) / 1e6
    print(f"decrypt throughput: browser {mb / (median(br['decrypt']) / 1000):.0f} MB/s, "
          f"python {mb / (median(py['decrypt']) / 1000):.0f} MB/s")
    print("browser rounds (cid/derive/decrypt/total ms): " + "; ".join(
        f"{r['cidMs']:.0f}/{r['deriveMs']:.0f}/{r['decryptMs']:.0f}/{r['totalMs']:.0f}" for r in results))
    print(json.dumps({"browser_ms": {k: round(median(v), 1) for k, v in br.items()},
                      "python_ms": {k: round(median(v), 1) for k, v in py.items()},
                      "plain_bytes": len(plain), "sha256": hashlib.sha256(plain).hexdigest()}))


if __name__ == "__main__":
    if shutil.which("ffmpeg") is None:
        sys.exit("ffmpeg missing")
    main()
