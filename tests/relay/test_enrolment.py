"""Token abuse is refused with clear errors and registers nothing; re-enrolment keeps the identity."""

from __future__ import annotations

import time

import pytest

from guardian.contracts import auth
from tests.relay.netlab import Lab

pytestmark = pytest.mark.slow


def _devices(lab: Lab) -> list[tuple]:
    return lab.relay_query("SELECT device_id, public_key, tunnel_address FROM devices")


def _tamper(token: str) -> str:
    head, claims, signature = token.split(".")
    flipped = ("A" if signature[5] != "A" else "B")
    return ".".join([head, claims, signature[:5] + flipped + signature[6:]])


def test_token_abuse_is_refused_and_registers_nothing(make_lab) -> None:
    lab = make_lab(cloud=False)
    lab.start_relay()
    attempts = {
        "token_expired": lab.token(ttl=60, now=time.time() - 3600),
        "token_invalid": lab.token(key=auth.generate_private_key()),  # signed by someone else
        "wrong_tenant": lab.token(tenant="tenant-b"),
        "wrong_relay": lab.token(relay="relay-b"),
    }
    attempts["bad signature"] = _tamper(lab.token())
    for reason, token in attempts.items():
        result = lab.enrol(token)
        assert result.returncode == 78, (reason, result.stdout, result.stderr)
        expected = "token_invalid" if reason == "bad signature" else reason
        assert f"relay refused enrolment ({expected})" in result.stderr, result.stderr
        assert token not in result.stderr + result.stdout  # never echoed
    assert _devices(lab) == []
    assert lab.relay_query("SELECT COUNT(*) FROM used_tokens") == [(0,)]

    good = lab.token()
    first = lab.enrol(good)
    assert first.returncode == 0, first.stderr
    registered = _devices(lab)
    assert len(registered) == 1

    # The same token again (here from the same device, which would otherwise be a valid re-enrolment).
    replay = lab.enrol(good)
    assert replay.returncode == 78 and "(token_used)" in replay.stderr, replay.stderr
    assert _devices(lab) == registered

    # A fresh token re-enrols the same device under a new key: same id, same tunnel address.
    again = lab.enrol(lab.token(), "--new-key")
    assert again.returncode == 0, again.stderr
    (device_id, key, address), = _devices(lab)
    assert device_id == registered[0][0] and address == registered[0][2] and key != registered[0][1]
    assert lab.relay_query("SELECT COUNT(*) FROM used_tokens") == [(2,)]
    # Nothing secret in the relay's log.
    log = lab.log_tail("relay", 500)
    assert good not in log and "PRIVATE" not in log.upper()
    private = (lab.edge_data / "uplink" / "wireguard.key").read_text().strip()
    assert private not in log and private not in again.stdout + again.stderr
