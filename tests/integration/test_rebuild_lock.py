"""One rebuild per projection at a time, across processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from entrypoints.bootstrap import Container, build_container, rebuild_lock
from projections.rebuild import RebuildLockedError


def test_a_second_rebuild_of_a_projection_is_refused_while_the_first_runs(
    container: Container,
) -> None:
    other = build_container(container.settings, process="other")  # another process
    try:
        with rebuild_lock(container.database, "tasks"):
            with (
                pytest.raises(RebuildLockedError, match="another rebuild of 'tasks' is running"),
                rebuild_lock(other.database, "tasks"),
            ):
                pass
            with rebuild_lock(other.database, "runs"):  # another projection is free
                pass
        with rebuild_lock(other.database, "tasks"):  # free again once the first ended
            pass
    finally:
        other.close()
