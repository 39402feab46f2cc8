"""`scheduler audit verify`: check the log's tamper-evidence chain."""

from __future__ import annotations

import click


@click.group()
def audit() -> None:
    """Check that the event log was not edited, deleted from or reordered."""
