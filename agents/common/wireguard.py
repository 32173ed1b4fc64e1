"""WireGuard on the appliances: keys made on the device, the interface, its peers and its health.

Kernel WireGuard is used when the kernel has it (``ip link add … type wireguard`` works); otherwise
``wireguard-go`` (user space, the only option on machines without the module) provides the same
interface. Either way the interface is configured with ``wg`` (which talks netlink to the kernel or the
UAPI socket ``/run/wireguard/IFNAME.sock`` to wireguard-go), so one code path serves both.

The private key is generated on the device, written once with mode 0600, and handed to ``wg`` as a
*file* (``private-key PATH``) so it never appears in a command line, a log line or a network message.
Only the public key leaves the device.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from guardian.runtime.errors import GuardianError
from guardian.runtime.logging import get_logger

log = get_logger("guardian.wireguard")

# A handshake older than this means the session keys have expired (WireGuard's REJECT_AFTER_TIME).
HANDSHAKE_STALE_S = 180.0


class WireGuardError(GuardianError):
    """A WireGuard operation failed; ``command`` is what ran (never with key material)."""

    def __init__(self, message: str, command: str = "", stderr: str = "") -> None:
        self.command = command
        self.stderr = stderr
        super().__init__(f"{message}: {stderr.strip()}" if stderr else message)


# --- keys ---------------------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.standard_b64encode(raw).decode("ascii")


def valid_public_key(value: str) -> bool:
    try:
        return len(base64.b64decode(value, validate=True)) == 32
    except (ValueError, TypeError):
        return False


def public_key_of(private_key_b64: str) -> str:
    raw = base64.b64decode(private_key_b64)
    key = X25519PrivateKey.from_private_bytes(raw)
    return _b64(key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def ensure_keypair(path: Path) -> str:
    """Create the device's private key at ``path`` (0600) if absent; return the *public* key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        raw = X25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(_b64(raw) + "\n")
        log.info("wireguard_key_generated", path=str(path))
    return public_key_of(path.read_text().strip())


def rotate_keypair(path: Path) -> str:
    """Generate a new private key next to the old one (``PATH.new``); returns its public key.

    The caller promotes it with :func:`promote_rotated_key` once the relay has accepted the new public
    key, so a failed rotation leaves the working key in place.
    """
    pending = path.with_suffix(path.suffix + ".new")
    pending.unlink(missing_ok=True)
    return ensure_keypair(pending)


def promote_rotated_key(path: Path) -> None:
    pending = path.with_suffix(path.suffix + ".new")
    os.replace(pending, path)


# --- status -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeerStatus:
    public_key: str
    endpoint: str | None
    allowed_ips: tuple[str, ...]
    latest_handshake: float  # unix seconds, 0 when never
    rx_bytes: int
    tx_bytes: int
    keepalive_s: int

    def handshake_age(self, now: float | None = None) -> float | None:
        if not self.latest_handshake:
            return None
        return max(0.0, (now or time.time()) - self.latest_handshake)


@dataclass(frozen=True)
class InterfaceStatus:
    name: str
    public_key: str
    listen_port: int
    peers: dict[str, PeerStatus]


def parse_dump(text: str, name: str) -> InterfaceStatus:
    """Parse ``wg show IF dump`` (first line the interface, then one line per peer, tab-separated)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise WireGuardError(f"empty status for {name}")
    head = lines[0].split("\t")
    # private-key, public-key, listen-port, fwmark — the private key is dropped right here.
    public_key, listen_port = head[1], int(head[2])
    peers: dict[str, PeerStatus] = {}
    for line in lines[1:]:
        f = line.split("\t")
        pub, _psk, endpoint, allowed, handshake, rx, tx, keepalive = f[:8]
        peers[pub] = PeerStatus(
            public_key=pub,
            endpoint=None if endpoint == "(none)" else endpoint,
            allowed_ips=tuple(a for a in allowed.split(",") if a and a != "(none)"),
            latest_handshake=float(handshake),
            rx_bytes=int(rx),
            tx_bytes=int(tx),
            keepalive_s=0 if keepalive == "off" else int(keepalive),
        )
    return InterfaceStatus(name=name, public_key=public_key, listen_port=listen_port, peers=peers)


# --- the interface ------------------------------------------------------------------------------


def _run(args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise WireGuardError(f"{args[0]} failed", " ".join(args), proc.stderr)
    return proc


def kernel_wireguard_available() -> bool:
    """Whether the kernel can create WireGuard links (probed once with a throwaway link)."""
    probe = f"wgprobe{os.getpid() % 100000}"
    proc = _run(["ip", "link", "add", probe, "type", "wireguard"], check=False)
    if proc.returncode == 0:
        _run(["ip", "link", "del", probe], check=False)
        return True
    return False


@dataclass
class Peer:
    public_key: str
    allowed_ips: tuple[str, ...]
    endpoint: str | None = None
    keepalive_s: int = 0


class WireGuardInterface:
    """One WireGuard interface in the current network namespace.

    ``implementation`` is ``"auto"`` (kernel when present, else wireguard-go), ``"kernel"`` or
    ``"userspace"``.
    """

    def __init__(
        self,
        name: str,
        private_key_file: Path,
        address: str,
        listen_port: int | None = None,
        implementation: str = "auto",
        mtu: int = 1420,
    ) -> None:
        if len(name) > 15:
            raise WireGuardError(f"interface name {name!r} is longer than 15 characters")
        self.name = name
        self.private_key_file = private_key_file
        self.address = ipaddress.ip_interface(address)
        self.listen_port = listen_port
        self.implementation = implementation
        self.mtu = mtu
        self.kind: str | None = None  # "kernel" | "userspace" once up

    # -- lifecycle --
    def exists(self) -> bool:
        return _run(["ip", "link", "show", "dev", self.name], check=False).returncode == 0

    def _create(self) -> None:
        use_kernel = self.implementation == "kernel" or (
            self.implementation == "auto" and kernel_wireguard_available()
        )
        if use_kernel:
            _run(["ip", "link", "add", self.name, "type", "wireguard"])
            self.kind = "kernel"
        else:
            binary = shutil.which("wireguard-go")
            if binary is None:
                raise WireGuardError("no kernel WireGuard and no wireguard-go binary (apt install wireguard-go)")
            # wireguard-go daemonises itself and outlives this process; the interface (and so the
            # tunnel) survives an agent restart, and `ip link del` ends it.
            # Its daemon child inherits our stdio, so no pipes here (reading them would wait for it).
            # (WG_PROCESS_FOREGROUND must be unset: wireguard-go sets it for its child, and a value
            # inherited from here would win in the child and break the hand-over of the UAPI socket.)
            env = {k: v for k, v in os.environ.items() if not k.startswith("WG_")}
            env["LOG_LEVEL"] = "error"
            with tempfile.TemporaryFile("w+") as errors:
                proc = subprocess.run(
                    [binary, self.name], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
                    env=env, timeout=30, start_new_session=True,
                )
                if proc.returncode != 0:
                    errors.seek(0)
                    raise WireGuardError("wireguard-go failed", f"wireguard-go {self.name}", errors.read())
            self.kind = "userspace"
        log.info("wireguard_interface_created", interface=self.name, implementation=self.kind)

    def up(self) -> None:
        """Create (if needed) and configure the interface: key, port, address, link up. Idempotent."""
        if not self.exists():
            self._create()
        elif self.kind is None:
            self.kind = "userspace" if Path(f"/run/wireguard/{self.name}.sock").exists() else "kernel"
        args = ["wg", "set", self.name, "private-key", str(self.private_key_file)]
        if self.listen_port is not None:
            args += ["listen-port", str(self.listen_port)]
        _run(args)
        addrs = _run(["ip", "-o", "addr", "show", "dev", self.name]).stdout
        if str(self.address) not in addrs:
            _run(["ip", "addr", "replace", str(self.address), "dev", self.name])
        _run(["ip", "link", "set", "dev", self.name, "mtu", str(self.mtu), "up"])

    def down(self) -> None:
        if self.exists():
            _run(["ip", "link", "del", "dev", self.name], check=False)
            log.info("wireguard_interface_removed", interface=self.name)

    # -- peers --
    def set_peer(self, peer: Peer) -> None:
        args = ["wg", "set", self.name, "peer", peer.public_key, "allowed-ips", ",".join(peer.allowed_ips)]
        if peer.endpoint:
            args += ["endpoint", peer.endpoint]
        args += ["persistent-keepalive", str(peer.keepalive_s) if peer.keepalive_s else "off"]
        _run(args)

    def remove_peer(self, public_key: str) -> None:
        _run(["wg", "set", self.name, "peer", public_key, "remove"])

    def status(self) -> InterfaceStatus:
        return parse_dump(_run(["wg", "show", self.name, "dump"]).stdout, self.name)

    def sync_peers(self, desired: list[Peer]) -> tuple[int, int]:
        """Make the peer set equal ``desired``: add/update what differs, remove the rest."""
        current = self.status().peers
        want = {p.public_key: p for p in desired}
        added = removed = 0
        for key, peer in want.items():
            have = current.get(key)
            if have is None or set(have.allowed_ips) != set(peer.allowed_ips) or have.keepalive_s != peer.keepalive_s:
                self.set_peer(peer)
                added += 1
        for key in current.keys() - want.keys():
            self.remove_peer(key)
            removed += 1
        return added, removed
