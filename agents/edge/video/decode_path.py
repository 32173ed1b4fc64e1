"""Which decoder the detection stream goes through: software, Intel Quick Sync (``qsv``) or VAAPI.

:func:`choose_decode` is pure (the setting, the render nodes found and the hardware device types PyAV's
FFmpeg was built with in; the path, its device and why out), so every branch is tested without the
hardware. :func:`render_nodes` reads them from ``/dev/dri`` and sysfs, both directories injectable;
:func:`hw_device_types` asks PyAV. :class:`~agents.edge.video.frames.FrameReader` opens the chosen decoder
and falls back to software for good when it fails. Recording is a remux and never decodes.

Nothing here imports PyAV at module level: the settings tree imports :data:`DecodeSetting`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

DecodeSetting = Literal["auto", "software", "qsv", "vaapi"]
DecodePath = Literal["software", "qsv", "vaapi"]
DECODE_PATHS: tuple[DecodePath, ...] = ("software", "qsv", "vaapi")

DRI_DIR = Path("/dev/dri")
SYSFS_DRM = Path("/sys/class/drm")
INTEL = "0x8086"  # PCI vendor id in /sys/class/drm/renderD*/device/vendor


@dataclass(frozen=True)
class RenderNode:
    """A DRM render node (``/dev/dri/renderD128``) and its PCI vendor id (None: unknown)."""

    path: Path
    vendor: str | None = None

    @property
    def intel(self) -> bool:
        return self.vendor == INTEL


@dataclass(frozen=True)
class DecodeChoice:
    """The configured setting, the path decoded by, the render node it drives (hardware only) and why."""

    requested: str
    path: DecodePath
    reason: str
    device: str | None = None

    @property
    def hardware(self) -> bool:
        return self.path != "software"

    def software(self, reason: str) -> DecodeChoice:
        """Software decoding instead, because of ``reason``."""
        return replace(self, path="software", device=None, reason=reason)


SOFTWARE = DecodeChoice("software", "software", "configured")


def render_nodes(dri_dir: Path = DRI_DIR, sysfs_drm: Path = SYSFS_DRM) -> list[RenderNode]:
    """The render nodes in ``dri_dir`` (in order: renderD128 first), each with its vendor from sysfs."""
    if not dri_dir.is_dir():
        return []
    nodes = []
    for path in sorted(dri_dir.glob("renderD*")):
        try:
            vendor: str | None = (sysfs_drm / path.name / "device" / "vendor").read_text().strip().lower()
        except OSError:
            vendor = None
        nodes.append(RenderNode(path, vendor))
    return nodes


def hw_device_types() -> list[str]:
    """The hardware device types PyAV's FFmpeg was built with (the PyPI wheel: cuda, qsv, drm, amf)."""
    from av.codec.hwaccel import hwdevices_available

    return list(hwdevices_available())


def choose_decode(setting: str, nodes: Sequence[RenderNode], device_types: Sequence[str]) -> DecodeChoice:
    """The decode path ``setting`` means with render ``nodes`` and FFmpeg's hardware ``device_types``.

    ``auto`` picks hardware only where it can work. On an Intel node: QSV when FFmpeg has ``qsv`` and
    ``vaapi`` (on Linux FFmpeg opens a QSV device on top of a VAAPI one: without VAAPI it fails with "No
    supported child device type is enabled", as the PyPI wheel of PyAV does), else VAAPI when FFmpeg has
    it. On another vendor's node: VAAPI when FFmpeg has it. Otherwise software, saying why. An explicit
    ``qsv`` or ``vaapi`` is tried whenever there is a node and FFmpeg knows the type, and the reader falls
    back to software if the device will not open.
    """
    types = set(device_types)
    if setting == "software":
        return DecodeChoice(setting, "software", "configured")
    if setting in ("qsv", "vaapi"):
        path: DecodePath = "qsv" if setting == "qsv" else "vaapi"
        if path not in types:
            return DecodeChoice(setting, "software", f"PyAV's FFmpeg was built without {path}")
        node = next((n for n in nodes if n.intel), nodes[0] if nodes else None)  # an iGPU before a card
        if node is None:
            return DecodeChoice(setting, "software", "no render node (/dev/dri/renderD*)")
        return DecodeChoice(setting, path, "configured", str(node.path))
    if setting != "auto":
        raise ValueError(f"unknown decode setting {setting!r}")
    if not nodes:
        return DecodeChoice(setting, "software", "auto: no render node (/dev/dri/renderD*)")
    intel = next((n for n in nodes if n.intel), None)
    if intel is not None and {"qsv", "vaapi"} <= types:
        return DecodeChoice(setting, "qsv", "auto: an Intel render node, FFmpeg with qsv and vaapi", str(intel.path))
    if "vaapi" in types:
        node = intel or nodes[0]
        return DecodeChoice(setting, "vaapi", "auto: a render node, FFmpeg with vaapi", str(node.path))
    if intel is not None and "qsv" in types:
        return DecodeChoice(setting, "software", "auto: PyAV's FFmpeg has qsv but not vaapi, which QSV needs on Linux")
    return DecodeChoice(setting, "software", "auto: PyAV's FFmpeg was built without vaapi")


def select_decode(setting: str, dri_dir: Path = DRI_DIR, sysfs_drm: Path = SYSFS_DRM) -> DecodeChoice:
    """:func:`choose_decode` on this machine (``dri_dir`` and ``sysfs_drm`` for tests)."""
    if setting == "software":
        return SOFTWARE  # PyAV's hardware list is not even asked for
    return choose_decode(setting, render_nodes(dri_dir, sysfs_drm), hw_device_types())
