"""The device registry: enrolment with single-use bootstrap tokens, re-enrolment, key rotation, revocation.

Bootstrap tokens are minted by the cloud and verified here offline (:mod:`guardian.contracts.auth`, with the
cloud's public keys from the config). Single use is enforced by this relay: the token's nonce is stored
in ``used_tokens`` in the same transaction that registers the device (a primary key, so two concurrent
enrolments with one token cannot both commit). Tokens the cloud revoked (learned by
:mod:`agents.relay.revocations`) are in ``revoked_tokens`` and refused like used ones. Every refusal
leaves the registry unchanged.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from agents.common.wireguard import valid_public_key
from agents.relay.db.tables import Device, RevokedToken, UsedToken, utcnow
from agents.relay.errors import EnrolmentRefused, UnknownDevice
from guardian.contracts import auth
from guardian.runtime.logging import get_logger

log = get_logger("guardian.relay.registry")


@dataclass(frozen=True)
class Enrolled:
    device_id: str
    tenant_id: str
    tunnel_address: str  # host address, no prefix
    reenrolled: bool


def new_device_id() -> str:
    return "dev-" + secrets.token_hex(8)


def _allocate_address(session: Session, network: str, relay_address: str) -> str:
    taken = set(session.scalars(select(Device.tunnel_address)))
    taken.add(relay_address)
    for host in ipaddress.ip_network(network).hosts():
        if str(host) not in taken:
            return str(host)
    raise EnrolmentRefused("network_full", "no free tunnel address left on this relay", status=503)


class Registry:
    def __init__(
        self,
        sessions: sessionmaker,
        *,
        tenant_id: str,
        relay_id: str,
        token_keys: auth.PublicKeys,
        network: str,
        relay_address: str,
    ) -> None:
        self.sessions = sessions
        self.tenant_id = tenant_id
        self.relay_id = relay_id
        self.token_keys = token_keys
        self.network = network
        self.relay_address = relay_address

    def verify_token(self, token: str, now: float | None = None) -> auth.BootstrapGrant:
        try:
            return auth.verify_bootstrap_token(
                token, self.token_keys, relay_id=self.relay_id, tenant_id=self.tenant_id, now=now
            )
        except auth.TokenExpired:
            raise EnrolmentRefused("token_expired", "bootstrap token has expired; ask for a new one", 401) from None
        except auth.TokenMismatch as exc:
            what = "tenant" if exc.reason == "wrong_tenant" else "relay"
            raise EnrolmentRefused(
                exc.reason, f"bootstrap token was issued for another {what}, not this relay", 403
            ) from None
        except auth.TokenError:
            raise EnrolmentRefused("token_invalid", "bootstrap token is not valid (format or signature)", 401) from None

    def enrol(
        self, token: str, public_key: str, device_id: str | None = None, now: float | None = None
    ) -> Enrolled:
        """Register a new device (or re-enrol ``device_id`` under a new key) with a bootstrap token."""
        grant = self.verify_token(token, now)
        if not valid_public_key(public_key):
            raise EnrolmentRefused("bad_public_key", "public_key must be a base64 WireGuard key", 422)
        with self.sessions() as session, session.begin():
            if session.get(UsedToken, grant.nonce) is not None:
                raise EnrolmentRefused("token_used", "bootstrap token was already used", 409)
            if session.get(RevokedToken, grant.nonce) is not None:
                raise EnrolmentRefused(
                    "token_revoked", "bootstrap token was revoked; ask the tenant admin for a new one", 409
                )
            owner = session.scalars(select(Device).where(Device.public_key == public_key)).first()
            if owner is not None and owner.device_id != device_id:
                raise EnrolmentRefused("key_in_use", "that public key belongs to another device", 409)
            reenrolled = False
            if device_id is not None:
                device = session.get(Device, device_id)
                if device is None or device.tenant_id != grant.tenant_id:
                    raise EnrolmentRefused("unknown_device", "no such device on this relay to re-enrol", 404)
                if device.revoked_at is not None:
                    raise EnrolmentRefused("device_revoked", "device was revoked; enrol it as a new device", 403)
                device.public_key = public_key
                device.rotated_at = utcnow()
                reenrolled = True
            else:
                device = Device(
                    device_id=new_device_id(),
                    tenant_id=grant.tenant_id,
                    label=grant.label,
                    public_key=public_key,
                    tunnel_address=_allocate_address(session, self.network, self.relay_address),
                )
                session.add(device)
            session.add(
                UsedToken(
                    nonce=grant.nonce,
                    expires_at=datetime.fromtimestamp(grant.expires_at, UTC) + timedelta(minutes=5),
                    device_id=device.device_id,
                )
            )
            try:
                session.flush()
            except IntegrityError:
                raise EnrolmentRefused("token_used", "bootstrap token was already used", 409) from None
        log.info("device_enrolled", device=device.device_id, reenrolled=reenrolled, address=device.tunnel_address)
        return Enrolled(device.device_id, device.tenant_id, device.tunnel_address, reenrolled)

    def rotate_key(self, tunnel_source: str, new_public_key: str) -> Device:
        """Replace the key of the device that calls from ``tunnel_source`` (identity = tunnel address)."""
        if not valid_public_key(new_public_key):
            raise EnrolmentRefused("bad_public_key", "public_key must be a base64 WireGuard key", 422)
        with self.sessions() as session, session.begin():
            device = self.active_by_address(session, tunnel_source)
            if device is None:
                raise EnrolmentRefused("not_in_tunnel", "key rotation is only accepted from inside the tunnel", 403)
            clash = session.scalars(select(Device).where(Device.public_key == new_public_key)).first()
            if clash is not None and clash.device_id != device.device_id:
                raise EnrolmentRefused("key_in_use", "that public key belongs to another device", 409)
            device.public_key = new_public_key
            device.rotated_at = utcnow()
        log.info("device_key_rotated", device=device.device_id)
        return device

    @staticmethod
    def active_by_address(session: Session, address: str) -> Device | None:
        return session.scalars(
            select(Device).where(Device.tunnel_address == address, Device.revoked_at.is_(None))
        ).first()

    def device_for_address(self, address: str) -> Device | None:
        with self.sessions() as session:
            return self.active_by_address(session, address)

    def active_devices(self) -> list[Device]:
        with self.sessions() as session:
            return list(session.scalars(select(Device).where(Device.revoked_at.is_(None)).order_by(Device.device_id)))

    def revoke(self, device_id: str, source: str = "local") -> Device:
        return revoke_device(self.sessions, device_id, source)

    def forget_expired_tokens(self) -> int:
        """Forget used and revoked token nonces whose tokens have expired (they are refused as expired)."""
        from sqlalchemy import delete

        now = utcnow()
        with self.sessions() as session, session.begin():
            used = session.execute(delete(UsedToken).where(UsedToken.expires_at < now)).rowcount or 0
            revoked = session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now)).rowcount or 0
            return used + revoked


def revoke_device(sessions: sessionmaker, device_id: str, source: str = "local") -> Device:
    """Revoke a device: its peer is removed and its streams closed by the running relay.

    The one revocation path: ``guardian-relay device revoke`` (``source="local"``) and the cloud's
    revocation list (``source="cloud"``, :mod:`agents.relay.revocations`). Revoking twice changes nothing.
    """
    with sessions() as session, session.begin():
        device = session.get(Device, device_id)
        if device is None:
            raise UnknownDevice(device_id)
        changed = device.revoked_at is None
        if changed:
            device.revoked_at = utcnow()
            device.status = "revoked"  # reported to the cloud as REVOKED (agents.relay.health)
            device.status_reason = "revoked"
    if changed:
        log.info("device_revoked", device=device_id, source=source)
    else:
        log.info("device_already_revoked", device=device_id, source=source)
    return device
