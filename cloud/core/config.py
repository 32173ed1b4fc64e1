"""The cloud's settings: a TOML file (default /etc/guardian/cloud.toml) overridden by ``GUARDIAN_CLOUD_*``.

Secrets (``secret_key``, ``signing_key``, ``oidc.client_secret``, ``archive.secret_access_key``,
``push.vapid_private_key``) come from
the environment or systemd credentials named by their dotted key (``guardian.runtime.credentials``):
``LoadCredential=secret_key:/etc/guardian/cloud/secret_key``. The program refuses to start when a secret
is missing, too short, or a known placeholder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from guardian.contracts import auth
from guardian.runtime.config import AgentSettings, Section, load_settings
from guardian.runtime.metrics import MetricsSettings

DEFAULT_CONFIG = "/etc/guardian/cloud.toml"
CONFIG_ENV = "GUARDIAN_CLOUD_CONFIG"

# A CSP host-source with a scheme: optional leading wildcard label, optional port or *.
_HOST_SOURCE = re.compile(r"^https?://(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:([0-9]{1,5}|\*))?/?$")

# Placeholders people copy from examples; refusing them keeps a demo secret out of production.
_PLACEHOLDERS = {"changethis", "change-me", "changeme", "secret", "password", "default", "example"}


class DatabaseSettings(Section):
    url: str = Field(
        "sqlite:////var/lib/guardian-cloud/cloud.db",
        description="SQLAlchemy URL: sqlite:///PATH (one machine) or postgresql+psycopg://… (production).",
    )
    pool_size: int = Field(
        10, ge=1, le=200, description="Connections per process for browser and API requests; at most this many "
        "such requests use the database at once, the others wait for a turn (503 after `http.queue_seconds`).",
    )
    service_pool_size: int = Field(
        4, ge=1, le=50, description="Connections per process kept for relay calls (ingest, revocations), live-event "
        "fan-out and retention, so browser load never stops events reaching the cloud.",
    )
    pool_timeout_seconds: float = Field(
        5.0, gt=0, le=60, description="Longest wait for a pooled connection before the request is answered 503.",
    )
    echo: bool = Field(False, description="Log every SQL statement (development only).")

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql+psycopg://", "postgresql://")):
            raise ValueError("must be a sqlite:// or postgresql+psycopg:// URL")
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith("postgresql")


class HttpSettings(Section):
    host: str = Field("127.0.0.1", description="Address uvicorn listens on (put a TLS proxy in front).")
    port: int = Field(8000, ge=1, le=65535, description="TCP port uvicorn listens on.")
    cors_origins: list[str] = Field(
        default_factory=list, description="Browser origins allowed by CORS (exact, e.g. https://app.example)."
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body accepted (413 beyond).")
    max_ingest_bytes: int = Field(
        4_194_304, ge=1024, description="Largest ingestion batch accepted from a relay (413 beyond)."
    )
    ui_dir: Path | None = Field(
        None, description="Built web UI (ui/dist) to serve at /; unset: look for ui/dist next to the code."
    )
    metrics_allow_from: list[str] = Field(
        default_factory=lambda: ["127.0.0.1/32", "::1/128"],
        description="Networks allowed to read /metrics on the API port.",
    )
    media_origins: list[str] = Field(
        default_factory=list,
        description="Extra CSP sources the UI may load media from, e.g. https://*.relays.example.org (wildcards "
        "keep the header short with many relays); the registered relays' origins are always allowed.",
    )
    trusted_proxy_count: int = Field(
        0, ge=0, le=5, description="Reverse proxies in front that append to X-Forwarded-For (for rate limits)."
    )
    workers: int = Field(
        1, ge=1, le=64, description="API worker processes on this host (PostgreSQL only: SQLite is one process). "
        "Live events cross processes and hosts through PostgreSQL LISTEN/NOTIFY.",
    )
    queue_seconds: float = Field(
        10.0, gt=0, le=120, description="Longest a request waits for its turn at the database before it is "
        "answered 503 with Retry-After.",
    )

    @field_validator("media_origins")
    @classmethod
    def _host_sources(cls, value: list[str]) -> list[str]:
        for source in value:
            if not _HOST_SOURCE.match(source):
                raise ValueError(f"{source!r} is not an origin like https://*.relays.example.org[:port]")
        return [v.lower().rstrip("/") for v in value]


class AuthSettings(Section):
    access_token_minutes: int = Field(10, ge=1, le=60, description="Lifetime of an access token.")
    refresh_token_days: int = Field(14, ge=1, le=90, description="Lifetime of a refresh token (cookie).")
    login_max_failures: int = Field(
        5, ge=1, description="Wrong passwords per account from one client address per window before that address "
        "gets 429 for that account (the account is never locked for everyone).",
    )
    login_max_failures_per_ip: int = Field(30, ge=1, description="Wrong passwords per client address per window (any account).")
    login_window_seconds: int = Field(900, ge=10, description="Window for counting failed logins.")
    cookie_secure: bool = Field(True, description="Mark cookies Secure (HTTPS only); keep on in production.")
    allow_signup: bool = Field(True, description="Allow self-service sign-up with a local account.")
    signup_max_per_ip: int = Field(5, ge=1, description="Sign-ups per client address per sign-up window; more get 429.")
    signup_max_total: int = Field(
        50, ge=1, description="Sign-ups per sign-up window from all addresses together; more get 429 (bounds what "
        "many addresses can create; relays are only taken when a tenant adds its first device).",
    )
    signup_window_seconds: int = Field(3600, ge=10, description="Window for counting sign-ups.")
    stream_check_seconds: float = Field(
        5.0, gt=0, le=60, description="How often an open live stream (SSE) re-checks its login; it ends within this "
        "long of a logout, password change or removal of the member, and at the access token's expiry.",
    )

    @property
    def throttle_window_seconds(self) -> int:
        """How long throttling records (failed logins, sign-ups) must be kept."""
        return max(self.login_window_seconds, self.signup_window_seconds)


class OidcSettings(Section):
    enabled: bool = Field(False, description="Offer login through an OpenID Connect provider.")
    display_name: str = Field(
        "", max_length=60, description="Provider name on the login button, e.g. Keycloak; empty: the issuer's host."
    )
    issuer: str = Field("", description="Issuer URL; discovery at <issuer>/.well-known/openid-configuration.")
    client_id: str = Field("", description="Client id registered at the provider.")
    client_secret: SecretStr = Field(SecretStr(""), description="Client secret registered at the provider.")
    redirect_url: str = Field("", description="This cloud's callback URL, e.g. https://cloud/api/v1/auth/oidc/callback.")
    scopes: str = Field("openid email profile", description="Scopes requested.")
    token_auth_method: str = Field(
        "client_secret_basic",
        pattern=r"^(client_secret_basic|client_secret_post)$",
        description="How the client authenticates at the token endpoint.",
    )
    allowed_algorithms: list[str] = Field(
        default_factory=lambda: ["RS256", "ES256", "PS256", "EdDSA"], description="Accepted id_token algorithms."
    )

    @model_validator(mode="after")
    def _complete(self) -> OidcSettings:
        if self.enabled:
            missing = [n for n in ("issuer", "client_id", "redirect_url") if not getattr(self, n)]
            if missing:
                raise ValueError(f"OIDC enabled but {', '.join(missing)} not set")
        return self


class TokenSettings(Section):
    clip_token_seconds: int = Field(
        120, ge=10, le=auth.CLIP_TOKEN_MAX_TTL, description="Lifetime of clip tokens (≤ 300 s)."
    )
    bootstrap_token_hours: int = Field(24, ge=1, le=168, description="Lifetime of device bootstrap tokens.")
    format: auth.TokenFormat = Field(
        "gt1",
        description="Format of minted clip and bootstrap tokens: `gt1` (what relays of the previous release "
        "verify) or `jwt` (EdDSA JWT; every relay of this release verifies both). Switch to `jwt` once all "
        "relays run this release; the default becomes `jwt` in the next release (docs/tokens.md).",
    )


class ArchiveStoreSettings(Section):
    """The S3-compatible store the tenants' relays archive ciphertext into (read access is enough here)."""

    endpoint_url: str = Field("", description="S3 endpoint as browsers reach it; empty: archive downloads off.")
    bucket: str = Field("guardian-archive", description="Bucket holding the archived objects (keys are CIDs).")
    region: str = Field("us-east-1", description="S3 region name (signature scope).")
    access_key_id: str = Field("", description="Access key of a read-only identity on that bucket.")
    secret_access_key: SecretStr = Field(SecretStr(""), description="Its secret key (env or credentials).")
    download_url_seconds: int = Field(300, ge=10, le=3600, description="Lifetime of a presigned download URL.")


class PushSettings(Section):
    """Web Push notifications (RFC 8030/8291/8292) to the members' browsers; off while no VAPID key is set."""

    vapid_private_key: SecretStr = Field(
        SecretStr(""), description="VAPID private key (P-256, base64url of the 32-byte scalar) that signs every "
        "push; make one with `guardian-cloud vapid-keygen`; keep it: browsers subscribed with its public key. "
        "From env or credentials (`push.vapid_private_key`). Empty: notifications off.",
    )
    contact: str = Field(
        "", pattern=r"^$|^(mailto:[^\s@]+@[^\s@]+|https://\S+)$",
        description="The VAPID `sub` claim push services may contact about this sender: mailto:… or https://….",
    )
    ttl_seconds: int = Field(
        3600, ge=0, le=86400, description="How long a push service keeps a notification for a browser that is offline.",
    )
    max_attempts: int = Field(
        4, ge=1, le=10, description="Sends of one notification at most (a push service's 429/5xx or no answer is "
        "retried with exponential backoff from 0.5 s; 404/410 removes the subscription).",
    )
    event_max_age_seconds: int = Field(
        900, ge=10, le=86400, description="Events that started longer ago (a relay catching up after an outage) "
        "notify nobody.",
    )
    timeout_seconds: float = Field(10.0, gt=0, le=60, description="Longest wait for a push service's answer.")
    endpoint_origins: list[str] = Field(
        default_factory=lambda: ["https://fcm.googleapis.com", "https://updates.push.services.mozilla.com",
                                 "https://*.push.apple.com", "https://*.notify.windows.com"],
        description="Push services a browser's subscription may name (origins, `*.` for any subdomain): the "
        "cloud POSTs to these only, never to an address a member made up (an internal service).",
    )

    @field_validator("endpoint_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for source in value:
            if not _HOST_SOURCE.match(source):
                raise ValueError(f"{source!r} is not an origin like https://*.push.apple.com[:port]")
        return [v.lower().rstrip("/") for v in value]

    @field_validator("vapid_private_key")
    @classmethod
    def _p256(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if raw and not re.fullmatch(r"[A-Za-z0-9_-]{43}", raw):
            raise ValueError("must be a P-256 private key as base64url of 32 bytes (guardian-cloud vapid-keygen)")
        return value

    @model_validator(mode="after")
    def _contact_with_key(self) -> PushSettings:
        if self.vapid_private_key.get_secret_value() and not self.contact:
            raise ValueError("push.contact (mailto: or https: URL) is required with a VAPID key")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.vapid_private_key.get_secret_value())


class EdgeImageSettings(Section):
    """The generic edge image that "Add a device" offers, personalised per download (issue #22)."""

    path: Path | None = Field(
        None, description="The generic edge disk image (guardian-edge.raw, built with its enrolment slot); "
        "unset: no image download.",
    )
    relay_ca_file: Path | None = Field(
        None, description="PEM of the private CA that signed the relays' enrolment certificates (lab setups); "
        "it goes into every personalised image. Unset with public certificates.",
    )
    operator_ssh_keys_file: Path | None = Field(
        None, description="The operator's SSH public keys (an authorized_keys file) that go into every personalised "
        "image: first boot installs them, and the edge answers SSH on its relay tunnel only (image updates by "
        "pyinfra, provisioning/README.md). Unset: the edges take no operator key from the download.",
    )
    xz_cache_dir: Path | None = Field(
        None, description="Writable directory for the generic image's compressed parts, made once per image for "
        "the .img.xz download (docs/images.md; the deploy: /var/lib/guardian-cloud/edge-image-xz); unset: no .img.xz.",
    )


class AlertmanagerSettings(Section):
    """The operator's Alertmanager, read by the fleet page (``GET /api/v1/fleet``) for the alerts firing now."""

    url: AnyHttpUrl | None = Field(
        None, description="Base URL of the operator's Alertmanager, e.g. http://127.0.0.1:9093 (its API v2 is read "
        "at <url>/api/v2/alerts); unset: the fleet page shows no alerts.",
    )
    timeout_seconds: float = Field(
        2.0, gt=0, le=10, description="Longest wait for Alertmanager's answer; past it the fleet page says the "
        "alerts are unavailable instead of waiting.",
    )


class CloudSettings(AgentSettings):
    model_config = SettingsConfigDict(env_prefix="GUARDIAN_CLOUD_")

    log_level: str = Field("INFO", pattern=r"^(?i:debug|info|warning|error)$", description="Log level.")
    secret_key: SecretStr = Field(
        description="≥ 32 random characters; signs access tokens (HS256). From env or credentials."
    )
    signing_key: SecretStr = Field(
        description="Ed25519 private key (base64url 32-byte seed) for clip and bootstrap tokens; "
        "make one with `guardian-cloud keygen`."
    )
    previous_public_keys: list[str] = Field(
        default_factory=list, description="Old signing public keys still published during a rotation."
    )
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    oidc: OidcSettings = Field(default_factory=OidcSettings)
    tokens: TokenSettings = Field(default_factory=TokenSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    archive: ArchiveStoreSettings = Field(default_factory=ArchiveStoreSettings, description="The archive store.")
    push: PushSettings = Field(default_factory=PushSettings, description="Web Push notifications.")
    edge_image: EdgeImageSettings = Field(default_factory=EdgeImageSettings, description="The edge image download.")
    alertmanager: AlertmanagerSettings = Field(
        default_factory=AlertmanagerSettings, description="The operator's Alertmanager (the fleet page's alerts).")
    retention_interval_seconds: int = Field(3600, ge=10, description="How often retention cleanup runs.")

    @model_validator(mode="after")
    def _one_process_on_sqlite(self) -> CloudSettings:
        if self.http.workers > 1 and not self.database.is_postgres:
            raise ValueError("http.workers > 1 needs PostgreSQL: SQLite is the single-process mode")
        return self

    @field_validator("secret_key")
    @classmethod
    def _strong_secret(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if raw.strip().lower() in _PLACEHOLDERS or len(raw) < 32 or len(set(raw)) < 8:
            raise ValueError("must be at least 32 random characters, not a placeholder")
        return value

    @field_validator("signing_key")
    @classmethod
    def _ed25519(cls, value: SecretStr) -> SecretStr:
        try:
            auth.private_key_from_text(value.get_secret_value())
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("previous_public_keys")
    @classmethod
    def _public_keys(cls, value: list[str]) -> list[str]:
        for text in value:
            auth.public_key_from_text(text)
        return value


def config_file(path: Path | None) -> Path | None:
    """The config file to read: ``path``, or None when it is the default and there is none there (then the
    settings come from the environment and credentials only)."""
    if path is not None and str(path) == DEFAULT_CONFIG and not path.exists() and CONFIG_ENV not in os.environ:
        return None
    return path


def load_cloud_settings(path: Path | None) -> CloudSettings:
    """The settings from ``path`` (None: environment and credentials only), environment and credentials."""
    return load_settings(CloudSettings, config_file(path))
