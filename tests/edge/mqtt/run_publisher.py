"""A publisher in a process of its own (for the kill -9 test): prints ``connected`` once it is, then waits
to be killed. Its logs go to stderr, so that stdout holds the marker alone (paho's thread logs while the
main thread prints)."""

from __future__ import annotations

import os
import sys
import threading

from agents.edge.mqtt.metrics import MqttMetrics
from agents.edge.mqtt.publisher import MqttPublisher
from agents.edge.mqtt.settings import BrokerSettings
from guardian.runtime.logging import configure_logging
from guardian.runtime.metrics import AgentMetrics
from tests.edge.mqtt.broker import USER


def main() -> None:
    configure_logging("INFO", stream=sys.stderr)
    broker = BrokerSettings("127.0.0.1", int(os.environ["MQTT_PORT"]), USER, os.environ["MQTT_PASSWORD"], "site",
                            True, False, "guardian_dev-1")
    publisher = MqttPublisher(broker, {}, MqttMetrics.on(AgentMetrics("edge")))
    publisher.start()
    if not publisher.wait_connected(30):
        raise SystemExit("not connected to the broker")
    print("connected", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
