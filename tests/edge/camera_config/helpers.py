"""Desired configs as the cloud would send them, with credentials sealed as the browser seals them."""

from __future__ import annotations

from nacl.public import PublicKey, SealedBox

from agents.edge.camera_config.key import ConfigKey
from guardian.contracts.edge.v1 import config_pb2

DEVICE = "dev-1"


def seal(key: ConfigKey, username: str, password: str) -> config_pb2.SealedSecret:
    """What the browser does: crypto_box_seal to the edge's public key."""
    ciphertext = SealedBox(PublicKey(key.public_key)).encrypt(f"{username}:{password}".encode())
    return config_pb2.SealedSecret(ciphertext=ciphertext, key_id=key.key_id)


def camera(name: str, url: str, credentials: config_pb2.SealedSecret | None = None, enabled: bool = True,
           **fields: object) -> config_pb2.CameraConfig:
    source = config_pb2.StreamSource(url=url)
    if credentials is not None:
        source.credentials.CopyFrom(credentials)
    return config_pb2.CameraConfig(name=name, enabled=enabled, record=source, **fields)  # type: ignore[arg-type]


def desired(version: int, *cameras: config_pb2.CameraConfig, device_id: str = DEVICE) -> config_pb2.DesiredConfig:
    return config_pb2.DesiredConfig(device_id=device_id, version=version, cameras=list(cameras))
