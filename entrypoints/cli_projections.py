"""`scheduler projections status|rebuild`: inspect and rebuild the read-side projections."""

from __future__ import annotations

import click


@click.group()
def projections() -> None:
    """Inspect and rebuild the projections that keep the read tables."""
