"""systemd credentials as settings: ``$CREDENTIALS_DIRECTORY/<dotted key>`` sets that key.

``LoadCredential=secret_key:/etc/guardian/cloud/secret_key`` makes the file ``secret_key``, which sets
``secret_key``; ``oidc.client_secret`` sets ``[oidc] client_secret``. One name per setting, the same for
every program. Names that are no setting (``tls.crt``, ``guardian.relay.signing.key``: files the config
points at by path) are left alone: a credentials directory holds more than settings.

The environment-style names pydantic-settings used to read (``GUARDIAN_CLOUD_SECRET_KEY``) still work
for one release, each reported as deprecated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel


@dataclass
class Credentials:
    """Values read from a credentials directory, nested like the TOML, and the deprecated names used."""

    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # dotted key → credential file name
    deprecated: list[str] = field(default_factory=list)


def setting_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every settable dotted key of ``model``: leaf fields, and sections' fields below them."""
    keys: list[str] = []
    for name, info in model.model_fields.items():
        key = prefix + name
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(setting_keys(annotation, key + "."))
        else:
            keys.append(key)
    return keys


def _legacy_name(env_prefix: str, key: str) -> str | None:
    # pydantic-settings' secrets source matched top-level fields only, by their environment name.
    return None if "." in key else (env_prefix + key).lower()


def read_credentials(settings_cls: type[BaseModel], directory: Path | None, env_prefix: str) -> Credentials:
    """The settings of ``settings_cls`` found in ``directory`` (``None`` or missing: none)."""
    found = Credentials()
    if directory is None or not directory.is_dir():
        return found
    files = {path.name: path for path in directory.iterdir() if path.is_file()}
    legacy = {name.lower(): path for name, path in files.items()}
    for key in setting_keys(settings_cls):
        path = files.get(key)
        old = _legacy_name(env_prefix, key)
        if path is None and old is not None and old in legacy:
            path = legacy[old]
            found.deprecated.append(
                f"credential {path.name} is deprecated and will be removed: name it {key} (LoadCredential={key}:…)"
            )
        if path is None:
            continue
        *sections, leaf = key.split(".")
        target = found.values
        for section in sections:
            target = target.setdefault(section, {})
        target[leaf] = path.read_text(encoding="utf-8").strip()
        found.sources[key] = path.name
    return found


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override``'s keys replacing its own, section by section."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        merged[key] = merge(current, value) if isinstance(current, dict) and isinstance(value, dict) else value
    return merged
