"""Errors of the model store, the converters and model validation."""

from __future__ import annotations

from guardian.runtime.errors import EX_CONFIG, EX_UNAVAILABLE, GuardianError


class ModelError(GuardianError):
    """A model cannot be fetched, converted, stored or used."""

    exit_code = EX_UNAVAILABLE


class ModelValidationError(ModelError):
    """A model file was refused: ``path`` names it, ``reason`` says why in one line."""

    exit_code = EX_CONFIG

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"model refused: {path}: {reason}")


class UnsupportedOpError(ModelError):
    """The TensorFlow.js graph uses an operation the converter does not implement."""

    def __init__(self, op: str, node: str) -> None:
        self.op = op
        self.node = node
        super().__init__(f"unsupported TensorFlow.js operation {op!r} (node {node!r})")
