"""``guardian-edge models eval``: how the installed model does on a labelled set, on the box itself.

    guardian-edge models eval GROUND_TRUTH.json [--media DIR]... [--model NAME [--version V]]
                              [--fit stretch,letterbox] [--input-size 640] [--tiles 2x1] [--camera NAME]
                              [--target-precision 0.9] [--floor 0.15]

The model (the active one, else the config's ``[detection] model``) runs through the detector service's
own pre- and post-processing (:class:`~agents.edge.detection.detector.Detector`) on the configured
device, with the config's ``[detection]`` settings except the score floor (every detection ≥ ``--floor``
is kept: the curves start there) and the labels (the set's); one variant per input fit. The figures
(:mod:`agents.edge.models.evaluation`) are printed per class and variant, with precision and recall at
the config's own thresholds. ``--input-size`` runs the network at another square input (a multiple of 32);
``--tiles`` adds, per fit, a variant detecting on the whole frame plus that grid of overlapping tiles (the
cameras' ``detection.tiles``). Then, per label and variant, the precision/recall curve and the threshold
suggested for ``--target-precision`` (the lowest score cut reaching it: the most recall at that precision),
the value for a camera's per-label thresholds. Footage is looked up in each ``--media`` directory, then
beside the file.

``--camera NAME`` evaluates as that camera of this box runs (its stored detection settings, read from the
edge's database): its input size and tiles, then its labels, minimum area and masks applied to the
detections as the detector service applies them (:class:`~agents.edge.detection.camera_rules.CameraRules`),
and P/R at its own per-label thresholds where it sets them. So an operator labels a few of the camera's frames
and sees what a mask or a threshold changes before or after setting it.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.edge.config import EdgeSettings
from agents.edge.detection.config import DetectionSettings
from agents.edge.detection.tiling import TileGrid
from agents.edge.models.cli import add_store_arguments, edge_settings, open_store
from guardian.runtime.errors import GuardianError

if TYPE_CHECKING:  # numpy, protobuf and OpenVINO: loaded by the command itself, not by `guardian-edge --help`
    import numpy as np

    from agents.edge.detection.camera_rules import CameraRules
    from agents.edge.tracking.types import Detection

FITS = ("stretch", "letterbox")


def scoring_settings(settings: DetectionSettings, labels: Sequence[str], floor: float, **changes: Any) -> DetectionSettings:
    """``settings`` reporting every one of ``labels`` scoring at least ``floor`` (``changes`` on top)."""
    return settings.model_copy(update={"labels": list(labels), "selectable_labels": [], "threshold": floor,
                                       "thresholds": {}, **changes})


class UnknownCamera(GuardianError):
    """``--camera`` names no camera this box runs."""

    exit_code = os.EX_USAGE

    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(f"no camera named {name!r} on this box (known: {', '.join(known) or 'none'})")


def camera_rules(settings: EdgeSettings, name: str) -> CameraRules:
    """The detection rules of the camera ``name`` as the detector service reads them from the edge's database."""
    from agents.edge.camera_config.cameras import runnable_cameras
    from agents.edge.db import database_path, open_database
    from agents.edge.detection.camera_rules import CameraRules

    path = database_path(settings)
    if not path.exists():  # opening it would create an empty one
        raise UnknownCamera(name, [])
    engine, sessions = open_database(path)
    try:
        cameras = {spec.name: spec for spec in runnable_cameras(sessions)}
    finally:
        engine.dispose()
    if name not in cameras:
        raise UnknownCamera(name, sorted(cameras))
    return CameraRules.from_json(name, cameras[name].detection_json)


def _fits(text: str) -> list[str]:
    fits = [f for f in text.split(",") if f]
    unknown = sorted(set(fits) - set(FITS))
    if not fits or unknown:
        raise argparse.ArgumentTypeError(f"unknown: {', '.join(unknown) or '(none given)'} (known: {', '.join(FITS)})")
    return fits


def _tiles(text: str) -> TileGrid:
    try:
        columns, rows = (int(n) for n in text.lower().split("x"))
        return TileGrid(columns, rows)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: COLUMNSxROWS, e.g. 2x1 ({exc})") from None


def _eval(args: argparse.Namespace) -> int:
    # OpenVINO, PyAV and pycocotools: loaded for this command only, not for every guardian-edge command.
    from agents.edge.detection.detector import Detector
    from agents.edge.models.evaluation import (
        detect_all,
        evaluate,
        format_report,
        format_suggestions,
        load_set,
        suggestions,
    )
    from agents.edge.models.families import get_family

    store, _ = open_store(args)
    settings = edge_settings(args)
    d = settings.detection
    rules = camera_rules(settings, args.camera) if args.camera else None
    stored = store.get(args.model, args.version) if args.model else store.active() or store.get(d.model)
    labelled = load_set(args.ground_truth, args.media)
    results = {}
    family = get_family(stored.manifest.family)  # the geometry and thresholds the config leaves unset are its
    default_fit, default_size = d.input_geometry(family)
    if rules is not None and rules.input_size:
        default_size = rules.input_size
    size = args.input_size if args.input_size is not None else default_size
    for fit in args.fit or [default_fit]:
        filters = scoring_settings(d, labelled.label_names, args.floor, input_fit=fit, input_size=size)
        detector = Detector(stored, store.load(stored), device=d.device, performance_hint="LATENCY", num_requests=1,
                            filters=filters)
        grids = [rules.tiles if rules is not None else None]
        if args.tiles is not None and args.tiles.tiled and args.tiles not in grids:
            grids.append(args.tiles)
        for grid in grids:
            variant = (args.camera or fit) + (f"+{grid.columns}x{grid.rows}" if grid is not None else "")
            if args.camera and len(args.fit or []) > 1:
                variant = f"{variant}:{fit}"
            results[variant] = detect_all(under_rules(functools.partial(detector.detect, tiles=grid), rules),
                                          labelled.frames)
    print(f"# {stored.manifest.ref}, input {size or stored.manifest.input_shape}, {detector.device}, scores ≥ {args.floor}; "
          f"P/R at the {'camera' if rules is not None else 'config'}'s thresholds")

    own = dict(rules.thresholds) if rules is not None else {}

    def threshold_of(label: str) -> float:
        return own[label] if label in own else d.threshold_of(label, family=family)

    print(format_report(labelled, evaluate(labelled, results, threshold_of)))
    print()
    print(format_suggestions(suggestions(labelled, results, args.target_precision), args.target_precision))
    return 0


def under_rules(detect: Callable[[np.ndarray], list[Detection]],
                rules: CameraRules | None) -> Callable[[np.ndarray], list[Detection]]:
    """``detect``, then a camera's ``rules`` as the detector service applies them, all but their thresholds: those
    are the camera's P/R figures, and the curves need every detection down to the floor."""
    if rules is None:
        return detect
    keep = dataclasses.replace(rules, thresholds=())
    return lambda frame: keep.apply(detect(frame))


def add_eval_parser(models: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = models.add_parser("eval", help="evaluate a stored model on a labelled set (COCO-style ground truth)")
    p.add_argument("ground_truth", type=Path, metavar="GROUND_TRUTH", help="the set's ground_truth.json")
    p.add_argument("--media", type=Path, action="append", default=[],
                   help="a directory holding the set's footage (repeatable; then beside the file)")
    p.add_argument("--model", help="stored model name (default: the active model, else the config's)")
    p.add_argument("--version", help="version of --model (default: the newest)")
    p.add_argument("--fit", type=_fits, help=f"input fits to compare, comma-separated ({', '.join(FITS)}; default: the "
                   "config's, else the model family's)")
    p.add_argument("--floor", type=float, default=0.15, help="lowest score kept (the curves start here)")
    p.add_argument("--input-size", type=int, help="network input side in pixels, a multiple of 32 (default: the config's, "
                   "else the model family's, else the model's own)")
    p.add_argument("--tiles", type=_tiles, help="also evaluate each fit tiled: COLUMNSxROWS, e.g. 2x1")
    p.add_argument("--camera", metavar="NAME", help="evaluate as this box's camera NAME runs: its input size, tiles, "
                   "labels, masks and thresholds")
    p.add_argument("--target-precision", type=float, default=0.9,
                   help="precision the suggested per-label thresholds reach (default 0.9)")
    add_store_arguments(p)
    p.set_defaults(handler=_eval)
