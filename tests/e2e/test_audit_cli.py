"""`scheduler audit verify|head|lock-down` on a PostgreSQL log written by the application."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from domain.context import CommandContext
from domain.task_spec import validate_spec
from entrypoints.bootstrap import build_container
from entrypoints.settings import load_settings
from tests.e2e.conftest import SCHEDULER, base_env
from tests.servers import fresh_postgres_database


def audit(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `scheduler audit ...` against a database, as an operator would."""
    return subprocess.run(
        [str(SCHEDULER), "audit", *args],
        env={**base_env(), "SCHEDULER_DATABASE__URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def populated() -> Iterator[tuple[str, int]]:
    """A fresh PostgreSQL database holding the events of 6 tasks: (URL, log head)."""
    with fresh_postgres_database() as url:
        container = build_container(load_settings(None, {"SCHEDULER_DATABASE__URL": url}))
        try:
            ctx = CommandContext("operator", container.clock.now(), uuid.uuid4())
            for number in range(6):
                spec = validate_spec({"name": f"nightly-{number}", "command": "true"})
                container.app.create_task(spec, ctx)
            head = container.app.head_position()
        finally:
            container.close()
        yield url, head


def test_verify_chains_the_log_then_names_the_first_edited_event(
    populated: tuple[str, int],
) -> None:
    url, head = populated
    first = audit(url, "verify", "--batch-size", "100")
    assert first.returncode == 0, first.stderr
    assert f"verified {head} events up to position {head}" in first.stdout
    assert f"chained {head} events that were not chained yet" in first.stdout
    anchor = audit(url, "head").stdout.strip()
    assert anchor.startswith(f"{head}:")

    locked = audit(url, "lock-down")  # every process installs the guards when it starts
    assert locked.returncode == 0 and "guards already in place" in locked.stdout
    with psycopg.connect(url, autocommit=True) as owner:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            owner.execute("UPDATE scheduler_events SET state = state WHERE notification_id = 3")
        # An attacker with the owner's rights switches the guard off and edits one event,
        # with a trailing space the JSON decoder would never notice.
        owner.execute("ALTER TABLE scheduler_events DISABLE TRIGGER USER")
        owner.execute(
            "UPDATE scheduler_events SET state = state || '\\x20'::bytea WHERE notification_id = 3"
        )
    broken = audit(url, "verify", "--anchor", anchor)
    assert broken.returncode == 3, broken.stdout + broken.stderr
    assert broken.stderr.startswith("chain broken at position 3: the stored event differs")
    later = audit(url, "verify", "--from", "4", "--to", str(head))
    assert later.returncode == 0, later.stderr
    assert f"verified {head - 3} events from position 4 up to position {head}" in later.stdout
