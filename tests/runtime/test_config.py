"""Config errors reach the operator as one clear line naming the file and the key, never a traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from guardian.runtime.errors import EX_CONFIG

VALID = """
log_level = "debug"

[metrics]
address = "127.0.0.1"
port = 9999

[[cameras]]
name = "front-door"
record_url = "rtsp://admin:hunter2@192.0.2.10:554/main"
detect_url = "rtsp://admin:hunter2@192.0.2.10:554/sub"
"""


def check(cli: list[str], config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli, "check-config", "--config", str(config)], capture_output=True, text=True, env=env, timeout=60
    )


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in result.stderr
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_valid_file_loads(tmp_path, edge_cli, clean_env):
    config = tmp_path / "edge.toml"
    config.write_text(VALID)
    result = check(edge_cli, config, clean_env)
    assert result.returncode == 0, result.stderr
    assert "1 camera" in result.stdout


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        (VALID.replace('address = "127.0.0.1"', 'adress = "127.0.0.1"'), "metrics.adress", "unknown key"),
        (VALID.replace("port = 9999", 'port = "ninety"'), "metrics.port", "valid integer"),
        (VALID.replace('record_url = "rtsp://admin:hunter2@192.0.2.10:554/main"\n', ""), "cameras.0.record_url", "required"),
        (VALID.replace("port = 9999", "port = 70000"), "metrics.port", "less than or equal to 65535"),
        (VALID.replace('"rtsp://admin:hunter2@192.0.2.10:554/sub"', '"http://192.0.2.10/sub"'), "cameras.0.detect_url", "rtsp://"),
    ],
    ids=["unknown-key", "wrong-type", "missing-required", "out-of-range", "bad-url"],
)
def test_bad_value_is_one_line_naming_key_and_file(tmp_path, edge_cli, clean_env, text, key, words):
    config = tmp_path / "edge.toml"
    config.write_text(text)
    result = check(edge_cli, config, clean_env)
    assert result.returncode == EX_CONFIG
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert str(config) in lines[0]
    assert f": {key}" in lines[0]
    assert words in lines[0]
    # Values the operator typed may be secrets: the URL's password is never echoed back.
    assert "hunter2" not in result.stderr


def test_missing_file_and_broken_toml(tmp_path, edge_cli, clean_env):
    missing = tmp_path / "nope.toml"
    result = check(edge_cli, missing, clean_env)
    assert result.returncode == EX_CONFIG
    assert error_lines(result) == [f"guardian-edge: config error: {missing}: file not found"]

    broken = tmp_path / "broken.toml"
    broken.write_text("[metrics\nport = 1\n")
    result = check(edge_cli, broken, clean_env)
    assert result.returncode == EX_CONFIG
    (line,) = error_lines(result)
    assert str(broken) in line and "not valid TOML" in line


def test_environment_overrides_file_and_is_named_when_wrong(tmp_path, edge_cli, clean_env):
    config = tmp_path / "edge.toml"
    config.write_text(VALID)
    env = {**clean_env, "GUARDIAN_EDGE_LOG_LEVEL": "warning", "GUARDIAN_EDGE_METRICS__PORT": "9100"}
    shown = subprocess.run(
        [*edge_cli, "show-config", "--config", str(config)], capture_output=True, text=True, env=env, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    assert '"port": 9100' in shown.stdout and '"log_level": "warning"' in shown.stdout
    assert "hunter2" not in shown.stdout

    env["GUARDIAN_EDGE_METRICS__PORT"] = "lots"
    (line,) = error_lines(check(edge_cli, config, env))
    assert "metrics.port (from $GUARDIAN_EDGE_METRICS__PORT)" in line


def test_several_bad_keys_give_one_line_each(tmp_path, edge_cli, clean_env):
    config = tmp_path / "edge.toml"
    config.write_text(VALID.replace("port = 9999", 'port = "x"\nbogus = 1'))
    result = check(edge_cli, config, clean_env)
    assert result.returncode == EX_CONFIG
    lines = error_lines(result)
    assert len(lines) == 2
    assert any("metrics.port" in line for line in lines) and any("metrics.bogus" in line for line in lines)
