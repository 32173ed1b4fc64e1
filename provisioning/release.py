"""Build a release on the operator's machine: the project's wheel at a pinned version plus every wheel
its role needs (a wheelhouse), packed into one tar that the deploys upload. Targets install it with
``pip --no-index``: they need no access to PyPI (relays and edges usually have none).

    python provisioning/release.py --extra relay --out ~/guardian-releases
    python provisioning/release.py --extra edge --version 0.2.0 --source /path/to/checkout --out DIR

The wheels are built here for this machine's Python and platform; build on the same Debian release
(and so the same Python minor version) as the targets: bookworm (3.11) for relays and the cloud host.
Prints the tar's path; its name is ``guardian-<version>-<extra>.tar``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE_PARTS = ("pyproject.toml", "README.md", "guardian", "agents", "cloud")


def project_version(source: Path) -> str:
    match = re.search(r'^version = "([^"]+)"', (source / "pyproject.toml").read_text(), re.M)
    if not match:
        raise SystemExit(f"{source}/pyproject.toml has no version")
    return match.group(1)


def _copy_source(source: Path, dest: Path, version: str | None) -> Path:
    dest.mkdir(parents=True)
    for part in SOURCE_PARTS:
        src = source / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        elif src.exists():
            shutil.copy2(src, dest / part)
    if version:
        pyproject = dest / "pyproject.toml"
        pyproject.write_text(re.sub(r'^version = "[^"]+"', f'version = "{version}"', pyproject.read_text(), count=1, flags=re.M))
    return dest


def build(extra: str, out: Path, source: Path = ROOT, version: str | None = None, python: str = sys.executable) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="guardian-release-") as tmp:
        tree = _copy_source(source, Path(tmp) / "src", version)
        version = project_version(tree)
        tar_path = out / f"guardian-{version}-{extra or 'core'}.tar"
        if tar_path.exists():
            return tar_path
        wheels = Path(tmp) / "wheels"
        pip = [python, "-m", "pip", "--disable-pip-version-check", "-q"]
        subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(tree)], check=True)
        (wheel,) = wheels.glob("private_ai_guardian-*.whl")
        requirement = f"{wheel}[{extra}]" if extra else str(wheel)
        # Every dependency as a wheel for this Python (binary wheels from PyPI, the rest built here).
        subprocess.run([*pip, "wheel", "-w", str(wheels), requirement], check=True)
        partial = tar_path.with_suffix(".tar.partial")
        with tarfile.open(partial, "w") as tar:
            for path in sorted(wheels.iterdir()):
                info = tar.gettarinfo(path, arcname=path.name)
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
        os.replace(partial, tar_path)
    return tar_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--extra", default="", help="the role's extra: relay, cloud, edge (empty: core only)")
    parser.add_argument("--out", type=Path, required=True, help="directory for the release tar")
    parser.add_argument("--source", type=Path, default=ROOT, help="checkout to build (default: this one)")
    parser.add_argument("--version", help="override the version in pyproject.toml (release candidates)")
    args = parser.parse_args()
    print(build(args.extra, args.out, args.source, args.version))
    return 0


if __name__ == "__main__":
    sys.exit(main())
