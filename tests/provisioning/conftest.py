"""Fixtures for the provisioning tests: the cached Debian tree, release tars, and a lab of nspawn
machines that is removed after each test, pass or fail."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.provisioning.targets import PROVISIONING, Lab, build_tree


def _requirements() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces and systemd-nspawn need root"
    for tool in ("debootstrap", "systemd-nspawn", "ip", "ssh", "mknod"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (scripts/setup.d/70-provisioning.sh)"
    return None


@pytest.fixture(scope="session")
def target_tree() -> Path:
    reason = _requirements()
    if reason:
        pytest.skip(reason)
    return build_tree()


@pytest.fixture(scope="session")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``releases(extra, version=None, source=None)`` → a release tar built by provisioning/release.py."""
    out = tmp_path_factory.mktemp("releases")

    def build(extra: str, version: str | None = None, source: Path | None = None) -> Path:
        cmd = [sys.executable, str(PROVISIONING / "release.py"), "--extra", extra, "--out", str(out)]
        if version:
            cmd += ["--version", version]
        if source:
            cmd += ["--source", str(source)]
        return Path(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])

    return build


@pytest.fixture
def lab(target_tree: Path, tmp_path: Path) -> Iterator[Lab]:
    with Lab(tmp_path / "lab", target_tree) as the_lab:
        yield the_lab


@pytest.fixture(scope="module")
def module_lab(target_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """One lab for a whole test module: its tests share machines deployed once (a deploy takes minutes)."""
    with Lab(tmp_path_factory.mktemp("lab"), target_tree) as the_lab:
        yield the_lab


def results(proc: subprocess.CompletedProcess) -> dict:
    """pyinfra's ``--json`` deploy results (the last JSON document on stdout)."""
    text = proc.stdout
    start = text.find("{")
    if proc.returncode != 0 or start < 0:
        raise AssertionError(f"pyinfra failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return json.loads(text[start:])
