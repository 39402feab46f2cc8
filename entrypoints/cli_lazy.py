"""A click group whose subcommands are imported only when one of them is run (or listed)."""

from __future__ import annotations

import importlib
from typing import Any

import click


class LazyGroup(click.Group):
    """Subcommands named as `module:attribute`, imported on first use (click's own recipe).

    `scheduler worker` then never imports the database drivers, web framework and
    projections that `scheduler keys` or `scheduler archive` need.
    """

    def __init__(self, *args: Any, lazy_subcommands: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = lazy_subcommands

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every subcommand's name, loaded or not."""
        return sorted([*super().list_commands(ctx), *self.lazy_subcommands])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The subcommand, importing its module the first time."""
        if cmd_name in self.lazy_subcommands and cmd_name not in self.commands:
            module_name, attribute = self.lazy_subcommands[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy_subcommands[cmd_name]} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)
