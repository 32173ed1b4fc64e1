"""A tenant admin revokes in the real cloud; the relay (in its namespace, WireGuard to a real edge) learns
it from GET /api/v1/relay/revocations and enforces it: the device loses its tunnel peer and uplink, the
unused bootstrap token can no longer enrol, both survive a relay restart, and a cloud outage is survived."""

from __future__ import annotations

import subprocess
import time

import pytest
from fastapi.testclient import TestClient

from guardian.contracts import auth
from tests.relay.cloud_real import TenantAdmin, app_for, cloud_settings, prepare
from tests.relay.netlab import (
    ENROL_PORT,
    RELAY_ID,
    RELAY_PUBLIC,
    RELAY_TUNNEL,
    TENANT,
    UPLINK_PORT,
    Lab,
    wait_for,
)

pytestmark = pytest.mark.slow


def _relay_peers(lab: Lab) -> list[str]:
    out = subprocess.run(["ip", "netns", "exec", lab.ns_relay, "wg", "show", lab.wg_relay, "peers"],
                         capture_output=True, text=True, check=True).stdout
    return out.split()


def _log_count(lab: Lab, event: str) -> int:
    path = lab.logs["relay"]
    return path.read_text(errors="replace").count(f'"{event}"') if path.exists() else 0


def test_cloud_revocations_reach_the_relay_and_stay(make_lab) -> None:
    lab: Lab = make_lab(relay_overrides={"cloud": {"revocation_poll_s": 1.0}})
    # The real cloud: its signing key is the one the relay trusts for bootstrap tokens, and the relay is
    # registered there with its request-signing public key.
    (lab.dir / "cloud").mkdir()
    values = cloud_settings(lab.dir / "cloud" / "cloud.db", lab.token_key)
    prepare(values, tenant_id=TENANT, relay_id=RELAY_ID,
            relay_public_key=auth.public_key_to_text(lab.relay_signing_key),
            relay_url=f"https://{RELAY_PUBLIC}:{ENROL_PORT}")
    admin = TenantAdmin(TestClient(app_for(values), base_url="https://testserver"))  # same database
    lab.start_real_cloud(values)
    lab.start_relay()

    # A device enrols with a token from the cloud and sends over the tunnel; the cloud learns of it.
    enrolled = lab.enrol(admin.issue_token("porch")["token"])
    assert enrolled.returncode == 0, enrolled.stderr
    lab.start_edge()
    lab.enqueue_events(5)
    wait_for(lambda: lab.relay_event_count() == 5, 90, "5 events at the relay")
    (device_id,) = lab.relay_query("SELECT device_id FROM devices")[0]
    wait_for(lambda: device_id in admin.devices(), 60, "the cloud to list the device")
    assert len(_relay_peers(lab)) == 1

    # The tenant admin revokes the device, and an unused token.
    spare = admin.issue_token("spare")
    admin.revoke_token(spare["id"])
    admin.revoke_device(device_id)

    # Within a few polls: registry row revoked, WireGuard peer gone, stream closed, token recorded.
    wait_for(lambda: lab.relay_query("SELECT revoked_at FROM devices WHERE device_id = ?", (device_id,))[0][0],
             60, "the device to be revoked at the relay")
    wait_for(lambda: _relay_peers(lab) == [], 30, "the peer to leave the relay's interface")
    wait_for(lambda: lab.relay_query("SELECT 1 FROM revoked_tokens WHERE nonce = ?", (spare["id"],)), 30,
             "the revoked token to be recorded")
    wait_for(lambda: _log_count(lab, "uplink_stream_closed") == _log_count(lab, "uplink_stream_opened"), 30,
             "the device's uplink stream to end")
    assert lab.relay_query("SELECT status, status_reason FROM devices") == [("revoked", "revoked")]
    assert not lab.port_open(lab.ns_edge, RELAY_TUNNEL, UPLINK_PORT)
    lab.enqueue_events(5)  # the edge keeps trying; nothing more gets in
    time.sleep(5)
    assert lab.relay_event_count() == 5 and lab.outbox_length() == 5

    # A new device with the revoked token: refused clearly, nothing registered.
    other = lab.dir / "edge2.toml"
    other.write_text(lab.edge_config.read_text().replace(str(lab.edge_data), str(lab.dir / "edge2")))
    refused = lab.enrol(spare["token"], config=other)
    assert refused.returncode == 78 and "relay refused enrolment (token_revoked)" in refused.stderr, refused.stderr
    assert "revoked" in refused.stderr.split("(token_revoked)", 1)[1]
    assert lab.relay_query("SELECT COUNT(*) FROM devices") == [(1,)]

    # Cloud outage: polls fail, the relay runs on. Restarted while the cloud is still down, it enforces
    # both revocations from its own database.
    applied = _log_count(lab, "cloud_revocations_applied")
    assert applied >= 1
    lab.stop("cloud")
    failed = _log_count(lab, "revocation_poll_failed")
    wait_for(lambda: _log_count(lab, "revocation_poll_failed") >= failed + 2, 60, "polls to fail")
    assert lab.procs["relay"].poll() is None
    lab.stop("relay")
    lab.start_relay()
    failed = _log_count(lab, "revocation_poll_failed")
    wait_for(lambda: _log_count(lab, "revocation_poll_failed") >= failed + 2, 60, "polls to fail after the restart")
    assert lab.procs["relay"].poll() is None
    assert _relay_peers(lab) == []
    refused = lab.enrol(spare["token"], config=other)
    assert refused.returncode == 78 and "(token_revoked)" in refused.stderr, refused.stderr
    assert not lab.port_open(lab.ns_edge, RELAY_TUNNEL, UPLINK_PORT)
    assert lab.relay_event_count() == 5

    # The cloud comes back: polling resumes, nothing changes (already applied), the relay is still up.
    lab.start_real_cloud(values)
    wait_for(lambda: _log_count(lab, "revocation_poll_recovered") >= 1, 60, "polling to recover")
    assert lab.procs["relay"].poll() is None
    assert _log_count(lab, "cloud_revocations_applied") == applied  # nothing applied twice
    assert lab.relay_query("SELECT COUNT(*) FROM devices WHERE revoked_at IS NULL") == [(0,)]
    # Device ids are logged; tokens and their nonces are not.
    log = lab.logs["relay"].read_text(errors="replace")
    assert spare["token"] not in log and spare["id"] not in log
