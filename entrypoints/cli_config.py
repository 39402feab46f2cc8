"""`scheduler config encrypt|show`: encrypted configuration values, and the settings masked."""

from __future__ import annotations

import json
import os
import sys

import click

from adapters.aes_secret_box import (
    KEY_ENV,
    AesGcmSecretBox,
    KeyringError,
    encrypt_config_value,
    parse_keys,
)
from entrypoints.cli_support import ConfigPaths, config_option, load_cli_config


@click.group()
def config() -> None:
    """Configuration: encrypt a value for a config file; show the settings in force."""


@config.command()
def encrypt() -> None:
    """Print `enc:...` for a value read from stdin (or a hidden prompt), for any config key.

    The value is encrypted with the first key of SCHEDULER_SECRET_KEY; every process that
    reads the file decrypts it at start with the same variable.
    """
    keys = os.environ.get(KEY_ENV, "").strip()
    if not keys:
        raise click.ClickException(
            f"{KEY_ENV} is not set: it holds the key that encrypts the value "
            "(make one with: openssl rand -base64 32)"
        )
    try:
        box = AesGcmSecretBox(parse_keys(keys))
    except KeyringError as error:
        raise click.ClickException(str(error)) from None
    if sys.stdin.isatty():
        value = click.prompt("Value", hide_input=True, confirmation_prompt=True, err=True)
    else:
        value = sys.stdin.read()
        value = value[:-1] if value.endswith("\n") else value  # `echo` adds one newline
        value = value[:-1] if value.endswith("\r") else value
    if not value:
        raise click.ClickException("the value is empty: nothing to encrypt")
    click.echo(encrypt_config_value(box, value))


@config.command()
@config_option
def show(config: ConfigPaths) -> None:
    """Print the settings in force (files, ${VAR}, SCHEDULER_* overrides), secrets as ***.

    Values written encrypted (`enc:`) are *** too, whatever their key, as in
    GET /api/system/config.
    """
    from entrypoints.live_config import LiveConfig

    snapshot = LiveConfig.loaded(load_cli_config(config)).current
    click.echo(json.dumps(snapshot.masked(), indent=2, default=str))
