"""TURN REST API credentials against a real coturn configured from the relay's template: minted ones
allocate, expired, forged or other-secret ones are refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aioice import stun, turn

from agents.relay.turn_credentials import TurnCredentialError, mint_turn_credentials, peer_range
from tests.relay.coturn import Coturn


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    with Coturn(tmp_path_factory.mktemp("coturn")) as server:
        yield server


def allocate(server: Coturn, username: str, credential: str) -> tuple[str, int]:
    """A TURN Allocate with these credentials; returns the relayed address or raises."""

    async def run() -> tuple[str, int]:
        transport, _ = await asyncio.wait_for(
            turn.create_turn_endpoint(asyncio.DatagramProtocol, ("127.0.0.1", server.port), username, credential),
            10,
        )
        try:
            return transport.get_extra_info("sockname")
        finally:
            transport.close()

    return asyncio.run(run())


def test_minted_credentials_allocate(coturn: Coturn) -> None:
    creds = coturn.mint("viewer-1", ttl_s=60)
    host, port = allocate(coturn, creds.username, creds.credential)
    assert host == "127.0.0.1" and port > 0
    assert creds.username.endswith(":viewer-1") and creds.expires_at > time.time()


@pytest.mark.parametrize("case", ["expired", "wrong-secret", "tampered-expiry"])
def test_bad_credentials_are_refused(coturn: Coturn, case: str) -> None:
    if case == "expired":
        creds = coturn.mint("viewer-2", ttl_s=60, now=time.time() - 120)
        username, credential = creds.username, creds.credential
    elif case == "wrong-secret":
        creds = mint_turn_credentials(b"not-the-relay-secret", "viewer-3", 60)
        username, credential = creds.username, creds.credential
    else:
        # A later expiry with the HMAC of the real one: the name is what the HMAC covers.
        creds = coturn.mint("viewer-4", ttl_s=60)
        username, credential = f"{creds.expires_at + 3600}:viewer-4", creds.credential
    with pytest.raises(stun.TransactionFailed) as refused:
        allocate(coturn, username, credential)
    assert refused.value.response.attributes["ERROR-CODE"][0] == 401


def test_mint_refuses_bad_input() -> None:
    with pytest.raises(TurnCredentialError):
        mint_turn_credentials(b"", "tag", 60)
    with pytest.raises(TurnCredentialError):
        mint_turn_credentials(b"s", "a:b", 60)  # ':' would change the expiry coturn reads
    with pytest.raises(TurnCredentialError):
        mint_turn_credentials(b"s", "tag", 0)


def test_known_vector_and_peer_range(tmp_path: Path) -> None:
    # The HMAC as coturn's docs compute it: base64(hmac-sha1(secret, "expiry:user")).
    creds = mint_turn_credentials(b"north", "alice", 100, now=1_700_000_000)
    assert creds.username == "1700000100:alice"
    import base64, hashlib, hmac  # noqa: E401,I001 - the reference computation, spelled out here

    expected = base64.b64encode(hmac.new(b"north", b"1700000100:alice", hashlib.sha1).digest()).decode()
    assert creds.credential == expected
    assert peer_range("10.77.0.0/24") == "10.77.0.0-10.77.0.255"
