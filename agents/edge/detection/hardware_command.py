"""``guardian-edge hardware``: what acceleration this box offers and what the detector would choose.

Prints the DRM render nodes (with their PCI vendor), the hardware device types PyAV's FFmpeg was built
with, OpenVINO's devices with their full names, and the inference device and detection decode path that
``[detection] device`` and ``decode`` (from the config file, else their defaults, ``auto``) come to here.
It changes nothing and exits 0; the running detector says the same once per model load and per camera
(logs, and the ``guardian_edge_detection_device_info`` and ``guardian_edge_detection_decode_path`` metrics).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agents.edge.config import DEFAULT_CONFIG, EdgeSettings
from agents.edge.detection.device import choose_device
from agents.edge.video.decode_path import DRI_DIR, SYSFS_DRM, choose_decode, hw_device_types, render_nodes
from guardian.runtime.cli import add_config_argument
from guardian.runtime.config import load_settings


def _openvino_devices() -> list[tuple[str, str]]:
    """(device, FULL_DEVICE_NAME) for each device OpenVINO lists."""
    import openvino as ov

    core = ov.Core()
    devices = []
    for device in core.available_devices:
        try:
            name = str(core.get_property(device, "FULL_DEVICE_NAME"))
        except RuntimeError as exc:  # a plugin that lists a device it cannot describe
            name = f"(no name: {str(exc).splitlines()[0][:120]})"
        devices.append((device, name))
    return devices


def _hardware(args: argparse.Namespace) -> int:
    config: Path = args.config
    settings = load_settings(EdgeSettings, config) if config.is_file() else EdgeSettings()
    source = str(config) if config.is_file() else f"defaults (no {config})"
    nodes = render_nodes(args.dri_dir, args.sysfs_drm)
    types = hw_device_types()
    devices = _openvino_devices()
    print(f"render nodes ({args.dri_dir}):",
          ", ".join(f"{n.path.name} (vendor {n.vendor or 'unknown'}{', Intel' if n.intel else ''})" for n in nodes)
          or "none")
    print("PyAV hardware device types:", ", ".join(types) or "none")
    print("OpenVINO devices:")
    for device, name in devices:
        print(f"  {device}: {name}")
    if not devices:
        print("  none")
    available = [device for device, _ in devices]
    d = settings.detection
    print(f"what the detector chooses ({source}):")
    for label, setting in (("auto", "auto"), ("configured", d.device)):
        if label == "configured" and setting == "auto":
            continue
        choice = choose_device(setting, available)
        print(f"  inference ({label}, device = {setting!r}): {choice.device} - {choice.reason}")
    for label, setting in (("auto", "auto"), ("configured", d.decode)):
        if label == "configured" and setting == "auto":
            continue
        decode = choose_decode(setting, nodes, types)
        on = f" on {decode.device}" if decode.device else ""
        print(f"  decode ({label}, decode = {setting!r}): {decode.path}{on} - {decode.reason}")
    return 0


def add_hardware_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``guardian-edge hardware``."""
    cmd = sub.add_parser("hardware", help="show the GPU/NPU and decoders found and what detection would use")
    add_config_argument(cmd, DEFAULT_CONFIG, "GUARDIAN_EDGE_CONFIG")
    # Where render nodes and their vendors are looked for (tests give a directory of their own).
    cmd.add_argument("--dri-dir", type=Path, default=DRI_DIR, help=argparse.SUPPRESS)
    cmd.add_argument("--sysfs-drm", type=Path, default=SYSFS_DRM, help=argparse.SUPPRESS)
    cmd.set_defaults(handler=_hardware)
