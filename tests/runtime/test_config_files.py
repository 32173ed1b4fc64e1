"""demo/configs.py: the one writer of the demo's and the test labs' config files checks them first."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.edge.config import EdgeSettings
from agents.relay.config import RelaySettings
from cloud.core.config import CloudSettings
from demo import configs
from guardian.contracts import auth
from guardian.runtime.config import load_settings
from guardian.runtime.errors import ConfigError


def test_written_files_load_as_the_programs_load_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    edge = configs.write_edge(tmp_path / "edge.toml", {
        "log_level": "info",
        "storage": {"data_dir": tmp_path / "data"},
        "cameras": [{"name": "front", "record_url": "rtsp://127.0.0.1:8554/front"}],
        "uplink": {"batch_size": 64, "backoff_max_s": 2.0},
    }, {"uplink": {"batch_size": 16}})
    settings = load_settings(EdgeSettings, edge)
    assert settings.storage.data_dir == tmp_path / "data"
    assert [c.name for c in settings.cameras] == ["front"]
    # An override replaces its own key and leaves the rest of the section alone.
    assert (settings.uplink.batch_size, settings.uplink.backoff_max_s) == (16, 2.0)

    relay = configs.write_relay(tmp_path / "relay.toml", {
        "enrolment": {"tls_cert_file": tmp_path / "tls.crt", "tls_key_file": tmp_path / "tls.key",
                      "public_endpoint": "127.0.0.1:51820", "token_public_keys": []},
        "cloud": {"enabled": False, "relay_id": "r-1", "tenant_id": "t-1"},
    })
    assert load_settings(RelaySettings, relay).cloud.tenant_id == "t-1"


def test_a_wrong_key_fails_before_anything_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "edge.toml"
    # The environment of whoever writes the file plays no part in the check.
    monkeypatch.setenv("GUARDIAN_EDGE_LOG_LEVEL", "loud")
    configs.write_edge(tmp_path / "ok.toml", {"log_level": "info"})
    with pytest.raises(ConfigError) as info:
        configs.write_edge(path, {"storage": {"data_dir": tmp_path}, "uplink": {"batch_sise": 16}})
    assert info.value.problems == ["uplink.batch_sise: Extra inputs are not permitted"]
    with pytest.raises(ConfigError, match="relay_id"):
        configs.write_relay(tmp_path / "relay.toml", {"cloud": {"tenant_id": "t-1"}}, {"enrolment": {}})
    assert not path.exists() and not (tmp_path / "relay.toml").exists()


def test_the_cloud_file_is_checked_with_its_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GUARDIAN_CLOUD_SECRET_KEY", "GUARDIAN_CLOUD_SIGNING_KEY"):
        monkeypatch.delenv(name, raising=False)
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    data = {"database": {"url": f"sqlite:///{tmp_path / 'cloud.db'}"}, "auth": {"cookie_secure": False}}
    with pytest.raises(ConfigError) as info:
        configs.write_cloud(tmp_path / "cloud.toml", data, credentials=credentials)
    assert {"secret_key: Field required", "signing_key: Field required"} <= set(info.value.problems)
    (credentials / "secret_key").write_text("k9Vx2mQp7Lr4Tz8Wb3Nc6Hd1Jf5Gs0Ya")
    (credentials / "signing_key").write_text(auth.private_key_to_text(auth.generate_private_key()))
    path = configs.write_cloud(tmp_path / "cloud.toml", data, credentials=credentials)
    assert "secret" not in path.read_text()  # secrets stay in the credentials, out of the file
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    assert load_settings(CloudSettings, path).auth.cookie_secure is False
