"""The UI's unit tests (Vitest: API layer and state), run from pytest so scripts/test.sh covers them."""

from __future__ import annotations

import os
import subprocess

from tests.ui.conftest import UI


def test_vitest_suite_passes(npm: str) -> None:
    env = {**os.environ, "CI": "1", "NO_COLOR": "1"}
    result = subprocess.run([npm, "test", "--", "--run", "--reporter=dot"], cwd=UI, capture_output=True, text=True,
                            timeout=300, env=env, check=False)
    assert result.returncode == 0, f"vitest failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    assert " passed" in result.stdout
