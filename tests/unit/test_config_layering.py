"""Several config files: laid over each other in order, section by section, key by key."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.aes_secret_box import AesGcmSecretBox, encrypt_config_value
from entrypoints.cli import main
from entrypoints.config_loading import config_files
from entrypoints.settings import ConfigError, load_settings, load_sourced_settings


def toml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return toml(
        tmp_path / "base.toml",
        '[api]\nport = 8000\nrate_limit_burst = 20\ncors_origins = ["https://a.example"]\n'
        '[observability]\nlog_level = "warning"\n',
    )


@pytest.fixture
def over(tmp_path: Path) -> Path:
    return toml(
        tmp_path / "over.toml",
        '[api]\nport = 9000\ncors_origins = ["https://b.example"]\n[worker]\nqueues = ["x"]\n',
    )


def test_a_later_file_wins_key_by_key_and_keeps_the_keys_it_does_not_write(
    base: Path, over: Path
) -> None:
    settings = load_settings([base, over], {})
    assert settings.api.port == 9000  # the later file
    assert settings.api.rate_limit_burst == 20  # only the first one writes it
    assert settings.observability.log_level == "warning"  # a section only the first has
    assert settings.worker.queues == ("x",)  # a section only the second has
    assert settings.api.cors_origins == ("https://b.example",)  # a list is replaced whole


def test_the_order_decides(base: Path, over: Path) -> None:
    assert load_settings([over, base], {}).api.port == 8000


def test_an_environment_variable_still_wins_over_every_file(base: Path, over: Path) -> None:
    settings = load_settings([base, over], {"SCHEDULER_API__PORT": "7000"})
    assert settings.api.port == 7000


def test_scheduler_config_is_a_list_like_path(base: Path, over: Path) -> None:
    environ = {"SCHEDULER_CONFIG": f"{base}{os.pathsep}{over}"}
    assert load_settings(None, environ).api.port == 9000
    assert config_files(None, environ) == ((base, over), True)


def test_config_files_named_on_the_command_line_replace_scheduler_config(
    base: Path, over: Path
) -> None:
    environ = {"SCHEDULER_CONFIG": str(over)}
    assert load_settings([base], environ).api.port == 8000
    assert config_files((), environ) == ((over,), True)
    assert config_files(None, {}) == ((), True)


def test_the_origin_of_each_key_is_kept(base: Path, over: Path) -> None:
    loaded = load_sourced_settings([base, over], {"SCHEDULER_API__HOST": "0.0.0.0"})
    assert loaded.files == (str(base), str(over))
    assert loaded.origins["api.port"] == str(over)
    assert loaded.origins["api.rate_limit_burst"] == str(base)
    assert loaded.origins["api.host"] == "SCHEDULER_API__HOST"
    assert "api.max_body_bytes" not in loaded.origins  # a default


def test_a_bad_value_names_the_file_that_set_it(base: Path, tmp_path: Path) -> None:
    bad = toml(tmp_path / "bad.toml", "[api]\nport = 0\n")
    with pytest.raises(ConfigError) as caught:
        load_settings([base, bad], {})
    message = str(caught.value)
    assert f"config error in {base}, {bad}: api.port:" in message
    assert f"(from {bad})" in message


def test_a_broken_file_among_several_is_named(base: Path, tmp_path: Path) -> None:
    broken = toml(tmp_path / "broken.toml", "[api\n")
    with pytest.raises(ConfigError) as caught:
        load_settings([base, broken], {})
    assert f"config error in {broken}: invalid TOML" in str(caught.value)


def test_a_missing_file_among_several_is_named(base: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file not found: .*nowhere\.toml"):
        load_settings([base, tmp_path / "nowhere.toml"], {})


def test_each_file_substitutes_its_own_variables(tmp_path: Path) -> None:
    first = toml(tmp_path / "a.toml", '[worker]\nname = "${NAME:-first}"\n')
    second = toml(tmp_path / "b.toml", '[api]\nhost = "${HOST}"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings([first, second], {})
    assert f"config error in {second}: api.host: environment variable HOST" in str(caught.value)


def test_the_cli_takes_several_config_options(base: Path, over: Path) -> None:
    result = CliRunner().invoke(
        main, ["config", "show", "--config", str(base), "--config", str(over)], env={}
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["api"]["port"] == 9000 and shown["api"]["rate_limit_burst"] == 20


def test_config_show_masks_a_value_written_encrypted_whatever_its_key(tmp_path: Path) -> None:
    key = os.urandom(32)
    value = encrypt_config_value(AesGcmSecretBox([key]), "eu-west-hidden")
    path = toml(tmp_path / "enc.toml", f'[worker]\nname = "{value}"\n')
    env = {"SCHEDULER_SECRET_KEY": base64.b64encode(key).decode()}
    result = CliRunner().invoke(main, ["config", "show", "--config", str(path)], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["worker"]["name"] == "***"
    assert "eu-west-hidden" not in result.output
