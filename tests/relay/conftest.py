from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.relay.netlab import Lab


def _lab_requirements() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "wg", "wireguard-go", "tc"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (scripts/setup.d/50-wireguard.sh)"
    return None


@pytest.fixture
def make_lab(tmp_path: Path) -> Iterator[Callable[..., Lab]]:
    """Build a Lab (relay + edge namespaces); every lab is torn down after the test, pass or fail."""
    reason = _lab_requirements()
    if reason:
        pytest.skip(reason)
    labs: list[Lab] = []

    def factory(**kwargs: object) -> Lab:
        lab = Lab(tmp_path / f"lab{len(labs)}", **kwargs).__enter__()  # type: ignore[arg-type]
        labs.append(lab)
        return lab

    yield factory
    for lab in labs:
        # Shown by pytest only when the test failed.
        for name in lab.logs:
            print(f"===== {name} (lab {lab.id}) =====\n{lab.log_tail(name, 60)}")
        lab.close()
