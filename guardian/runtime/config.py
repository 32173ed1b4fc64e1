"""Typed configuration: a TOML file, overridden by environment variables, validated by pydantic.

Every agent describes its settings as a subclass of :class:`AgentSettings`. Loading is strict
(``extra="forbid"``) and a bad file never produces a traceback: :func:`load_settings` raises
:class:`ConfigError` whose lines name the file and the dotted key, e.g.::

    config error: /etc/guardian/edge.toml: cameras.0.record_url: Field required

Precedence, highest first: environment (``GUARDIAN_<ROLE>_`` prefix, ``__`` between nested keys),
then systemd credentials (a file named by the dotted key in ``$CREDENTIALS_DIRECTORY``, see
:mod:`guardian.runtime.credentials`), then the TOML file, then the defaults in the model.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from guardian.runtime.credentials import merge, read_credentials
from guardian.runtime.errors import ConfigError


class Section(BaseModel):
    """Base for nested config sections: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class AgentSettings(BaseSettings):
    """Base for a program's whole settings tree. Subclasses set ``env_prefix`` in ``model_config``."""

    model_config = SettingsConfigDict(extra="forbid", env_nested_delimiter="__", validate_default=True)

    # Set by load_settings: one line per deprecated way of setting a value that this load used.
    _load_deprecations: list[str] = PrivateAttr(default_factory=list)

    def deprecations(self) -> list[str]:
        """One line per deprecated setting in use, for check-config and the start-up log."""
        return list(self._load_deprecations)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file (with credentials merged over it) arrives as init kwargs; the environment wins.
        return env_settings, init_settings


SettingsT = TypeVar("SettingsT", bound=AgentSettings)


def _dotted(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _env_name(settings_cls: type[AgentSettings], loc: tuple[int | str, ...]) -> str:
    prefix = settings_cls.model_config.get("env_prefix", "")
    return (prefix + "__".join(str(part) for part in loc)).upper()


def _describe(settings_cls: type[AgentSettings], error: ErrorDetails, credentials: dict[str, str]) -> str:
    key = _dotted(error["loc"])
    env_name = _env_name(settings_cls, error["loc"])
    if env_name in os.environ:
        key = f"{key} (from ${env_name})"
    elif key in credentials:
        key = f"{key} (from credential {credentials[key]})"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key (check its spelling and section)"
    if error["type"] == "missing":
        return f"{key}: required but not set"
    given = error.get("input")
    shown = "" if isinstance(given, dict | list) or given is None else f" (got {str(given)[:60]!r})"
    return f"{key}: {error['msg']}{shown}"


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning every I/O or syntax problem into a ConfigError."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(str(path), ["file not found"]) from None
    except PermissionError:
        raise ConfigError(str(path), ["file not readable (permission denied)"]) from None
    except IsADirectoryError:
        raise ConfigError(str(path), ["is a directory, not a TOML file"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from None


def load_settings(settings_cls: type[SettingsT], path: Path | None) -> SettingsT:
    """Load ``settings_cls`` from ``path`` (optional) plus the environment and credentials."""
    data = read_toml(path) if path is not None else {}
    source = str(path) if path is not None else "(environment)"
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    credentials = read_credentials(
        settings_cls, Path(directory) if directory else None, settings_cls.model_config.get("env_prefix", "")
    )
    try:
        settings = settings_cls(**merge(data, credentials.values))
    except ValidationError as exc:
        lines = [_describe(settings_cls, e, credentials.sources) for e in exc.errors()]
        raise ConfigError(source, lines) from None
    settings._load_deprecations = credentials.deprecated
    return settings
