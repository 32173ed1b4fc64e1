"""The relay forwards an edge's MQTT connection state with its config report (issue #20), and only a state
of the contract: anything else is left out (and said), not the whole report."""

from __future__ import annotations

from agents.relay.config_reports import MAX_TEXT, config_status
from guardian.contracts.edge.v1 import config_pb2


def test_the_mqtt_state_is_forwarded_and_a_state_outside_the_contract_left_out() -> None:
    report = config_pb2.ConfigReport(applied_version=2, mqtt=config_pb2.MqttStatus(state="failing", error="x" * 900))
    status, left_out = config_status("edge-1", report)
    assert left_out == [] and status.mqtt.state == "failing" and len(status.mqtt.error) == MAX_TEXT

    report.mqtt.state = "on fire"
    status, left_out = config_status("edge-1", report)
    assert not status.HasField("mqtt") and left_out == ["an MQTT state that is not the contract's"]
    assert status.applied_version == 2

    status, _ = config_status("edge-1", config_pb2.ConfigReport(applied_version=2))  # an older edge: nothing said
    assert not status.HasField("mqtt")
