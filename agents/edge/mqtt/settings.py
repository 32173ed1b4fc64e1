"""The desired config's ``mqtt`` section as the publisher uses it: defaults filled in, the password opened
with the edge's config key (in memory only), and the node id Home Assistant knows this edge by."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from nacl.exceptions import CryptoError
from nacl.public import SealedBox
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from agents.common.sqlite import WriterSession
from agents.edge.camera_config.cameras import KeySource
from agents.edge.camera_config.store import APPLIED
from agents.edge.db.tables import ConfigVersion
from guardian.contracts.edge.v1 import config_pb2
from guardian.runtime.errors import GuardianError

DEFAULT_PREFIX = "guardian"
_NOT_ID = re.compile(r"[^a-zA-Z0-9_-]")


class MqttConfigError(GuardianError):
    """The applied ``mqtt`` section cannot be used (its password cannot be opened)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class BrokerSettings:
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    topic_prefix: str
    discovery: bool
    tls: bool
    node_id: str  # [a-zA-Z0-9_-]: topics, unique ids and the Home Assistant device
    ca_pem: str = field(default="", repr=False)  # with tls: the CA(s) to trust, PEM; empty: the system's


def object_id(text: str) -> str:
    """``text`` as a piece of a Home Assistant object or unique id (``traffic light`` → ``traffic_light``)."""
    return _NOT_ID.sub("_", text)


def broker_settings(config: config_pb2.MqttConfig, device_id: str, keys: KeySource) -> BrokerSettings | None:
    """None while MQTT is off. Raises :class:`MqttConfigError` when the password cannot be opened."""
    if not config.enabled or not config.host:
        return None
    password = ""
    if config.HasField("password") and config.password.ciphertext:
        key = keys.get()
        if key is None:
            raise MqttConfigError("this edge has no config key to open the MQTT password with")
        try:
            password = SealedBox(key.private).decrypt(config.password.ciphertext).decode()
        except (CryptoError, UnicodeDecodeError) as exc:
            raise MqttConfigError("the MQTT password cannot be opened with this edge's config key") from exc
    return BrokerSettings(
        host=config.host, port=config.port or (8883 if config.tls else 1883), username=config.username,
        password=password, topic_prefix=config.topic_prefix.strip("/") or DEFAULT_PREFIX,
        discovery=config.discovery, tls=config.tls, node_id=f"guardian_{object_id(device_id or 'edge')}",
        ca_pem=config.ca_pem if config.tls else "",
    )


def applied_desired(sessions: sessionmaker[WriterSession]) -> bytes | None:
    """The applied DesiredConfig as stored (serialised; credentials sealed), None before the first."""
    with sessions() as session:
        return session.scalar(select(ConfigVersion.payload).where(ConfigVersion.status == APPLIED)
                              .order_by(ConfigVersion.version.desc()).limit(1))
