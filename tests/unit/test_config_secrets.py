"""Encrypted configuration values (`enc:`), SCHEDULER_SECRET_KEY, and settings shown masked."""

from __future__ import annotations

import base64
import json
import logging
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.aes_secret_box import AesGcmSecretBox, encrypt_config_value, key_id
from adapters.log_redaction import RedactingFilter
from entrypoints.cli import main
from entrypoints.settings import ConfigError, load_settings

KEY, OTHER = os.urandom(32), os.urandom(32)
KEY_TEXT = base64.b64encode(KEY).decode()
DB_URL = "postgresql://app:hunter2@db.internal:5432/scheduler"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scheduler.toml"
    path.write_text(text)
    return path


def test_an_encrypted_value_is_decrypted_at_load(tmp_path: Path) -> None:
    value = encrypt_config_value(AesGcmSecretBox([KEY]), DB_URL)
    assert value.startswith("enc:v1:") and "hunter2" not in value
    path = write(tmp_path, f'[database]\nurl = "{value}"\n')
    settings = load_settings(path, {"SCHEDULER_SECRET_KEY": KEY_TEXT})
    assert settings.database.url == DB_URL


def test_an_encrypted_value_from_an_override_is_decrypted_too() -> None:
    value = encrypt_config_value(AesGcmSecretBox([KEY]), "s3cr3t-pass")
    environ = {"SCHEDULER_SECRET_KEY": KEY_TEXT, "SCHEDULER_MESSAGE_QUEUE__PASSWORD": value}
    assert load_settings(None, environ).message_queue.password == "s3cr3t-pass"


def test_a_value_encrypted_with_an_old_key_still_loads_after_rotation(tmp_path: Path) -> None:
    value = encrypt_config_value(AesGcmSecretBox([OTHER]), DB_URL)
    path = write(tmp_path, f'[database]\nurl = "{value}"\n')
    keys = f"{KEY_TEXT},{base64.b64encode(OTHER).decode()}"
    assert load_settings(path, {"SCHEDULER_SECRET_KEY": keys}).database.url == DB_URL


def test_a_wrong_key_is_a_clear_start_up_error_naming_the_key_path(tmp_path: Path) -> None:
    value = encrypt_config_value(AesGcmSecretBox([OTHER]), DB_URL)
    path = write(tmp_path, f'[database]\nurl = "{value}"\n')
    with pytest.raises(ConfigError) as error:
        load_settings(path, {"SCHEDULER_SECRET_KEY": KEY_TEXT})
    message = str(error.value)
    assert "database.url: its enc: value cannot be decrypted" in message
    assert f"sealed with key {key_id(OTHER)}, which is not configured" in message
    assert "hunter2" not in message and KEY_TEXT not in message


def test_an_altered_or_malformed_value_is_refused_naming_the_key_path(tmp_path: Path) -> None:
    value = encrypt_config_value(AesGcmSecretBox([KEY]), DB_URL)
    altered = value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB")
    path = write(tmp_path, f'[database]\nurl = "{altered}"\n[api]\nhost = "enc:nonsense"\n')
    with pytest.raises(ConfigError) as error:
        load_settings(path, {"SCHEDULER_SECRET_KEY": KEY_TEXT})
    assert "database.url: its enc: value cannot be decrypted: does not authenticate" in str(
        error.value
    )
    assert "api.host: its enc: value cannot be decrypted: malformed envelope" in str(error.value)


def test_an_encrypted_value_without_the_key_says_so(tmp_path: Path) -> None:
    value = encrypt_config_value(AesGcmSecretBox([KEY]), DB_URL)
    path = write(tmp_path, f'[database]\nurl = "{value}"\n')
    with pytest.raises(
        ConfigError, match=r"database\.url: encrypted .* SCHEDULER_SECRET_KEY is not set"
    ):
        load_settings(path, {})


def test_a_malformed_key_is_a_start_up_error_that_does_not_quote_it() -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(None, {"SCHEDULER_SECRET_KEY": "hunter2hunter2"})
    assert "key 1 of SCHEDULER_SECRET_KEY" in str(error.value)
    assert "hunter2hunter2" not in str(error.value)


def test_keys_written_in_the_file_or_an_override_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, f'[secrets]\nkeys = "{KEY_TEXT}"\n')
    with pytest.raises(ConfigError, match="come only from SCHEDULER_SECRET_KEY"):
        load_settings(path, {})
    with pytest.raises(ConfigError, match="from SCHEDULER_SECRETS__KEYS"):
        load_settings(None, {"SCHEDULER_SECRETS__KEYS": KEY_TEXT})


def test_config_encrypt_prints_a_value_the_loader_decrypts(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        main, ["config", "encrypt"], input="hunter2\n", env={"SCHEDULER_SECRET_KEY": KEY_TEXT}
    )
    assert result.exit_code == 0, result.output
    value = result.output.strip()
    assert value.startswith("enc:v1:") and "hunter2" not in value
    path = write(tmp_path, f'[message_queue]\npassword = "{value}"\n')
    environ = {"SCHEDULER_SECRET_KEY": KEY_TEXT}
    assert load_settings(path, environ).message_queue.password == "hunter2"


def test_config_encrypt_without_a_key_or_a_value_fails_clearly() -> None:
    runner = CliRunner()
    no_key = runner.invoke(
        main, ["config", "encrypt"], input="x\n", env={"SCHEDULER_SECRET_KEY": ""}
    )
    assert no_key.exit_code != 0 and "SCHEDULER_SECRET_KEY is not set" in no_key.output
    empty = runner.invoke(
        main, ["config", "encrypt"], input="\n", env={"SCHEDULER_SECRET_KEY": KEY_TEXT}
    )
    assert empty.exit_code != 0 and "the value is empty" in empty.output


def test_config_show_masks_passwords_keys_and_url_passwords(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'[database]\nurl = "{DB_URL}"\n[message_queue]\ntype = "redis"\n'
        'url = "redis://:tok123@127.0.0.1:6379/0"\n[observability]\nmetrics_token = "guestpass"\n',
    )
    runner = CliRunner()
    result = runner.invoke(
        main, ["config", "show", "--config", str(path)], env={"SCHEDULER_SECRET_KEY": KEY_TEXT}
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["database"]["url"] == "postgresql://app:***@db.internal:5432/scheduler"
    assert shown["observability"]["metrics_token"] == "***"
    assert shown["secrets"]["keys"] == "***"
    for secret in ("hunter2", "tok123", "guestpass", KEY_TEXT):
        assert secret not in result.output


def test_a_config_error_never_echoes_a_secret_value(tmp_path: Path) -> None:
    path = write(tmp_path, '[message_queue]\npassword = 12345678\n[api]\nport = "x"\n')
    with pytest.raises(ConfigError) as error:
        load_settings(path, {})
    assert "12345678" not in str(error.value)
    assert "api.port" in str(error.value)


def test_log_records_leave_with_config_secrets_and_secret_looking_values_masked(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, f'[database]\nurl = "{DB_URL}"\n')
    settings = load_settings(path, {"SCHEDULER_SECRET_KEY": KEY_TEXT})
    record = logging.LogRecord(
        "t", logging.WARNING, __file__, 1, "cannot connect with %s (pw %s) token=%s", None, None
    )
    record.args = (DB_URL, "hunter2", "tok123")
    record.api_token = "tok123"
    record.detail = "password=hunter2"
    try:
        raise RuntimeError(f"driver said: {KEY_TEXT} hunter2")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    RedactingFilter(settings.secret_values()).filter(record)
    text = logging.Formatter("%(message)s %(api_token)s %(detail)s").format(record)
    assert "hunter2" not in text and "tok123" not in text and KEY_TEXT not in text
    assert "postgresql://app:***@db.internal:5432/scheduler" in text
