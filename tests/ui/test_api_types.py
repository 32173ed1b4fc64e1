"""The UI's API types are generated from the cloud's OpenAPI; the committed files must be current."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cloud import openapi
from tests.ui.conftest import UI

FIX = "stale: run scripts/generate-api-types.sh and commit ui/openapi.json and ui/src/api/schema.gen.ts"


def test_openapi_document_is_current() -> None:
    committed = (UI / "openapi.json").read_text(encoding="utf-8")
    assert committed == openapi.render(), f"ui/openapi.json is {FIX}"


def test_generated_types_are_current(npm: str, tmp_path: Path) -> None:
    fresh = tmp_path / "schema.gen.ts"
    result = subprocess.run(
        [npm, "exec", "--offline", "--", "openapi-typescript", "openapi.json", "--output", str(fresh)],
        cwd=UI, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, f"openapi-typescript failed:\n{result.stdout}\n{result.stderr}"
    committed = (UI / "src" / "api" / "schema.gen.ts").read_text(encoding="utf-8")
    assert committed == fresh.read_text(encoding="utf-8"), f"ui/src/api/schema.gen.ts is {FIX}"
