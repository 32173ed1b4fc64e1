"""The desired config's ``mqtt`` section in the cloud (issue #20, Home Assistant on the LAN): saved and
handed to the relay with its password sealed to the edge's key, never in the clear; validated; a change
of it alone is a new version; its TLS CA is a PEM certificate or nothing."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from demo.pki import make_ca
from tests.cloud.test_device_config import (
    DEVICE,
    Edge,
    _every_text_in_the_database,
    b64url,
    camera,
    config_url,
    home,  # noqa: F401  (the fixture)
    post_batch,
    pull,
    seal,
    status,
)

MQTT_PASSWORD = "Broker-Walnut-Harbour-9"


def save(client, admin, base: int, mqtt: object) -> Any:
    return client.put(config_url(), headers=admin.auth,
                      json={"base_version": base, "cameras": [camera("porch")], "mqtt": mqtt})


def test_the_mqtt_section_travels_sealed_and_is_validated(client, app, home) -> None:  # noqa: F811
    relay, admin = home
    edge = Edge()
    post_batch(client, relay, config_status=[status(DEVICE, 0, edge=edge)])
    key = client.get(config_url(), headers=admin.auth).json()["config_key"]
    sealed = seal(key["public_key"], key["key_id"], MQTT_PASSWORD)
    mqtt = {"enabled": True, "host": "192.168.1.20", "port": 1883, "username": "guardian", "password": sealed,
            "topic_prefix": "home/guardian", "discovery": True, "tls": False, "ca_pem": ""}

    # The password in the clear is no shape the API takes; nor a broker without a host, nor a wildcard prefix.
    assert save(client, admin, 0, {**mqtt, "password": MQTT_PASSWORD}).status_code == 422
    assert save(client, admin, 0, {**mqtt, "host": ""}).status_code == 422
    assert save(client, admin, 0, {**mqtt, "topic_prefix": "home/#"}).status_code == 422
    stale = {**sealed, "key_id": "0123456789abcdef"}
    r = save(client, admin, 0, {**mqtt, "password": stale})
    assert r.status_code == 409 and r.json()["error"]["code"] == "stale_config_key", r.text

    r = save(client, admin, 0, mqtt)
    assert r.status_code == 201, r.text
    assert r.json()["mqtt"] == mqtt  # as saved: the password still sealed
    assert save(client, admin, 1, mqtt).status_code == 200  # identical: nothing saved
    # A change of the MQTT section alone is a new version.
    r = save(client, admin, 1, {**mqtt, "discovery": False})
    assert r.status_code == 201 and r.json()["version"] == 2, r.text

    # Saving the cameras alone (the cameras page) keeps the section; null removes it.
    r = client.put(config_url(), headers=admin.auth, json={"base_version": 2, "cameras": [camera("porch"), camera("yard")]})
    assert r.status_code == 201 and r.json()["mqtt"] == {**mqtt, "discovery": False}, r.text
    assert save(client, admin, 3, None).json()["mqtt"] is None
    r = save(client, admin, 4, {**mqtt, "discovery": False})
    assert r.status_code == 201 and r.json()["version"] == 5, r.text

    (config,), _ = pull(client, relay)
    assert config.mqtt.host == "192.168.1.20" and config.mqtt.topic_prefix == "home/guardian"
    assert not config.mqtt.discovery and config.mqtt.password.key_id == edge.key_id
    assert edge.open(config.mqtt.password.ciphertext) == MQTT_PASSWORD.encode()  # only the edge can

    stored = _every_text_in_the_database(app)
    ciphertext = base64.urlsafe_b64decode(sealed["ciphertext"] + "=" * (-len(sealed["ciphertext"]) % 4))
    assert base64.b64encode(ciphertext).decode() in stored and b64url(ciphertext) == sealed["ciphertext"]
    assert MQTT_PASSWORD not in stored and base64.b64encode(MQTT_PASSWORD.encode()).decode() not in stored


def test_the_brokers_ca_travels_to_the_edge_and_only_a_certificate_is_taken(client, home, tmp_path: Path) -> None:  # noqa: F811
    relay, admin = home
    post_batch(client, relay, config_status=[status(DEVICE, 0, edge=Edge())])
    make_ca(tmp_path / "ca.pem", tmp_path / "ca.key", "Site CA")
    ca_pem, ca_key = (tmp_path / "ca.pem").read_text(), (tmp_path / "ca.key").read_text()
    mqtt = {"enabled": True, "host": "broker.lan", "port": 8883, "username": "", "password": None,
            "topic_prefix": "", "discovery": True, "tls": True, "ca_pem": ca_pem}

    for bad, problem in (({**mqtt, "tls": False}, "only used with TLS"), ({**mqtt, "ca_pem": "no cert"}, "not a PEM certificate"),
                         ({**mqtt, "ca_pem": ca_pem + ca_key}, "this is a private key"),
                         ({**mqtt, "ca_pem": "A" * 16385}, "at most 16384 characters")):
        r = save(client, admin, 0, bad)
        assert r.status_code == 422 and problem in r.text, r.text
        assert "PRIVATE KEY" not in r.text  # a key pasted by mistake is not echoed back
    r = save(client, admin, 0, mqtt)
    assert r.status_code == 201 and r.json()["mqtt"]["ca_pem"] == ca_pem, r.text
    (config,), _ = pull(client, relay)
    assert config.mqtt.tls and config.mqtt.ca_pem == ca_pem
