"""The cloud API's OpenAPI document, produced offline from the app (no database, no server).

``python -m cloud.openapi ui/openapi.json`` writes it; the UI's TypeScript types are generated from that
file (scripts/generate-api-types.sh), and tests/cloud/test_openapi.py fails when either is stale.
"""

from __future__ import annotations

import base64
import json
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

from cloud.api.main import create_app
from cloud.core.config import CloudSettings


def openapi_document() -> dict[str, Any]:
    """The document as the app serves it at /openapi.json; throwaway secrets and SQLite database."""
    with tempfile.TemporaryDirectory(prefix="guardian-openapi-") as tmp:
        settings = CloudSettings(
            secret_key=secrets.token_urlsafe(32),
            # Ed25519 seed, base64url without padding: never used, the document names no key.
            signing_key=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="),
            database={"url": f"sqlite:///{tmp}/openapi.db"},
        )
        return create_app(settings).openapi()


def render() -> str:
    """The document as committed: stable key order, two-space indent, trailing newline."""
    return json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if args:
        Path(args[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
