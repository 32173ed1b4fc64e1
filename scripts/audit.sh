#!/usr/bin/env bash
# Scan the locked dependencies for known vulnerabilities: the Python lock files (requirements/*.txt) with
# pip-audit against OSV, and the UI's ui/package-lock.json with npm audit. Never a silent pass: a source
# that cannot be reached, or that could not check every package, is "not audited", not "clean".
#
#   scripts/audit.sh              both
#   scripts/audit.sh python|npm   one of them
#
# Exit status: 0 audited, no known vulnerability; 1 vulnerabilities found (listed); 3 not audited (no
# vulnerability found, but some part could not be checked: says which and why); 64 usage.
# scripts/test.sh runs it: 3 is reported and lets the run pass, 1 (or any other failure) fails it.
#
# Environment:
#   GUARDIAN_AUDIT_OSV_URL       OSV's query API (default https://api.osv.dev/v1/query)
#   GUARDIAN_AUDIT_NPM_REGISTRY  the registry whose advisories npm audit asks (default: npm's own setting)
#   GUARDIAN_AUDIT_TIMEOUT       seconds per request (default 15)
#
# Why OSV and not pip-audit's default (PyPI's JSON API): pip-audit skips a package that PyPI's per-version
# JSON does not answer for and still prints "No known vulnerabilities found" with exit 0; behind a mirror
# that serves only the per-project JSON (this network) that is every package. OSV holds PyPI's advisories
# (PYSEC) and GitHub's (GHSA) alike.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GUARDIAN_VENV:-$ROOT/.venv}"
OSV_URL="${GUARDIAN_AUDIT_OSV_URL:-https://api.osv.dev/v1/query}"
TIMEOUT="${GUARDIAN_AUDIT_TIMEOUT:-15}"

parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(python npm)
for part in "${parts[@]}"; do
    case "$part" in python|npm) ;; *) echo "usage: scripts/audit.sh [python|npm]..." >&2; exit 64 ;; esac
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# classify PART JSON ERRFILE: print what the tool's JSON report says, one line per finding, and
# return 0 clean, 1 vulnerable, 3 not audited.
classify() {
    "$VENV/bin/python" - "$@" <<'PY'
import json
import sys

part, report, errfile = sys.argv[1:4]
try:
    with open(report, encoding="utf-8") as f:
        data = json.load(f)
except (OSError, ValueError):
    data = None
if not isinstance(data, dict):
    data = {}


def why() -> str:
    """The tool's own last words, for a report it could not write."""
    try:
        with open(errfile, encoding="utf-8", errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
    except OSError:
        lines = []
    return lines[-1][:400] if lines else "no report written"


if part == "python":
    deps = data.get("dependencies")
    if not isinstance(deps, list):
        print(f"python: NOT AUDITED: {why()}")
        sys.exit(3)
    vulnerable = [d for d in deps if d.get("vulns")]
    skipped = [d for d in deps if "skip_reason" in d]
    for d in vulnerable:
        for v in d["vulns"]:
            fixes = ", ".join(v.get("fix_versions") or []) or "none"
            print(f"python: VULNERABLE {d['name']} {d.get('version', '?')}: {v.get('id')} (fixed in: {fixes}) {v.get('description', '')[:160]}")
    for d in skipped:
        print(f"python: not checked: {d['name']}: {d['skip_reason']}")
    checked = len(deps) - len(skipped)
    if vulnerable:
        print(f"python: {len(vulnerable)} of {len(deps)} packages have known vulnerabilities")
        sys.exit(1)
    if skipped or not deps:
        print(f"python: NOT AUDITED: {len(skipped)} of {len(deps)} packages could not be checked")
        sys.exit(3)
    print(f"python: audited {checked} packages: no known vulnerabilities")
    sys.exit(0)

# npm audit --json: {"vulnerabilities": {...}, "metadata": {...}} or, when it could not ask, an error.
meta = data.get("metadata")
if "error" in data or not isinstance(meta, dict) or "vulnerabilities" not in meta:
    reason = data.get("message") or (data.get("error") or {}).get("summary") or why()
    print(f"npm: NOT AUDITED: {str(reason)[:400]}")
    sys.exit(3)
counts = meta["vulnerabilities"]
total = int(counts.get("total", 0))
for name, v in sorted((data.get("vulnerabilities") or {}).items()):
    titles = "; ".join(sorted({str(a.get("title")) for a in v.get("via", []) if isinstance(a, dict)}))
    print(f"npm: VULNERABLE {name} {v.get('range', '')} severity={v.get('severity')} {titles[:160]}")
deps = (meta.get("dependencies") or {}).get("total", "?")
if total:
    print(f"npm: {total} vulnerable packages of {deps}")
    sys.exit(1)
print(f"npm: audited {deps} packages: no known vulnerabilities")
sys.exit(0)
PY
}

audit_python() {
    local reqs=() lock
    for lock in "$ROOT"/requirements/*.txt; do reqs+=(-r "$lock"); done
    if [ ${#reqs[@]} -eq 0 ]; then echo "python: NOT AUDITED: no lock files in requirements/"; return 3; fi
    if [ ! -x "$VENV/bin/pip-audit" ]; then echo "python: NOT AUDITED: $VENV/bin/pip-audit missing (dev extra)"; return 3; fi
    echo "python: pip-audit of $((${#reqs[@]} / 2)) lock files against $OSV_URL"
    # --disable-pip: the hashed locks are read as they are, nothing is resolved or installed.
    "$VENV/bin/pip-audit" --disable-pip "${reqs[@]}" --vulnerability-service osv --osv-url "$OSV_URL" \
        --timeout "$TIMEOUT" --progress-spinner off --format json --output "$work/python.json" \
        >"$work/python.out" 2>"$work/python.err"
    classify python "$work/python.json" "$work/python.err"
}

audit_npm() {
    if ! command -v npm >/dev/null 2>&1; then echo "npm: NOT AUDITED: npm missing"; return 3; fi
    local registry=()
    [ -n "${GUARDIAN_AUDIT_NPM_REGISTRY:-}" ] && registry=(--registry "$GUARDIAN_AUDIT_NPM_REGISTRY")
    echo "npm: npm audit of ui/package-lock.json${GUARDIAN_AUDIT_NPM_REGISTRY:+ against $GUARDIAN_AUDIT_NPM_REGISTRY}"
    # --package-lock-only: the lock file is the input; node_modules need not exist.
    (cd "$ROOT/ui" && npm audit --json --package-lock-only "${registry[@]}" --fetch-timeout "$((TIMEOUT * 1000))" \
        --fetch-retries 0 >"$work/npm.json" 2>"$work/npm.err")
    classify npm "$work/npm.json" "$work/npm.err"
}

status=0
summary=()
for part in "${parts[@]}"; do
    case "$part" in
        python) audit_python ;;
        npm) audit_npm ;;
    esac
    rc=$?
    case "$rc" in
        0) summary+=("$part=clean") ;;
        1) summary+=("$part=vulnerable"); status=1 ;;
        *) summary+=("$part=not_audited"); [ "$status" -eq 1 ] || status=3 ;;
    esac
done
case "$status" in
    0) verdict="clean" ;;
    1) verdict="vulnerable" ;;
    *) verdict="not_audited" ;;
esac
echo "audit status=$verdict ${summary[*]}"
exit "$status"
