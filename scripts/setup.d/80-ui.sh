# Web UI: Node.js + npm (Debian's when none is installed), the locked npm packages, the production build
# in ui/dist (the cloud serves it), and Chromium for the browser tests (driven by PyPI playwright from
# the dev extra; no `playwright install`).
step "ui: node, npm, chromium"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
fi
apt_install chromium

_ui="$ROOT/ui"
step "ui: npm packages (package-lock.json)"
# `npm ci` wipes node_modules, so only run it when the lock file changed since the last install.
_ui_lock="$(sha256sum "$_ui/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$_ui/node_modules/.guardian-lock" 2>/dev/null)" != "$_ui_lock" ]; then
    (cd "$_ui" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$_ui_lock" > "$_ui/node_modules/.guardian-lock"
fi

step "ui: build (ui/dist)"
# Rebuild only when a source changed: a hash of every input, kept next to the output.
_ui_inputs="$(cd "$_ui" && find src public index.html package.json package-lock.json tsconfig.json vite.config.ts -type f \
    ! -name '*.test.ts' ! -name '*.test.tsx' ! -name 'test*.ts' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$_ui/dist/.guardian-build" 2>/dev/null)" != "$_ui_inputs" ]; then
    (cd "$_ui" && npm run --silent build >/dev/null)
    echo "$_ui_inputs" > "$_ui/dist/.guardian-build"
fi
unset _ui _ui_lock _ui_inputs
