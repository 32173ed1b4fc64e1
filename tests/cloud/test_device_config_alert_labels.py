"""A camera's alert labels (issue #20): what makes an alert in its alert zones, saved with the camera, handed to
the relay in the desired config as ``DetectionConfig.alert_labels``, and validated (labels the edge knows, among
the camera's own labels when it has some). Both databases, the real app."""

from __future__ import annotations

from tests.cloud.test_device_config import camera, config_url, home, pull, put  # noqa: F401 (home: a fixture)

ZONE = {"name": "driveway", "points": [{"x": 0.5, "y": 0}, {"x": 1, "y": 0}, {"x": 1, "y": 1}]}


def test_alert_labels_are_saved_and_reach_the_relay(client, home) -> None:  # noqa: F811
    relay, admin = home
    detection = {"zones": [ZONE], "alert_zones": ["driveway"], "alert_labels": ["dog", "car"]}
    r = put(client, admin, [camera("porch", detection=detection), camera("yard")], base=0)
    assert r.status_code == 201, r.text
    got = client.get(config_url(), headers=admin.auth).json()["cameras"]
    assert got[0]["detection"]["alert_labels"] == ["dog", "car"]
    assert got[1]["detection"]["alert_labels"] == []  # none: a person or a vehicle, as before
    (config,), _ = pull(client, relay)
    assert list(config.cameras[0].detection.alert_labels) == ["dog", "car"]
    assert list(config.cameras[1].detection.alert_labels) == []
    # Saved again unchanged: the same version.
    assert put(client, admin, got, base=1).json()["version"] == 1


def test_alert_labels_the_edge_would_not_use_are_refused(client, home) -> None:  # noqa: F811
    _, admin = home
    for detection, mentions in [
        ({"alert_labels": ["unicorn"]}, "alert_labels"),  # not a label the edge's detectors report
        ({"alert_labels": ["dog", "dog"]}, "alert labels must be unique"),
        ({"labels": ["person", "car"], "alert_labels": ["dog"]}, "alert labels must be among the camera's labels: dog"),
    ]:
        r = put(client, admin, [camera("porch", detection=detection)], base=0)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", r.text
        assert mentions in r.text
