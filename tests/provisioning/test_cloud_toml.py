"""provisioning/templates/cloud.toml.j2, rendered as a deploy renders it (pyinfra's own template loader, the
group data's defaults), is a file the cloud loads with its typed settings: the edge image download and the
fleet page's Alertmanager included (#22)."""

from __future__ import annotations

import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest
from pyinfra.api.util import get_template

from cloud.core.config import CloudSettings
from guardian.contracts import auth
from guardian.runtime.config import load_settings

PROVISIONING = Path(__file__).resolve().parents[2] / "provisioning"
DEPLOY_ENV = ("GUARDIAN_CLOUD_EDGE_IMAGE_PATH", "GUARDIAN_CLOUD_EDGE_IMAGE_RELAY_CA_FILE",
              "GUARDIAN_CLOUD_EDGE_IMAGE_OPERATOR_KEYS_FILE", "GUARDIAN_CLOUD_ALERTMANAGER_URL")


@pytest.fixture
def credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The two secrets, as the unit's LoadCredential= hands them over (they are never in the file)."""
    directory = tmp_path / "credentials"
    directory.mkdir()
    (directory / "secret_key").write_text("k9Vx2mQp7Lr4Tz8Wb3Nc6Hd1Jf5Gs0Ya")
    (directory / "signing_key").write_text(auth.private_key_to_text(auth.generate_private_key()))
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(directory))


def deployed_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **deploy_env: str) -> CloudSettings:
    """The cloud's settings from the file a deploy with ``deploy_env`` writes."""
    for name in DEPLOY_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in deploy_env.items():
        monkeypatch.setenv(name, value)
    data = runpy.run_path(str(PROVISIONING / "group_data" / "cloud.py"))
    host = SimpleNamespace(data=SimpleNamespace(**{k: v for k, v in data.items() if k.startswith("cloud_")}))
    text = get_template(str(PROVISIONING / "templates" / "cloud.toml.j2")).render(
        host=host, service_user="guardian-cloud", ui_dir="/opt/guardian/ui")
    path = tmp_path / "cloud.toml"
    path.write_text(text)
    for name in DEPLOY_ENV:  # the deploy's variables, not the service's environment
        monkeypatch.delenv(name, raising=False)
    return load_settings(CloudSettings, path)


@pytest.mark.usefixtures("credentials")
def test_the_deployed_file_offers_the_image_download_and_reads_the_local_alertmanager(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = deployed_settings(tmp_path, monkeypatch)
    assert settings.edge_image.path == Path("/var/lib/guardian-cloud/guardian-edge.raw")
    assert settings.edge_image.relay_ca_file is None  # relays with public certificates
    assert settings.edge_image.operator_ssh_keys_file is None
    assert settings.edge_image.xz_cache_dir == Path("/var/lib/guardian-cloud/edge-image-xz")  # the unit's StateDirectory
    # The Alertmanager Prometheus sends its alerts to.
    assert str(settings.alertmanager.url) == "http://127.0.0.1:9093/"
    assert '"127.0.0.1:9093"' in (PROVISIONING / "templates" / "prometheus.yml.j2").read_text()
    assert settings.database.url.startswith("postgresql+psycopg://guardian-cloud@/guardian")


@pytest.mark.usefixtures("credentials")
def test_the_operator_chooses_the_image_the_relay_ca_and_the_alertmanager_or_turns_them_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = deployed_settings(
        tmp_path, monkeypatch, GUARDIAN_CLOUD_EDGE_IMAGE_PATH="/srv/images/edge 1.raw",
        GUARDIAN_CLOUD_EDGE_IMAGE_RELAY_CA_FILE="/etc/guardian/relay-ca.pem",
        GUARDIAN_CLOUD_EDGE_IMAGE_OPERATOR_KEYS_FILE="/etc/guardian/operator_keys",
        GUARDIAN_CLOUD_ALERTMANAGER_URL="https://alerts.example.net:9093")
    assert settings.edge_image.path == Path("/srv/images/edge 1.raw")
    assert settings.edge_image.relay_ca_file == Path("/etc/guardian/relay-ca.pem")
    assert settings.edge_image.operator_ssh_keys_file == Path("/etc/guardian/operator_keys")
    assert str(settings.alertmanager.url) == "https://alerts.example.net:9093/"

    off = deployed_settings(tmp_path, monkeypatch, GUARDIAN_CLOUD_EDGE_IMAGE_PATH="", GUARDIAN_CLOUD_ALERTMANAGER_URL="")
    assert off.edge_image.path is None and off.alertmanager.url is None
    assert "[edge_image]" not in (tmp_path / "cloud.toml").read_text()
