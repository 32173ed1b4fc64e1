"""systemd credentials reach every program through one helper, named by the setting's dotted key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloud.core.config import CloudSettings
from guardian.contracts import auth
from guardian.runtime.config import load_settings
from guardian.runtime.errors import EX_CONFIG

VENV_BIN = Path(sys.executable).parent
SECRET = "s3cr3t-" + "x7Qp9Lm2" * 5


def run(program: str, verb: str, config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / program), verb, "--config", str(config)], capture_output=True, text=True,
                          env=env, timeout=60, check=False)


def load_cloud(config: Path, credentials: Path, monkeypatch: pytest.MonkeyPatch) -> CloudSettings:
    """The cloud's settings loaded in this process, as ``guardian-cloud`` loads them."""
    for name in [n for n in os.environ if n.startswith("GUARDIAN_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    return load_settings(CloudSettings, config)


def shown(program: str, config: Path, env: dict[str, str]) -> dict:
    result = run(program, "show-config", config, env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def credentials(tmp_path: Path) -> Path:
    directory = tmp_path / "credentials"
    directory.mkdir()
    # What else systemd puts there: files the config names by path, and other programs' credentials.
    (directory / "tls.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (directory / "guardian.relay.signing.key").write_text("not a setting\n")
    (directory / "no_such_setting").write_text("ignored\n")
    return directory


@pytest.fixture
def edge_config(tmp_path: Path) -> Path:
    config = tmp_path / "edge.toml"
    config.write_text(f'log_level = "info"\n[metrics]\nport = 9999\n[storage]\ndata_dir = "{tmp_path / "data"}"\n')
    return config


@pytest.fixture
def cloud_config(tmp_path: Path) -> Path:
    signing = auth.private_key_to_text(auth.generate_private_key())
    config = tmp_path / "cloud.toml"
    config.write_text(f'secret_key = "{"toml-" + "Ab3dEf9h" * 5}"\nsigning_key = "{signing}"\n'
                      f'[database]\nurl = "sqlite:///{tmp_path / "c.db"}"\n[oidc]\nclient_id = "guardian"\n')
    return config


def test_a_credential_overrides_the_file_for_an_agent_and_for_the_cloud(
    clean_env, credentials, edge_config, cloud_config, monkeypatch
) -> None:
    env = {**clean_env, "CREDENTIALS_DIRECTORY": str(credentials)}
    (credentials / "log_level").write_text("debug\n")
    (credentials / "metrics.port").write_text("9100")
    edge = shown("guardian-edge", edge_config, env)
    assert (edge["log_level"], edge["metrics"]["port"]) == ("debug", 9100)
    # The environment still wins over a credential.
    edge = shown("guardian-edge", edge_config, {**env, "GUARDIAN_EDGE_LOG_LEVEL": "warning"})
    assert edge["log_level"] == "warning"

    (credentials / "secret_key").write_text(SECRET + "\n")
    (credentials / "oidc.client_secret").write_text("from-a-credential")
    settings = load_cloud(cloud_config, credentials, monkeypatch)
    assert settings.secret_key.get_secret_value() == SECRET
    assert (settings.oidc.client_secret.get_secret_value(), settings.oidc.client_id) == ("from-a-credential", "guardian")
    assert settings.log_level == "debug" and settings.metrics.port == 9100  # the same names as the edge's
    assert settings.deprecations() == []
    # show-config is there for every program and never prints a secret.
    cloud = run("guardian-cloud", "show-config", cloud_config, env)
    assert cloud.returncode == 0, cloud.stderr
    assert SECRET not in cloud.stdout and "from-a-credential" not in cloud.stdout
    assert json.loads(cloud.stdout)["oidc"]["client_id"] == "guardian"


def test_unknown_credentials_are_ignored_and_bad_ones_named(clean_env, credentials, edge_config, cloud_config) -> None:
    env = {**clean_env, "CREDENTIALS_DIRECTORY": str(credentials)}
    for program, config in (("guardian-edge", edge_config), ("guardian-cloud", cloud_config)):
        result = run(program, "check-config", config, env)
        assert result.returncode == 0, result.stderr
        (line,) = result.stdout.splitlines()
        assert line.startswith(f"{config}: ok (")
    (credentials / "metrics.port").write_text("lots")
    for program, config in (("guardian-edge", edge_config), ("guardian-cloud", cloud_config)):
        result = run(program, "check-config", config, env)
        assert result.returncode == EX_CONFIG
        assert result.stderr.splitlines() == [
            f"{program}: config error: {config}: metrics.port (from credential metrics.port): "
            "Input should be a valid integer, unable to parse string as an integer (got 'lots')"
        ]


def test_environment_style_names_work_for_one_release_with_a_warning(
    clean_env, credentials, edge_config, cloud_config, monkeypatch
) -> None:
    env = {**clean_env, "CREDENTIALS_DIRECTORY": str(credentials)}
    (credentials / "GUARDIAN_CLOUD_SECRET_KEY").write_text(SECRET)
    (credentials / "GUARDIAN_EDGE_LOG_LEVEL").write_text("debug")
    assert load_cloud(cloud_config, credentials, monkeypatch).secret_key.get_secret_value() == SECRET
    assert shown("guardian-edge", edge_config, env)["log_level"] == "debug"
    for program, config, old, new in (("guardian-cloud", cloud_config, "GUARDIAN_CLOUD_SECRET_KEY", "secret_key"),
                                      ("guardian-edge", edge_config, "GUARDIAN_EDGE_LOG_LEVEL", "log_level")):
        result = run(program, "check-config", config, env)
        assert result.returncode == 0, result.stderr
        warning, ok = result.stdout.splitlines()
        assert warning == (f"{config}: warning: credential {old} is deprecated and will be removed: "
                           f"name it {new} (LoadCredential={new}:…)")
        assert ok.startswith(f"{config}: ok (")
    # The documented name wins over the old one, without a warning.
    (credentials / "log_level").write_text("warning")
    result = run("guardian-edge", "check-config", edge_config, env)
    assert result.stdout == f"{edge_config}: ok (0 camera(s))\n"
    assert shown("guardian-edge", edge_config, env)["log_level"] == "warning"
