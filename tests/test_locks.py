"""The Python lock files (requirements/<role>.txt, written by scripts/lock.sh) agree with pyproject.toml:
every declared dependency of a role is pinned in its lock, at a version the declaration allows, with
hashes; what the lock takes from pyproject.toml directly is exactly what is declared; and each role
ships the versions the tests run (dev.txt). Re-resolving would need the network and take long, so this
compares names and specifiers; scripts/lock.sh is the fix when it fails."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
# The extras each lock holds (as scripts/lock.sh compiles them); dev.txt is the development and CI venv.
ROLES = {
    "edge": ["edge"],
    "relay": ["relay"],
    "cloud": ["cloud"],
    "provisioning": ["provisioning"],
    "dev": ["edge", "relay", "cloud", "provisioning", "dev"],
}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")
PROJECT = "private-ai-guardian"


@dataclass
class Pin:
    version: str
    hashes: int = 0
    direct: bool = False  # annotated "via private-ai-guardian": taken from pyproject.toml itself
    via: list[str] = field(default_factory=list)


def parse_lock(text: str) -> dict[str, Pin]:
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for line in text.splitlines():
        if m := PIN.match(line):
            current = pins.setdefault(canonicalize_name(m.group(1)), Pin(m.group(2)))
        elif current is not None:
            current.hashes += len(HASH.findall(line))
            if line.lstrip().startswith("#") and PROJECT in line:
                current.direct = True
    return pins


def declared(pyproject: dict[str, Any], extras: list[str]) -> list[Requirement]:
    project = pyproject["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        reqs += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return [r for r in reqs if r.marker is None or r.marker.evaluate({"extra": ""})]


def lock_problems(pyproject: dict[str, Any], locks: dict[str, str]) -> list[str]:
    """What makes the locks disagree with pyproject.toml (empty when they agree)."""
    problems = []
    if set(locks) != set(ROLES):
        problems.append(f"requirements/ holds {sorted(locks)}, expected {sorted(ROLES)}")
    parsed = {role: parse_lock(text) for role, text in locks.items()}
    for role, extras in ROLES.items():
        pins = parsed.get(role, {})
        reqs = declared(pyproject, extras)
        names = {canonicalize_name(r.name) for r in reqs}
        for req in reqs:
            pin = pins.get(canonicalize_name(req.name))
            if pin is None:
                problems.append(f"{role}.txt: {req} is declared but not pinned")
            elif not req.specifier.contains(Version(pin.version), prereleases=True):
                problems.append(f"{role}.txt: {req.name}=={pin.version} does not satisfy {req}")
        for name, pin in sorted(pins.items()):
            if pin.hashes == 0:
                problems.append(f"{role}.txt: {name}=={pin.version} has no hash")
            if pin.direct and name not in names:
                problems.append(f"{role}.txt: {name} comes from pyproject.toml but is no longer declared")
        if role != "dev":
            for name, pin in sorted(pins.items()):
                dev = parsed.get("dev", {}).get(name)
                if dev is None or dev.version != pin.version:
                    problems.append(f"{role}.txt: {name}=={pin.version} but dev.txt (what the tests run) has "
                                    f"{dev.version if dev else 'none'}")
    return problems


def current() -> tuple[dict[str, Any], dict[str, str]]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    locks = {p.stem: p.read_text() for p in sorted((ROOT / "requirements").glob("*.txt"))}
    return pyproject, locks


def test_locks_agree_with_pyproject() -> None:
    problems = lock_problems(*current())
    if problems:
        pytest.fail("lock files are stale, run scripts/lock.sh:\n" + "\n".join(problems), pytrace=False)


def test_every_lock_is_hashed_and_says_how_to_refresh_it() -> None:
    for role, text in current()[1].items():
        assert "#    scripts/lock.sh" in text.splitlines()[1], role
        pins = parse_lock(text)
        assert pins, role
        assert all(pin.hashes for pin in pins.values()), role


@pytest.mark.parametrize(("change", "expected"), [
    # A dependency added to an extra and not locked yet.
    (lambda p: p["project"]["optional-dependencies"]["edge"].append("left-pad>=1"),
     "edge.txt: left-pad>=1 is declared but not pinned"),
    # A floor raised above the locked version.
    (lambda p: p["project"]["dependencies"].__setitem__(0, "pydantic>=99"),
     "does not satisfy pydantic>=99"),
    # A dependency dropped from pyproject.toml but still locked.
    (lambda p: p["project"]["optional-dependencies"]["provisioning"].clear(),
     "provisioning.txt: pyinfra comes from pyproject.toml but is no longer declared"),
])
def test_the_check_sees_a_stale_lock(change: Any, expected: str) -> None:
    pyproject, locks = current()
    change(pyproject)
    assert any(expected in problem for problem in lock_problems(pyproject, locks))


def test_the_check_sees_a_role_drifting_from_dev() -> None:
    pyproject, locks = current()
    version = parse_lock(locks["edge"])["numpy"].version
    locks["edge"] = locks["edge"].replace(f"numpy=={version}", "numpy==1.26.0")
    assert "edge.txt: numpy==1.26.0 but dev.txt (what the tests run) has " + version in lock_problems(pyproject, locks)
