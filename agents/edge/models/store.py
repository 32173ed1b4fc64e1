"""The on-disk model store: versioned OpenVINO IR models with a manifest each, and one active pointer.

Layout under the store root::

    <name>/<version>/model.xml, model.bin, manifest.json
    active.json                       {"name": ..., "version": ...}

``manifest.json`` records the family, the labels, the input shape, the output names and shapes, the
sha256 of model.xml and model.bin, and where the model came from. A version is never modified after it is
written (a new conversion becomes a new version), so a running detector can always fall back to the one
it has. Switching the active pointer is an atomic rename; the detector service notices and hot-reloads.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from agents.edge.models.convert_yolox import ready_for_the_edge
from agents.edge.models.errors import ModelError, ModelValidationError
from agents.edge.models.families import get_family

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class ModelManifest:
    name: str
    version: str
    family: str
    labels: list[str]
    input_name: str
    input_shape: list[int]
    outputs: dict[str, list[int]]
    sha256: dict[str, str]
    source: str
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass
class StoredModel:
    manifest: ModelManifest
    path: Path  # the version directory

    @property
    def xml(self) -> Path:
        return self.path / "model.xml"

    @property
    def bin(self) -> Path:
        return self.path / "model.bin"


def _shape(partial: ov.PartialShape) -> list[int]:
    return [d.get_length() if d.is_static else -1 for d in partial]


def describe_model(model: ov.Model) -> tuple[str, list[int], dict[str, list[int]]]:
    if len(model.inputs) != 1:
        raise ModelError(f"a detector has one image input; this model has {len(model.inputs)}")
    inp = model.inputs[0]
    outputs = {o.get_any_name(): _shape(o.get_partial_shape()) for o in model.outputs}
    return inp.get_any_name(), _shape(inp.get_partial_shape()), outputs


def check_structure(source: str, family: str, labels: list[str], model: ov.Model) -> tuple[str, list[int], dict[str, list[int]]]:
    """Refuse a model whose input or outputs do not fit its family; returns what it found."""
    fam = get_family(family)
    try:
        input_name, input_shape, outputs = describe_model(model)
    except ModelError as exc:
        raise ModelValidationError(source, str(exc)) from None
    if len(input_shape) != 4 or input_shape[0] not in (1, -1):
        raise ModelValidationError(source, f"input must be one image [1, C, H, W] or [1, H, W, C]; got {input_shape}")
    layout = fam.input.layout
    channels = input_shape[1] if layout == "NCHW" else input_shape[3]
    if channels not in (3, -1):
        raise ModelValidationError(source, f"{family} input must have 3 channels in {layout}; got shape {input_shape}")
    if not labels:
        raise ModelValidationError(source, "no labels")
    problem = fam.check_outputs(outputs, len(labels))
    if problem:
        raise ModelValidationError(source, problem)
    return input_name, input_shape, outputs


def smoke_test(source: str, model: ov.Model, core: ov.Core | None = None) -> None:
    """Compile on CPU and run one inference on a grey image; refuse NaN or missing outputs."""
    core = core or ov.Core()
    try:
        compiled = core.compile_model(model, "CPU")
        inp = compiled.inputs[0]
        shape = [d if d > 0 else 320 for d in _shape(inp.get_partial_shape())]
        shape[0] = 1
        dtype = np.uint8 if inp.get_element_type() == ov.Type.u8 else np.float32
        result = compiled(np.full(shape, 114, dtype=dtype))
    except Exception as exc:
        raise ModelValidationError(source, f"smoke inference failed: {str(exc).splitlines()[0][:200]}") from None
    for out in compiled.outputs:
        value = np.asarray(result[out])
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise ModelValidationError(source, f"smoke inference gave non-finite values on {out.get_any_name()}")


class ModelStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    # -- reading ---------------------------------------------------------------------------------
    def versions(self, name: str | None = None) -> list[StoredModel]:
        found: list[StoredModel] = []
        if not self.root.is_dir():
            return found
        for manifest_path in sorted(self.root.glob("*/*/manifest.json")):
            if name is not None and manifest_path.parent.parent.name != name:
                continue
            try:
                manifest = ModelManifest(**json.loads(manifest_path.read_text()))
            except (OSError, ValueError, TypeError):
                continue  # a half-written or foreign directory is not a version
            found.append(StoredModel(manifest, manifest_path.parent))
        found.sort(key=lambda m: (m.manifest.name, _version_key(m.manifest.version)))
        return found

    def get(self, name: str, version: str | None = None) -> StoredModel:
        candidates = self.versions(name)
        if not candidates:
            raise ModelError(f"no model named {name!r} in {self.root}")
        if version is None:
            return candidates[-1]
        for c in candidates:
            if c.manifest.version == version:
                return c
        raise ModelError(f"model {name!r} has no version {version!r} (have: {', '.join(c.manifest.version for c in candidates)})")

    @property
    def active_file(self) -> Path:
        return self.root / "active.json"

    def active(self) -> StoredModel | None:
        try:
            pointer = json.loads(self.active_file.read_text())
        except (OSError, ValueError):
            return None
        return self.get(pointer["name"], pointer["version"])

    def active_token(self) -> str | None:
        """Changes whenever the active pointer changes (for hot reload polling)."""
        try:
            return self.active_file.read_text()
        except OSError:
            return None

    # -- writing ---------------------------------------------------------------------------------
    def activate(self, name: str, version: str | None = None) -> StoredModel:
        model = self.get(name, version)
        self.verify_files(model)
        _atomic_write(self.active_file, json.dumps({"name": name, "version": model.manifest.version}) + "\n")
        return model

    def add(self, model: ov.Model, *, name: str, family: str, labels: list[str], source: str, validate: bool = True) -> StoredModel:
        """Validate ``model`` and store it as the next version of ``name`` (same weights: same version)."""
        if not _NAME.match(name):
            raise ModelError(f"bad model name {name!r}: lower-case letters, digits, '.', '_', '-'")
        input_name, input_shape, outputs = check_structure(source, family, labels, model)
        if validate:
            smoke_test(source, model)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".incoming-", dir=self.root))
        try:
            ov.save_model(model, tmp / "model.xml", compress_to_fp16=False)
            sha = {"model.xml": sha256_file(tmp / "model.xml"), "model.bin": sha256_file(tmp / "model.bin")}
            for existing in self.versions(name):
                # The XML carries generated node names; the weights, labels and shapes identify a model.
                same = existing.manifest.sha256.get("model.bin") == sha["model.bin"]
                if same and (existing.manifest.labels, existing.manifest.family) == (labels, family) and (
                    existing.manifest.input_shape, existing.manifest.outputs
                ) == (input_shape, outputs):
                    return existing
            version = f"v{max((_version_key(m.manifest.version)[0] for m in self.versions(name)), default=0) + 1}"
            manifest = ModelManifest(
                name=name, version=version, family=family, labels=list(labels), input_name=input_name,
                input_shape=input_shape, outputs=outputs, sha256=sha, source=source,
            )
            (tmp / "manifest.json").write_text(json.dumps(asdict(manifest), indent=2) + "\n")
            (tmp / "labels.txt").write_text("\n".join(labels) + "\n")
            tmp.chmod(0o755)
            final = self.root / name / version
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
            return StoredModel(manifest, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def import_file(self, path: Path, *, name: str, family: str, labels: list[str], validate: bool = True) -> StoredModel:
        """An operator's own ONNX / IR (.xml) / TF frozen graph (.pb) of a known family; a YOLOX export from Megvii
        gets its decoding appended, as the built-in YOLOX-Nano does (:mod:`agents.edge.models.convert_yolox`)."""
        try:
            model = ov.Core().read_model(path)
        except Exception as exc:
            raise ModelValidationError(str(path), f"not a model OpenVINO can read: {str(exc).splitlines()[0][:200]}") from None
        if family == "yolox":
            model = ready_for_the_edge(model, len(labels))
        return self.add(model, name=name, family=family, labels=labels, source=str(path), validate=validate)

    # -- checking --------------------------------------------------------------------------------
    def verify_files(self, model: StoredModel) -> None:
        for filename, expected in model.manifest.sha256.items():
            path = model.path / filename
            if not path.is_file():
                raise ModelValidationError(str(path), "file missing")
            if sha256_file(path) != expected:
                raise ModelValidationError(str(path), "sha256 does not match the manifest (corrupt or replaced)")

    def load(self, model: StoredModel, core: ov.Core | None = None, smoke: bool = True) -> ov.Model:
        """Read a stored version after checking its files, its structure and (optionally) one inference."""
        self.verify_files(model)
        core = core or ov.Core()
        try:
            ovm = core.read_model(model.xml, model.bin)
        except Exception as exc:
            raise ModelValidationError(str(model.xml), f"unreadable: {str(exc).splitlines()[0][:200]}") from None
        _, input_shape, outputs = check_structure(str(model.xml), model.manifest.family, model.manifest.labels, ovm)
        if input_shape != model.manifest.input_shape or outputs != model.manifest.outputs:
            raise ModelValidationError(
                str(model.xml), f"shapes differ from the manifest: input {input_shape}, outputs {outputs}"
            )
        if smoke:
            smoke_test(str(model.xml), ovm, core)
        return ovm


def _version_key(version: str) -> tuple[int, str]:
    digits = version.lstrip("v")
    return (int(digits), version) if digits.isdigit() else (0, version)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def manifest_dict(model: StoredModel) -> dict[str, Any]:
    return asdict(model.manifest) | {"path": str(model.path)}
