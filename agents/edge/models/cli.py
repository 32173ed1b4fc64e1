"""``guardian-edge models …``: fetch, list, activate, validate and import detection models."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from agents.edge.config import DEFAULT_CONFIG, EdgeSettings
from guardian.runtime.cli import add_config_argument
from guardian.runtime.config import load_settings

if TYPE_CHECKING:
    from agents.edge.models.store import ModelStore


def edge_settings(args: argparse.Namespace) -> EdgeSettings:
    """The edge's config; the defaults when ``--store`` is given and the config file does not exist."""
    return load_settings(EdgeSettings, args.config) if args.config.exists() or args.store is None else EdgeSettings()


def open_store(args: argparse.Namespace) -> tuple[ModelStore, Path]:
    """The model store and download cache that ``--config``/``--store``/``--cache`` name."""
    from agents.edge.models.paths import cache_dir, store_dir
    from agents.edge.models.store import ModelStore  # loads OpenVINO: only for the commands that need it

    settings = edge_settings(args)
    root = args.store or store_dir(settings)
    return ModelStore(root), (args.cache or cache_dir(settings))


def _fetch(args: argparse.Namespace) -> int:
    from agents.edge.models.fetch import fetch

    store, cache = open_store(args)
    for name in args.names:
        model = fetch(store, name, cache)
        print(f"{model.manifest.ref}: {model.path}")
        if args.activate or store.active() is None:
            store.activate(model.manifest.name, model.manifest.version)
            print(f"active: {model.manifest.ref}")
    return 0


def _list(args: argparse.Namespace) -> int:
    store, _ = open_store(args)
    active = store.active_token()
    current = json.loads(active) if active else {}
    for m in store.versions():
        mark = "*" if (m.manifest.name, m.manifest.version) == (current.get("name"), current.get("version")) else " "
        print(f"{mark} {m.manifest.ref:24} {m.manifest.family:8} {len(m.manifest.labels):3} labels  "
              f"input {m.manifest.input_shape}  sha256 {m.manifest.sha256['model.bin'][:12]}  {m.manifest.created_at}")
    return 0


def _activate(args: argparse.Namespace) -> int:
    store, _ = open_store(args)
    model = store.get(args.name, args.version)
    store.load(model)  # refuse before switching, not after
    store.activate(args.name, model.manifest.version)
    print(f"active: {model.manifest.ref}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    store, _ = open_store(args)
    models = [store.get(args.name, args.version)] if args.name else store.versions()
    for m in models:
        store.load(m)
        print(f"{m.manifest.ref}: ok")
    return 0


# The families an operator's model may be of (agents/edge/models/families; listed here so that parsing the command
# line does not load them).
IMPORTABLE_FAMILIES = ("centernet", "nanodet", "ssd", "yolov8", "yolox")
BUILTIN_LABELS = "coco80"


def _import(args: argparse.Namespace) -> int:
    from agents.edge.models.errors import ModelValidationError
    from agents.edge.models.labels import COCO80, read_labels

    store, _ = open_store(args)
    if args.labels == BUILTIN_LABELS:
        labels = list(COCO80)
    else:
        try:
            labels = read_labels(Path(args.labels))
        except OSError as exc:
            raise ModelValidationError(args.labels, f"labels file unreadable: {exc.strerror}") from None
    model = store.import_file(args.path, name=args.name, family=args.family, labels=labels)
    print(f"{model.manifest.ref}: {model.path}")
    return 0


def add_store_arguments(p: argparse.ArgumentParser) -> None:
    """--config, --store and --cache, as every ``models`` action takes them."""
    add_config_argument(p, DEFAULT_CONFIG, "GUARDIAN_EDGE_CONFIG")
    p.add_argument("--store", type=Path, help="model store directory (default: from the config)")
    p.add_argument("--cache", type=Path, help="download cache (default: $GUARDIAN_CACHE or ~/.cache/guardian)")


def add_models_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """The ``models`` command; returns its actions, for the ones a higher floor adds (``eval``)."""
    models = sub.add_parser("models", help="manage detection models (fetch, list, activate, validate, import, eval)")
    msub = models.add_subparsers(metavar="ACTION")
    common = add_store_arguments

    p = msub.add_parser(
        "fetch", help="fetch and convert built-in models (nanodet, ssdlite-person, centernet, yolox-nano)",
        description="Fetch and convert built-in models. yolox-nano (the default: Megvii's YOLOX-Nano, Apache-2.0, "
        "from a pinned PyPI wheel), nanodet (the default before it) and ssdlite-person are Apache-2.0/MIT. "
        "centernet (MobileNetV3-CenterNet, 512x512) is a user's choice only: its npm redistribution says MIT, but "
        "the upstream repository (github.com/610265158/mobilenetv3_centernet) has no licence file; it is never "
        "the shipped default. Its scores run lower: while it is active, its own default thresholds (person 0.4, "
        "agents/edge/models/families/centernet.py) apply wherever [detection] sets no threshold/thresholds.",
    )
    p.add_argument("names", nargs="*", default=["yolox-nano"], metavar="NAME")
    p.add_argument("--activate", action="store_true", help="make the fetched model the active one")
    common(p)
    p.set_defaults(handler=_fetch)
    p = msub.add_parser("list", help="list stored models (* marks the active one)")
    common(p)
    p.set_defaults(handler=_list)
    for name, handler, text in (("activate", _activate, "validate a stored model and make it active"),
                                ("validate", _validate, "check files, shapes and a smoke inference")):
        p = msub.add_parser(name, help=text)
        p.add_argument("name", nargs="?" if name == "validate" else None)
        p.add_argument("version", nargs="?")
        common(p)
        p.set_defaults(handler=handler)
    p = msub.add_parser("import", help="store an operator's ONNX / IR / frozen TF model of a known family",
                        description="Store an operator's model. yolox: Megvii's ONNX exports (YOLOX-Nano to -X, "
                        "Apache-2.0) as they are released; their decoding is added to the graph. Activate it with "
                        "'guardian-edge models activate NAME'; compare it first with 'guardian-edge models eval'.")
    p.add_argument("path", type=Path)
    p.add_argument("--name", required=True)
    p.add_argument("--family", required=True, choices=IMPORTABLE_FAMILIES)
    p.add_argument("--labels", required=True, metavar="FILE|coco80",
                   help="labels file, one per line, in class order; or coco80: COCO's 80 classes in their usual order "
                   "(YOLOX, YOLOv8 and NanoDet COCO models)")
    common(p)
    p.set_defaults(handler=_import)
    return msub
