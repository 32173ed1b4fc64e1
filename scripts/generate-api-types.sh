#!/usr/bin/env bash
# The UI's API types from the cloud's OpenAPI: ui/openapi.json (from the app object, offline) and
# ui/src/api/schema.gen.ts (openapi-typescript). Run after changing a route or an API shape; commit both.
# tests/ui/test_api_types.py fails when either is stale.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GUARDIAN_VENV:-$ROOT/.venv}"

cd "$ROOT"
"$VENV/bin/python" -m cloud.openapi ui/openapi.json
(cd ui && npm run --silent generate:api-types)
