"""Config files for the demo and the test labs: built as data, checked by the programs' own settings
classes, written as TOML.

A lab that writes a key the program does not know, or a value it refuses, fails here, naming the key,
not later in a child process's log. Paths may be given as ``Path``; they are written as strings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from guardian.runtime.config import AgentSettings
from guardian.runtime.credentials import merge, read_credentials
from guardian.runtime.errors import ConfigError

Data = Mapping[str, Any]


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def _file_only(settings_cls: type[AgentSettings]) -> type[AgentSettings]:
    """``settings_cls`` reading nothing but its arguments (not the environment of whoever writes the file)."""

    def sources(cls: type[BaseSettings], settings_cls: type[BaseSettings], init_settings: Any, **_: Any) -> tuple[Any, ...]:
        return (init_settings,)

    namespace = {"settings_customise_sources": classmethod(sources), "__module__": __name__}
    return type(settings_cls.__name__, (settings_cls,), namespace)


def write_config(
    path: Path, settings_cls: type[AgentSettings], data: Data, *overrides: Data, credentials: Path | None = None
) -> Path:
    """Write ``data`` (with each of ``overrides`` merged over it, section by section) to ``path``.

    The result is validated as ``settings_cls`` would load it, together with the settings found in
    ``credentials`` (a systemd-style credentials directory; the cloud's secrets live there, not in the
    file). The environment plays no part: a lab's file must be right on its own.
    """
    plain: dict[str, Any] = _plain(data)
    for extra in overrides:
        plain = merge(plain, _plain(extra))
    prefix = settings_cls.model_config.get("env_prefix", "")
    secrets = read_credentials(settings_cls, credentials, prefix).values
    try:
        _file_only(settings_cls)(**merge(plain, secrets))
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(str(path), problems) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(plain))
    return path


def write_edge(path: Path, data: Data, *overrides: Data) -> Path:
    """An edge.toml, checked as ``agents.edge.config.EdgeSettings``."""
    from agents.edge.config import EdgeSettings

    return write_config(path, EdgeSettings, data, *overrides)


def write_relay(path: Path, data: Data, *overrides: Data) -> Path:
    """A relay.toml, checked as ``agents.relay.config.RelaySettings``."""
    from agents.relay.config import RelaySettings

    return write_config(path, RelaySettings, data, *overrides)


def write_cloud(path: Path, data: Data, *overrides: Data, credentials: Path | None = None) -> Path:
    """A cloud.toml, checked as ``cloud.core.config.CloudSettings`` with the secrets in ``credentials``."""
    from cloud.core.config import CloudSettings

    return write_config(path, CloudSettings, data, *overrides, credentials=credentials)
