"""What every role shares: the release store under /opt/guardian and the atomic ``current`` switch.

Layout on a target (the same on relays, the cloud host and edges):

    /opt/guardian/dist/guardian-<version>-<extra>.tar   the uploaded wheelhouse (kept: a re-install needs it)
    /opt/guardian/releases/<version>/                    a venv with that version; ``.guardian-release`` last
    /opt/guardian/current -> releases/<version>          switched with rename(2): atomic
    /opt/guardian/previous -> releases/<version>         what ``current`` pointed at before the last switch
    /usr/bin/guardian-<role> -> /opt/guardian/current/bin/guardian-<role>
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar, cast

from pyinfra import host
from pyinfra.api import deploy as pyinfra_deploy
from pyinfra.facts.files import File, Link
from pyinfra.operations import files, server

PROVISIONING = Path(__file__).resolve().parent.parent
TEMPLATES = PROVISIONING / "templates"
REPO = PROVISIONING.parent
BASE = "/opt/guardian"
MARKER = ".guardian-release"

P = ParamSpec("P")
R = TypeVar("R")


def deploy(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """pyinfra's ``@deploy``, typed as what it does at run time: the wrapped function keeps its arguments
    and its return value. pyinfra types a deploy as an operation (positional arguments taken for its global
    ``_sudo``… ones, an OperationMeta returned), which our deploys that take and return values are not."""
    return cast(Callable[[Callable[P, R]], Callable[P, R]], pyinfra_deploy(name))


def release_version(tar: str) -> str:
    match = re.fullmatch(r"guardian-(.+)-([a-z]+)\.tar", Path(tar).name)
    if not match:
        raise ValueError(f"{tar}: not a release tar (build one with provisioning/release.py)")
    return match.group(1)


def release_dir(version: str) -> str:
    return f"{BASE}/releases/{version}"


def installed(version: str) -> bool:
    return bool(host.get_fact(File, path=f"{release_dir(version)}/{MARKER}"))


def current_version() -> str | None:
    link = host.get_fact(Link, path=f"{BASE}/current")
    return Path(link["link_target"]).name if link else None


@deploy("Guardian release installed")
def install_release(tar: str, extra: str) -> list:
    """Upload the wheelhouse and install it into its own venv, once per version."""
    version = release_version(tar)
    name = Path(tar).name
    files.directory(name="Release store exists", path=f"{BASE}/dist", mode="755", user="root", group="root")
    files.directory(name="Release directory parent exists", path=f"{BASE}/releases", mode="755")
    files.put(name=f"Wheelhouse {name} uploaded", src=tar, dest=f"{BASE}/dist/{name}", mode="644")
    if installed(version):
        return []
    target = release_dir(version)
    requirement = f"private-ai-guardian[{extra}]=={version}" if extra else f"private-ai-guardian=={version}"
    # The marker is written last: an interrupted install is redone on the next run.
    return [server.shell(
        name=f"Release {version} installed in its own venv (offline, from the wheelhouse)",
        commands=[
            f"set -e; rm -rf {target} {target}.wheels; mkdir -p {target}.wheels; "
            f"tar -xf {BASE}/dist/{name} -C {target}.wheels; "
            f"python3 -m venv {target}; "
            f"{target}/bin/pip install -q --no-index --no-cache-dir --disable-pip-version-check "
            f"--find-links {target}.wheels '{requirement}'; "
            f"rm -rf {target}.wheels; echo {version} > {target}/{MARKER}"
        ],
    )]


def switch_command(version: str) -> str:
    """Shell that points ``current`` at a release atomically and remembers the old one as ``previous``."""
    return (
        f"set -e; cd {BASE}; old=$(readlink current || true); "
        f"if [ \"$old\" != releases/{version} ]; then "
        f"[ -z \"$old\" ] || ln -sfn \"$old\" previous; "
        f"ln -sfn releases/{version} current.new && mv -T current.new current; fi"
    )


@deploy("Guardian release active")
def activate_release(version: str, commands: tuple[str, ...]) -> list:
    """Point ``current`` at ``version`` (if it is not already) and link the role's commands; returns the
    operations whose change means the role's services must restart."""
    changed = []
    if current_version() != version:
        changed.append(server.shell(name=f"Current release is {version} (atomic switch)",
                                    commands=[switch_command(version)]))
    for command in commands:
        files.link(name=f"/usr/bin/{command} points into the current release", path=f"/usr/bin/{command}",
                   target=f"{BASE}/current/bin/{command}")
    return changed


def release_tar(extra: str) -> str:
    """The release tar for the pinned ``guardian_version`` in ``guardian_releases_dir`` (group data)."""
    directory = Path(host.data.guardian_releases_dir).expanduser()
    return str(directory / f"guardian-{host.data.guardian_version}-{extra or 'core'}.tar")
