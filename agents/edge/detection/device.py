"""Which OpenVINO device inference runs on: ``[detection] device`` against the devices OpenVINO lists.

:func:`choose_device` is pure (the setting and ``Core().available_devices`` in, the choice and why out), so
every branch is tested without the hardware; the :class:`~agents.edge.detection.detector.Detector` calls it
and falls back to the CPU when the chosen device cannot compile the model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

AUTO = "auto"  # Guardian's choice; "AUTO" (upper case) is OpenVINO's own automatic-device plugin
CPU = "CPU"
# "auto", a plain device ("CPU", "GPU", "GPU.1", "NPU") or an OpenVINO virtual device with its list
# ("AUTO", "AUTO:GPU,CPU", "MULTI:GPU,CPU", "HETERO:GPU,CPU").
DEVICE_PATTERN = r"^(auto|CPU|GPU(\.\d+)?|NPU|(AUTO|MULTI|HETERO)(:[A-Z]+(\.\d+)?(,[A-Z]+(\.\d+)?)*)?)$"
_VIRTUAL = re.compile(r"^(AUTO|MULTI|HETERO)\b")


@dataclass(frozen=True)
class DeviceChoice:
    """The configured device (``requested``), the one compiled for (``device``) and why."""

    requested: str
    device: str
    reason: str
    fallback: bool = False  # the configured device was not used: the CPU runs instead

    def on_cpu(self, reason: str) -> DeviceChoice:
        """The CPU instead, because of ``reason`` (the device could not compile the model)."""
        return replace(self, device=CPU, reason=reason, fallback=self.requested not in (AUTO, CPU))


def choose_device(setting: str, available: Sequence[str]) -> DeviceChoice:
    """The device ``setting`` means on a machine where OpenVINO lists ``available`` devices.

    ``auto``: the first GPU OpenVINO lists (an Intel iGPU: a Mini PC's CPU cores stay free for decoding,
    recording and the motion gate), else the CPU. Never the NPU by itself: OpenVINO's NPU plugin compiles
    only static shapes (docs.openvino.ai, "Supported Devices": dynamic shapes "No" for NPU), while the
    detector's graph takes frames of any size (dynamic spatial input) and ends in NMS with a dynamic number
    of boxes; it would need a reshape per camera size and numpy post-processing, so it is opt-in
    (``device = "NPU"``) and its cost is for ``bench/`` to show first. An explicit device that OpenVINO
    does not list falls back to the CPU (``fallback``); OpenVINO's virtual devices (``AUTO…``, ``MULTI…``,
    ``HETERO…``) pick among the real ones themselves and are passed on as written.
    """
    listed = ", ".join(available) or "none"
    if setting == AUTO:
        gpu = next((d for d in available if d.split(".")[0] == "GPU"), None)
        if gpu is not None:
            return DeviceChoice(setting, gpu, f"auto: OpenVINO lists a GPU ({listed})")
        return DeviceChoice(setting, CPU, f"auto: OpenVINO lists no GPU ({listed})")
    if _VIRTUAL.match(setting):
        return DeviceChoice(setting, setting, "configured (OpenVINO picks the device)")
    wanted = setting.split(".")[0]
    # "GPU" matches "GPU.0" when a box has two GPUs (OpenVINO then numbers them); "GPU.1" only itself.
    if setting in available or (setting == wanted and any(d.split(".")[0] == wanted for d in available)):
        return DeviceChoice(setting, setting, "configured")
    return DeviceChoice(setting, CPU, f"{setting} is not among OpenVINO's devices ({listed})",
                        fallback=setting != CPU)
