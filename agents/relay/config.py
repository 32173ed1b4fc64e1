"""The relay's settings: one TOML file (default /etc/guardian/relay.toml), env prefix GUARDIAN_RELAY_.

Secrets (the relay's request-signing key) come from a file, normally a systemd credential
(``LoadCredential=``), never from the TOML itself.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from agents.relay.archive_config import ArchiveSettings
from guardian.runtime.config import AgentSettings, Section
from guardian.runtime.metrics import MetricsSettings

DEFAULT_CONFIG = "/etc/guardian/relay.toml"


class EnrolmentSettings(Section):
    address: str = Field("0.0.0.0", description="Address the HTTPS enrolment endpoint listens on (public).")
    port: int = Field(8443, ge=0, le=65535, description="TCP port of the HTTPS enrolment endpoint.")
    tls_cert_file: Path = Field(description="PEM certificate (chain) the enrolment endpoint presents.")
    tls_key_file: Path = Field(description="PEM private key of that certificate.")
    public_endpoint: str = Field(
        description="host:port of the relay's WireGuard UDP port as edges reach it (returned at enrolment)."
    )
    token_public_keys: list[str] = Field(
        description="The cloud's Ed25519 token keys (base64url), as served by the cloud at /api/v1/keys."
    )
    client_ca_file: Path | None = Field(
        None, description="tls mode only: CA that signs edge client certificates (made at setup)."
    )
    client_ca_key_file: Path | None = Field(
        None, description="tls mode only: private key of that CA (a credential)."
    )


class TunnelSettings(Section):
    mode: Literal["wireguard", "tls"] = Field(
        "wireguard",
        description="wireguard: the uplink runs inside a WireGuard tunnel (production). tls: edge and relay "
        "talk gRPC over mutual TLS on a local address (the local demo; no tunnel).",
    )
    interface: str = Field("wg-guardian", max_length=15, description="WireGuard interface name.")
    implementation: Literal["auto", "kernel", "userspace"] = Field(
        "auto", description="auto: kernel WireGuard when the kernel has it, else wireguard-go."
    )
    listen_port: int = Field(51820, ge=1, le=65535, description="WireGuard UDP port.")
    network: str = Field("10.77.0.0/24", description="Tunnel network; the relay takes the first address.")
    private_key_file: Path = Field(
        Path("/var/lib/guardian-relay/wireguard.key"), description="Relay's WireGuard key (made on first start)."
    )
    keepalive_s: int = Field(25, ge=0, le=3600, description="Persistent keepalive the relay asks edges to use.")
    reconcile_interval_s: float = Field(5.0, gt=0, description="How often peers are checked against the registry "
                                        "(in tls mode too: a device revoked on this relay loses its streams then).")

    @field_validator("network")
    @classmethod
    def _network(cls, value: str) -> str:
        net = ipaddress.ip_network(value)
        if net.num_addresses < 4:
            raise ValueError("tunnel network too small")
        return str(net)

    @property
    def relay_address(self) -> str:
        return str(next(ipaddress.ip_network(self.network).hosts()))


class UplinkSettings(Section):
    port: int = Field(50051, ge=1, le=65535, description="gRPC port, bound on the tunnel address only.")
    tls_listen_address: str = Field("127.0.0.1", description="tls mode only: where the gRPC server listens.")
    edge_media_port: int = Field(50052, ge=1, le=65535, description="Port of each edge's EdgeMedia server.")
    max_batch: int = Field(512, ge=1, description="Messages stored per transaction at most.")


class MediaSettings(Section):
    """The browser-facing media endpoint (``/media/v1/...``), served on the enrolment HTTPS listener."""

    enabled: bool = Field(True, description="Serve clips, snapshots and thumbnails to holders of a clip token.")
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins of the cloud web UI allowed to read media (e.g. https://app.example.com). "
        "Credentials are never allowed: the clip token in the URL is the only authorisation.",
    )
    public_url: str | None = Field(
        None,
        description="This relay's URL as the cloud puts it in clip tokens; when set, a token naming another "
        "URL is refused. Unset: not checked (the tenant and device checks still apply).",
    )
    first_byte_timeout_s: float = Field(
        5.0, gt=0, description="The edge must start answering within this time, else 504 (edge unreachable)."
    )
    idle_timeout_s: float = Field(20.0, gt=0, description="Longest pause between chunks from the edge mid-transfer.")
    discover_timeout_s: float = Field(
        20.0, gt=0, description="How long a camera search on the edge's LAN may take before the browser gets 504."
    )
    probe_timeout_s: float = Field(
        20.0, gt=0, description="How long a stream probe on the edge may take before the browser gets 504."
    )


class LiveSettings(Section):
    """Live view (issue #18): signalling at ``/media/v1/devices/{id}/cameras/{camera}/live`` and TURN
    credentials for the relay's coturn (``use-auth-secret``; provisioning/templates/turnserver.conf.j2)."""

    enabled: bool = Field(False, description="Serve live view; needs turn_urls and secret_file.")
    turn_urls: list[str] = Field(
        default_factory=list,
        description="The TURN server as browsers reach it, e.g. turn:relay.example.com:3478?transport=udp.",
    )
    edge_turn_urls: list[str] = Field(
        default_factory=list,
        description="The TURN server as edges reach it (through the tunnel, e.g. turn:10.77.0.1:3478); "
        "empty: the same as turn_urls.",
    )
    secret_file: Path = Field(
        Path("/etc/guardian-relay/turn-secret"),
        description="coturn's static-auth-secret (the TURN REST API shared secret), one line; never logged.",
    )
    answer_timeout_s: float = Field(
        15.0, gt=0, description="How long the edge may take to open the camera and answer an offer before 504."
    )
    turn_credential_s: int = Field(
        3600, ge=60, le=86400,
        description="Lifetime of a live view's TURN credentials. coturn refuses an expired one when a peer refreshes "
        "its allocation or permissions (every few minutes), so they outlive the live token, which a viewer renews "
        "while it watches; the edge still ends the session when the last token expires. A view watched longer "
        "than this reconnects.",
    )

    @model_validator(mode="after")
    def _enabled_needs_turn(self) -> LiveSettings:
        if self.enabled and not self.turn_urls:
            raise ValueError("live.enabled needs live.turn_urls")
        return self


class UpdatesSettings(Section):
    """The update mirror (issue #19, :mod:`agents.relay.update_mirror`): the release files the edges'
    systemd-sysupdate fetches, served on the tunnel address only and cached here, so edges need no route
    out but their tunnel."""

    enabled: bool = Field(False, description="Serve and cache update files for this relay's edges.")
    origin: str = Field(
        "",
        description="Where releases are published (scripts/release-image.sh's DEST served over HTTP(S)), e.g. "
        "https://updates.example.com/; it holds guardian-edge/ and guardian-relay/.",
    )
    ca_file: Path | None = Field(None, description="CA bundle to verify the origin's certificate (default: system).")
    port: int = Field(
        8480, ge=1, le=65535,
        description="Plain HTTP port on the tunnel address. The edges' transfers (/usr/lib/sysupdate.d) name 8480: "
        "change both or neither.",
    )
    cache_dir: Path = Field(
        Path("/var/cache/guardian-relay/updates"),
        description="Files verified against the release's SHA256SUMS; a file no release lists any more is deleted.",
    )
    index_ttl_s: float = Field(
        60.0, gt=0,
        description="How long a release's SHA256SUMS and signature are served before the origin is asked again "
        "(when the origin cannot be reached, the last ones are served).",
    )
    timeout_s: float = Field(30.0, gt=0, description="Origin connect and read timeout (between chunks).")
    images: list[str] = Field(
        default_factory=lambda: ["guardian-edge", "guardian-relay"],
        description="Image ids served (directories of the origin); any other path is 404.",
    )

    @field_validator("origin")
    @classmethod
    def _origin(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/") + "/" if value else value

    @field_validator("images")
    @classmethod
    def _images(cls, value: list[str]) -> list[str]:
        for image in value:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", image):
                raise ValueError(f"{image!r} is not an image id")
        return value

    @model_validator(mode="after")
    def _enabled_needs_origin(self) -> UpdatesSettings:
        if self.enabled and not self.origin:
            raise ValueError("updates.enabled needs updates.origin")
        return self


class CacheSettings(Section):
    database: Path = Field(Path("/var/lib/guardian-relay/relay.db"), description="The relay's SQLite file.")
    event_retention_days: float = Field(30.0, gt=0, description="Events older than this are deleted.")
    telemetry_retention_hours: float = Field(24.0, gt=0, description="Telemetry samples kept this long.")
    cleanup_interval_s: float = Field(600.0, gt=0, description="How often expired rows are deleted.")


class HealthSettings(Section):
    offline_after_s: float = Field(90.0, gt=0, description="No message for this long: the device is offline.")
    degraded_outbox_length: int = Field(1000, ge=1, description="An outbox longer than this: degraded.")
    degraded_disk_percent: float = Field(90.0, gt=0, le=100, description="Disk use above this: degraded.")
    report_interval_s: float = Field(30.0, gt=0, description="How often DeviceHealth is sent to the cloud.")


class CloudSettings(Section):
    enabled: bool = Field(True, description="Forward summaries and health to the cloud.")
    url: str = Field("https://cloud.invalid", description="Base URL of the cloud (https).")
    ca_file: Path | None = Field(None, description="CA bundle to verify the cloud's certificate (default: system).")
    relay_id: str = Field(description="This relay's id, as registered in the cloud.")
    tenant_id: str = Field(description="The tenant this relay serves; bootstrap tokens must name it.")
    signing_key_file: Path = Field(
        Path("/var/lib/guardian-relay/relay-signing.key"),
        description="Ed25519 key (base64url seed) that signs requests to the cloud; a credential.",
    )
    request_signature: Literal["legacy", "rfc9421"] = Field(
        "legacy",
        description="How requests to the cloud are signed: `legacy` (X-Guardian-* headers, all a cloud of the "
        "previous release understands) or `rfc9421` (HTTP Message Signatures; a cloud of this release accepts "
        "both). Switch once the cloud runs this release; the default becomes `rfc9421` next release.",
    )
    batch_size: int = Field(500, ge=1, le=5000, description="Events per ingest request at most.")
    interval_s: float = Field(1.0, gt=0, description="Pause between forwarding rounds when idle.")
    timeout_s: float = Field(10.0, gt=0, description="HTTP timeout per request.")
    backoff_max_s: float = Field(60.0, gt=0, description="Longest pause between retries.")
    revocation_poll_s: float = Field(
        30.0,
        gt=0,
        description="How often the cloud's revocation list (GET /api/v1/relay/revocations) is fetched: revoked "
        "devices lose their tunnel peer and uplink, revoked bootstrap tokens can no longer enrol.",
    )
    config_poll_s: float = Field(
        5.0,
        gt=0,
        description="How often the cloud's desired camera configurations (GET /api/v1/relay/configs) are "
        "fetched from a cloud that does not hold the request (`config_wait_s` 0, or a cloud without long "
        "polls); edges get a new version over the tunnel as soon as it is fetched.",
    )
    config_wait_s: int = Field(
        25,
        ge=0,
        le=30,
        description="Long poll of the desired configurations: the cloud holds the request up to this long while "
        "nothing changed and answers as soon as one is saved, and the relay asks again at once. The answer's "
        "read timeout is this plus `timeout_s`. 0: poll every `config_poll_s` instead.",
    )


class RelaySettings(AgentSettings):
    model_config = SettingsConfigDict(env_prefix="GUARDIAN_RELAY_")

    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.", pattern=r"^(?i:debug|info|warning|error)$")
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    enrolment: EnrolmentSettings = Field(description="The public HTTPS enrolment endpoint.")
    tunnel: TunnelSettings = Field(default_factory=TunnelSettings)
    uplink: UplinkSettings = Field(default_factory=UplinkSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    cloud: CloudSettings = Field(description="Where privacy-minimised summaries go.")
    archive: ArchiveSettings = Field(default_factory=ArchiveSettings, description="Encrypted clip archive.")
    media: MediaSettings = Field(default_factory=MediaSettings, description="Clip/snapshot endpoint for browsers.")
    live: LiveSettings = Field(default_factory=LiveSettings, description="Live view: signalling and TURN.")
    updates: UpdatesSettings = Field(default_factory=UpdatesSettings, description="Update files for the edges.")

    @model_validator(mode="after")
    def _tls_mode_needs_ca(self) -> RelaySettings:
        if self.tunnel.mode == "tls" and (
            self.enrolment.client_ca_file is None or self.enrolment.client_ca_key_file is None
        ):
            raise ValueError("tunnel.mode = 'tls' needs enrolment.client_ca_file and enrolment.client_ca_key_file")
        network = ipaddress.ip_network(self.tunnel.network)
        loopback = isinstance(network, ipaddress.IPv4Network) and network.subnet_of(
            ipaddress.IPv4Network("127.0.0.0/8")
        )
        if self.tunnel.mode == "tls" and not loopback:
            # Demo only: devices get loopback addresses where their EdgeMedia servers listen.
            raise ValueError("tunnel.mode = 'tls' is for the local demo: set tunnel.network inside 127.0.0.0/8, "
                             "e.g. '127.77.0.0/24'")
        return self
