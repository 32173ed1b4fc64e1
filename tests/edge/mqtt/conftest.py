from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.edge.mqtt.broker import Mosquitto, Subscriber


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(tmp_path / "broker")
    mosquitto.directory.mkdir()
    mosquitto.start()
    yield mosquitto
    mosquitto.stop()


@pytest.fixture
def subscriber(broker: Mosquitto) -> Iterator[Subscriber]:
    sub = Subscriber(broker.port)
    yield sub
    sub.close()
