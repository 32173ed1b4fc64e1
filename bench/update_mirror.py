"""A wave of edges updating through their relay's update mirror (issue #19) against the same edges fetching
from the release origin directly, in the same run.

    sudo .venv/bin/python bench/update_mirror.py [--size-mib 100] [--edges 8] [--link-mbit 200]

A release of one ``--size-mib`` file (random bytes: nothing compresses) is published with a gpg-signed
SHA256SUMS; ``--edges`` copies of the edge's downloader, systemd-pull with signature checking (what
systemd-sysupdate runs), fetch it at once:

    direct        from the origin, every edge (the baseline: no mirror)
    mirror cold   through a fresh mirror (agents/relay/update_mirror.py as its own process): one download from
                  the origin, which every edge reads as it arrives
    mirror warm   through the same mirror again: from its cache

Every byte from the origin crosses one link of ``--link-mbit`` shared by all connections (the relay's way to the
internet, which edges behind it would share too; 0: as fast as the machine goes); the mirror and the edges are
local (the tunnel's own speed is not modelled). Per scenario: wall time until the last edge is done, bytes the
origin sent, and the aggregate rate to the edges. Nothing is asserted.
Needs root (systemd-pull's keyring is bind-mounted in a mount namespace).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.relay.mirror_process import MirrorProcess  # noqa: E402
from tests.relay.release_files import Origin, ReleaseKey, publish, pull, version_file  # noqa: E402

IMAGE = "guardian-edge"


def wave(url: str, edges: int, workdir: Path, keyring: Path) -> float:
    """Seconds until every edge has the file (each checked by systemd-pull against the signed index)."""
    started = time.monotonic()
    with ThreadPoolExecutor(edges) as pool:
        results = list(pool.map(lambda i: pull(url, workdir / f"edge-{i}.efi", keyring, timeout=3600), range(edges)))
    elapsed = time.monotonic() - started
    for result in results:
        if result.returncode != 0:
            raise SystemExit(f"an edge's download failed: {result.stderr[-2000:]}")
    for i in range(edges):
        (workdir / f"edge-{i}.efi").unlink()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=100)
    parser.add_argument("--edges", type=int, default=8)
    parser.add_argument("--link-mbit", type=float, default=200.0, help="the origin's link, shared; 0: unlimited")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root: systemd-pull's keyring is bind-mounted in a mount namespace")

    with tempfile.TemporaryDirectory(prefix="update-mirror-bench-") as tmp:
        work = Path(tmp)
        key = ReleaseKey(work / "key")
        name = version_file(IMAGE, "0.2.0")
        publish(work / "origin", IMAGE, key, {name: os.urandom(args.size_mib << 20)})
        key.close()
        origin = Origin(work / "origin", IMAGE)
        origin.shared_bps = args.link_mbit * 1e6
        origin.start()
        (work / "mirror").mkdir()
        mirror = MirrorProcess(work / "mirror", {"origin": origin.url})
        mirror.start()
        size = (work / "origin" / IMAGE / name).stat().st_size
        rows = []
        try:
            for scenario, base in (("direct", origin.url), ("mirror cold", mirror.url), ("mirror warm", mirror.url)):
                asked_before = origin.asked(name)
                seconds = wave(f"{base}{IMAGE}/{name}", args.edges, work, key.pubring)
                downloads = origin.asked(name) - asked_before
                rows.append((scenario, seconds, downloads * size, args.edges * size / seconds))
        finally:
            mirror.stop()
            origin.stop()

    print(f"update mirror: {args.edges} edges, one {args.size_mib} MiB file, the origin's link "
          f"{f'{args.link_mbit:g} Mbit/s shared' if args.link_mbit else 'unlimited'}")
    print(f"{'scenario':<12} {'wall s':>8} {'origin MB':>10} {'to edges MB/s':>14}")
    for scenario, seconds, origin_bytes, rate in rows:
        print(f"{scenario:<12} {seconds:>8.1f} {origin_bytes / 1e6:>10.1f} {rate / 1e6:>14.1f}")


if __name__ == "__main__":
    main()
