"""Both ends of an update, for the update mirror's tests (tests/relay/test_update_mirror.py), its benchmark
(bench/update_mirror.py) and the images' update through the relay (tests/images/test_nspawn_cloud.py):
release directories as scripts/release-image.sh writes them (files, SHA256SUMS, its detached gpg signature)
made with a throwaway key, the origin that publishes them, and the edge's download (systemd-pull)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SYSTEMD_PULL = next(
    (p for p in ("/usr/lib/systemd/systemd-pull", "/lib/systemd/systemd-pull") if os.path.exists(p)), None
)


class ReleaseKey:
    def __init__(self, home: Path) -> None:
        home.mkdir(mode=0o700, parents=True)
        self.home = home
        subprocess.run(["gpg", "--homedir", str(home), "--batch", "--passphrase", "", "--quick-gen-key",
                        f"Guardian test release ({home.name})", "ed25519", "sign", "never"],
                       check=True, capture_output=True)
        self.pubring = home / "pubring.export"
        self.pubring.write_bytes(
            subprocess.run(["gpg", "--homedir", str(home), "--export"], check=True, capture_output=True).stdout)

    def close(self) -> None:
        """Stop the gpg-agent signing started for this home (it outlives the test otherwise)."""
        subprocess.run(["gpgconf", "--homedir", str(self.home), "--kill", "gpg-agent"], capture_output=True)

    def sign(self, sums: Path) -> None:
        subprocess.run(["gpg", "--homedir", str(self.home), "--batch", "--yes", "--output", f"{sums}.gpg",
                        "--detach-sign", str(sums)], check=True, capture_output=True)


def publish(root: Path, image: str, key: ReleaseKey, files: dict[str, bytes]) -> None:
    """Write ``root/image/`` holding exactly these files, with SHA256SUMS and its signature."""
    directory = root / image
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)
    sums = directory / "SHA256SUMS"
    sums.write_text("".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items())))
    key.sign(sums)


def version_file(image: str, version: str) -> str:
    """A UKI's name in a release (the transfers' ``%M_@v_%a.efi``)."""
    return f"{image}_{version}_x86-64.efi"


class Origin:
    """A plain HTTP server over a release directory (where releases are published), counting what it is asked."""

    def __init__(self, root: Path, image: str = "guardian-edge", address: str = "127.0.0.1") -> None:
        self.root = root
        self.image = image
        self.address = address
        self.paths: list[str] = []
        self.delay_per_chunk = 0.0  # seconds per 64 KiB: a slow origin, so that edges overlap a download
        self.shared_bps = 0.0  # one link's rate shared by every connection (0: none): the way to the internet
        self.server: ThreadingHTTPServer | None = None
        self._link = threading.Lock()
        self._link_free_at = 0.0

    def pace(self, size: int) -> None:
        """Wait for this chunk's turn on the shared link, if there is one."""
        if not self.shared_bps:
            return
        with self._link:
            start = max(time.monotonic(), self._link_free_at)
            self._link_free_at = start + size * 8 / self.shared_bps
            done = self._link_free_at
        time.sleep(max(0.0, done - time.monotonic()))

    def start(self, port: int = 0) -> None:
        origin = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                origin.paths.append(self.path)

            def copyfile(self, source: Any, outputfile: Any) -> None:
                while chunk := source.read(65536):
                    outputfile.write(chunk)
                    time.sleep(origin.delay_per_chunk)
                    origin.pace(len(chunk))

        self.server = ThreadingHTTPServer((self.address, port), partial(Handler, directory=str(self.root)))
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://{self.address}:{self.server.server_address[1]}/"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self) -> Origin:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def asked(self, name: str) -> int:
        return self.paths.count(f"/{self.image}/{name}")


def pull(url: str, dest: Path, keyring: Path, netns: str | None = None,
         timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """The edge's download: systemd-pull as systemd-sysupdate runs it for a url-file source, checking the
    signature with ``keyring`` as its release key (bound over the vendor keyring in a mount namespace)."""
    mounts = "".join(f"mount --bind {keyring} {ring} && " for ring in
                     ("/etc/systemd/import-pubring.gpg", "/usr/lib/systemd/import-pubring.gpg") if os.path.exists(ring))
    command = ["unshare", "--mount", "sh", "-c",
               f"{mounts}exec {SYSTEMD_PULL} raw --direct --verify=signature --sync=no {url} {dest}"]
    if netns:
        command = ["ip", "netns", "exec", netns, *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)
