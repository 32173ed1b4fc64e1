"""scripts/audit.sh: its three outcomes, from real runs of pip-audit and npm audit over the committed lock
files. The vulnerability sources are SIMULATED: a local HTTP server that speaks OSV's query API (what
pip-audit asks) and the npm registry's bulk advisory API (what npm audit asks), with advisories the test
makes up for packages that really are in the locks. Unreachable means a local port nobody listens on."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker

from tests.conftest import ROOT, free_port

AUDIT = ROOT / "scripts" / "audit.sh"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def locked_python() -> dict[str, str]:
    """name -> version of every pin in requirements/*.txt whose marker holds here (what pip-audit audits)."""
    pins: dict[str, str] = {}
    for lock in sorted((ROOT / "requirements").glob("*.txt")):
        for line in lock.read_text().splitlines():
            m = PIN.match(line)
            if m and (m.group(3) is None or Marker(m.group(3)).evaluate()):
                pins[m.group(1).lower()] = m.group(2)
    return pins


def locked_npm() -> dict[str, str]:
    """name -> version of every package in ui/package-lock.json."""
    packages = json.loads((ROOT / "ui" / "package-lock.json").read_text())["packages"]
    return {path.rsplit("node_modules/", 1)[1]: meta["version"] for path, meta in packages.items() if path}


@dataclass
class AdvisoryService:
    """The simulated OSV + npm advisory service: what it was asked, and what it answers."""

    url: str
    python_vulnerable: dict[str, str] = field(default_factory=dict)  # name -> version it is reported for
    npm_vulnerable: set[str] = field(default_factory=set)
    fail_with: int | None = None  # answer every query with this HTTP status
    python_queries: list[tuple[str, str]] = field(default_factory=list)
    npm_queries: list[dict[str, list[str]]] = field(default_factory=list)

    def osv_answer(self, query: dict[str, Any]) -> dict[str, Any]:
        name, version = query["package"]["name"], query["version"]
        self.python_queries.append((name, version))
        if self.python_vulnerable.get(name) != version:
            return {}  # OSV's answer for "no known vulnerability"
        return {"vulns": [{
            "id": f"SIMULATED-{name}-1",
            "summary": f"simulated advisory for {name} {version}",
            "aliases": [],
            "affected": [{
                "package": {"name": name, "ecosystem": "PyPI"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "999.0"}]}],
            }],
        }]}

    def npm_answer(self, query: dict[str, list[str]]) -> dict[str, Any]:
        self.npm_queries.append(query)
        return {name: [{
            "id": 9_000_000 + i, "url": "https://advisories.invalid/SIMULATED", "title": f"simulated advisory for {name}",
            "severity": "high", "vulnerable_versions": "*", "cwe": [], "cvss": {"score": 7.5, "vectorString": None},
        }] for i, name in enumerate(sorted(self.npm_vulnerable & query.keys()))}


@pytest.fixture
def advisories() -> Iterator[AdvisoryService]:
    port = free_port()
    service = AdvisoryService(url=f"http://127.0.0.1:{port}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if service.fail_with is not None:
                self.reply(service.fail_with, {"error": "simulated outage"})
            elif self.path == "/v1/query":
                self.reply(200, service.osv_answer(json.loads(body)))
            elif self.path == "/-/npm/v1/security/advisories/bulk":
                self.reply(200, service.npm_answer(json.loads(body)))
            else:
                self.reply(404, {})

        def do_GET(self) -> None:
            self.reply(404, {})  # package documents (npm asks for fix versions): none here

        def reply(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        server.shutdown()
        server.server_close()


def audit(osv_base: str, npm_registry: str, *parts: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GUARDIAN_AUDIT_OSV_URL": f"{osv_base}/v1/query",
           "GUARDIAN_AUDIT_NPM_REGISTRY": f"{npm_registry}/", "GUARDIAN_AUDIT_TIMEOUT": "5"}
    return subprocess.run(["bash", str(AUDIT), *parts], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def test_clean_when_the_service_knows_no_vulnerability(advisories: AdvisoryService) -> None:
    result = audit(advisories.url, advisories.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "audit status=clean python=clean npm=clean"
    # A real audit: every locked package was asked about, at its locked version.
    assert set(advisories.python_queries) == set(locked_python().items())
    asked_npm = {name: versions for query in advisories.npm_queries for name, versions in query.items()}
    for name, version in locked_npm().items():
        assert version in asked_npm.get(name, []), name


def test_vulnerabilities_found_are_listed_and_fail(advisories: AdvisoryService) -> None:
    version = locked_python()["jinja2"]
    advisories.python_vulnerable["jinja2"] = version
    advisories.npm_vulnerable.add("react")
    result = audit(advisories.url, advisories.url)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"python: VULNERABLE jinja2 {version}: SIMULATED-jinja2-1 (fixed in: 999.0)" in result.stdout
    assert "npm: VULNERABLE react " in result.stdout
    assert result.stdout.splitlines()[-1] == "audit status=vulnerable python=vulnerable npm=vulnerable"


def test_unreachable_source_is_not_audited_never_clean() -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    result = audit(nobody, nobody)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "python: NOT AUDITED:" in result.stdout and "npm: NOT AUDITED:" in result.stdout
    assert "no known vulnerabilities" not in result.stdout.lower()
    assert result.stdout.splitlines()[-1] == "audit status=not_audited python=not_audited npm=not_audited"


def test_a_failing_service_is_not_audited(advisories: AdvisoryService) -> None:
    advisories.fail_with = 503
    result = audit(advisories.url, advisories.url)
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "audit status=not_audited python=not_audited npm=not_audited"


def test_one_part_unaudited_makes_the_whole_unaudited_and_findings_still_win(advisories: AdvisoryService) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    result = audit(advisories.url, nobody)
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "audit status=not_audited python=clean npm=not_audited"

    advisories.python_vulnerable["jinja2"] = locked_python()["jinja2"]
    result = audit(advisories.url, nobody)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "audit status=vulnerable python=vulnerable npm=not_audited"


def test_one_part_alone(advisories: AdvisoryService) -> None:
    result = audit(advisories.url, advisories.url, "python")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "audit status=clean python=clean"
    assert not advisories.npm_queries
    assert audit(advisories.url, advisories.url, "pip").returncode == 64


@pytest.mark.parametrize(("audit_exit", "tests_pass", "images_pass", "run_exit"), [
    (0, True, True, 0),
    (3, True, True, 0),  # not audited (no source reachable): reported, not a failure
    (1, True, True, 1),  # vulnerabilities found fail the run
    (64, True, True, 1),  # a broken scan is no pass either
    (3, False, True, 1),
    (0, True, False, 1),  # the image tests run beside the others: their failure fails the run too
])
def test_the_test_command_fails_only_on_findings(tmp_path: Path, audit_exit: int, tests_pass: bool, images_pass: bool,
                                                  run_exit: int) -> None:
    """scripts/test.sh, as CI runs it (no arguments), in a copy whose setup and scan are stand-ins; tests/images
    runs in a pytest of its own beside the rest, and its output follows theirs."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "test.sh", tmp_path / "scripts" / "test.sh")
    (tmp_path / "scripts" / "setup.sh").write_text("#!/bin/sh\nexit 0\n")
    (tmp_path / "scripts" / "audit.sh").write_text(f"#!/bin/sh\necho 'audit stand-in'\nexit {audit_exit}\n")
    for script in (tmp_path / "scripts").iterdir():
        script.chmod(0o755)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_one.py").write_text(f"def test_one():\n    assert {tests_pass}\n")
    (tmp_path / "tests" / "images").mkdir()
    (tmp_path / "tests" / "images" / "test_image.py").write_text(f"def test_image():\n    assert {images_pass}\n")
    env = {**os.environ, "GUARDIAN_VENV": str(Path(sys.executable).parent.parent)}
    result = subprocess.run(["bash", str(tmp_path / "scripts" / "test.sh")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == run_exit, result.stdout + result.stderr
    assert "audit stand-in" in result.stdout
    assert ("1 passed" if tests_pass else "1 failed") in result.stdout
    images = result.stdout.split("==> tests/images (exit", 1)[1]  # the image tests' own report, after the others'
    assert ("test_image.py ." if images_pass else "test_image.py F") in images and "test_one.py" not in images
    assert ("NOT AUDITED" in result.stdout) == (audit_exit == 3)
