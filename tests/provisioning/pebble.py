"""Pebble, Debian's ACME test server, for the provisioning tests: it runs in the lab's controller
namespace, on an address of its own that every target routes to through its link to the controller.

- Its ACME directory is HTTPS with a certificate from a throw-away CA made here (``server_ca``): the
  deploys upload that CA (``GUARDIAN_ACME_CA_FILE``) and lego trusts it.
- It validates http-01 by connecting to port 80 of the names it issues for; the names resolve through
  ``/etc/netns/<controller>/hosts``, which ``ip netns exec`` mounts over /etc/hosts for Pebble alone
  (``add_name``; rewritten in place, so names added later are seen too).
- ``issuing_root()`` is the root that signs the certificates it issues (made anew at each start); a
  client that trusts it trusts the hosts' certificates, as a browser trusts Let's Encrypt's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.provisioning.targets import Lab, Machine

ADDRESS = "192.0.2.1"  # TEST-NET-1: only inside the lab's namespaces
DIRECTORY = f"https://{ADDRESS}:14000/dir"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


class Pebble:
    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.workdir = lab.workdir / "pebble"
        self.workdir.mkdir(exist_ok=True)
        self.server_ca = self.workdir / "server-ca.pem"
        self.hosts_dir = Path("/etc/netns") / lab.controller
        self.names: dict[str, str] = {}
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        w = self.workdir
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                 "-subj", "/CN=guardian lab ACME server CA", "-keyout", str(w / "server-ca.key"), "-out",
                 str(self.server_ca))
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=pebble",
                 "-keyout", str(w / "server.key"), "-out", str(w / "server.csr"))
        (w / "san.ext").write_text(f"subjectAltName=IP:{ADDRESS}\n")
        _openssl("x509", "-req", "-in", str(w / "server.csr"), "-CA", str(self.server_ca), "-CAkey",
                 str(w / "server-ca.key"), "-CAcreateserial", "-days", "2", "-extfile", str(w / "san.ext"),
                 "-out", str(w / "server.pem"))
        (w / "pebble.json").write_text(json.dumps({"pebble": {
            "listenAddress": f"{ADDRESS}:14000", "managementListenAddress": f"{ADDRESS}:15000",
            "certificate": str(w / "server.pem"), "privateKey": str(w / "server.key"),
            "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "", "externalAccountBindingRequired": False,
        }}))
        subprocess.run(["ip", "-n", self.lab.controller, "addr", "add", f"{ADDRESS}/32", "dev", "lo"], check=True)
        self.hosts_dir.mkdir(parents=True, exist_ok=True)
        self._write_hosts()
        log = (w / "pebble.log").open("wb")
        # No random sleeps before validations and no deliberately rejected nonces: Pebble's defaults exist
        # to shake out client bugs, and would only make these tests slower and flaky.
        env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", self.lab.controller, "pebble", "-config", str(w / "pebble.json")],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        self._get("https", 14000, "/dir", retries=60)

    def route_from(self, machine: Machine) -> None:
        """Let a target reach Pebble (through its link to the controller)."""
        subprocess.run(["ip", "-n", machine.netns, "route", "replace", f"{ADDRESS}/32", "via", machine.peer_address],
                       check=True)

    def add_name(self, name: str, machine: Machine) -> None:
        """``name`` (a certificate's name) resolves to ``machine`` for Pebble's validations."""
        self.names[name] = machine.address
        self.route_from(machine)
        self._write_hosts()

    def _write_hosts(self) -> None:
        lines = ["127.0.0.1 localhost", *(f"{address} {name}" for name, address in self.names.items())]
        with (self.hosts_dir / "hosts").open("w") as f:  # same inode: the mount over Pebble's /etc/hosts sees it
            f.write("\n".join(lines) + "\n")

    def issuing_root(self) -> str:
        return self._get("https", 15000, "/roots/0")

    def _get(self, scheme: str, port: int, path: str, retries: int = 1) -> str:
        cmd = ["ip", "netns", "exec", self.lab.controller, "curl", "-sf", "--cacert", str(self.server_ca),
               f"{scheme}://{ADDRESS}:{port}{path}"]
        for _ in range(retries - 1):
            if self.process is not None and self.process.poll() is not None:
                break
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode == 0:
                return done.stdout
            time.sleep(0.2)  # Pebble is starting: nothing to await but its port
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    def env(self) -> dict[str, str]:
        """The deploys' settings for this server."""
        return {"GUARDIAN_TLS_MODE": "acme", "GUARDIAN_ACME_SERVER": DIRECTORY,
                "GUARDIAN_ACME_EMAIL": "operator@example.org", "GUARDIAN_ACME_CA_FILE": str(self.server_ca)}

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            self.process.wait(timeout=20)
        shutil.rmtree(self.hosts_dir, ignore_errors=True)
