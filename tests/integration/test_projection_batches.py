"""A projection batch is one pipelined transaction with its tracking row, on both stores."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from application.ports import Wakeup
from domain.context import CommandContext
from domain.task_spec import validate_spec
from entrypoints.bootstrap import Container
from projections.ports import Database, Tx
from projections.queries import ReadModel
from projections.runner import ProjectionConflictError, ProjectionRunner
from projections.shared_log import SharedLogReads
from projections.tasks import TasksProjection


class CountedDatabase:
    """The real database, counting which kind of transaction each batch opened."""

    def __init__(self, inner: Database) -> None:
        self._inner = inner
        self.opened: Counter[str] = Counter()
        self.reads = 0  # reads outside a transaction (the position, when not known)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @contextmanager
    def _counted(self, kind: str, opened: AbstractContextManager[Tx]) -> Iterator[Tx]:
        self.opened[kind] += 1
        with opened as tx:
            yield tx

    def transaction(self) -> AbstractContextManager[Tx]:
        return self._counted("transaction", self._inner.transaction())

    def one(self, sql: str, params: Any = None) -> Any:
        self.reads += 1
        return self._inner.one(sql, params)

    def pipelined(self) -> AbstractContextManager[Tx]:
        return self._counted("pipelined", self._inner.pipelined())


def runner_on(container: Container, database: CountedDatabase, batch_size: int) -> ProjectionRunner:
    return ProjectionRunner(
        TasksProjection(),
        container.app,
        database,  # type: ignore[arg-type]
        wakeup=Wakeup(),
        committed=Wakeup(),
        batch_size=batch_size,
    )


def create_tasks(container: Container, count: int) -> None:
    ctx = CommandContext("tester", container.clock.now(), uuid.uuid4())
    for index in range(count):
        spec = validate_spec({"name": f"t{index}", "command": "true"})
        container.app.create_task(spec, ctx)


def test_a_batch_is_one_pipelined_transaction_that_moves_the_position(
    container: Container,
) -> None:
    create_tasks(container, 40)
    database = CountedDatabase(container.database)
    announced: list[object] = []
    runner = runner_on(container, database, batch_size=1_000)
    runner._announce = announced.append  # called once per batch, inside its transaction
    assert runner.run_once() > 0
    assert database.opened == Counter({"pipelined": 1})  # no careful redo, no per-event commit
    head = container.app.head_position()
    assert runner.position() == head and len(announced) == 1
    _, total = ReadModel(container.database).list_tasks(status=None, name=None, limit=1, offset=0)
    assert total == 40
    assert runner.run_once() == 0  # caught up: nothing more applied


def test_advancing_from_a_position_that_moved_is_refused_in_a_pipelined_batch(
    container: Container,
) -> None:
    create_tasks(container, 3)
    runner = runner_on(container, CountedDatabase(container.database), batch_size=1_000)
    runner.run_once()
    moved = runner.position()
    with pytest.raises(ProjectionConflictError), container.database.pipelined() as tx:
        runner._advance(tx, moved - 1, moved + 1)  # no row counts in a pipeline: RETURNING
    assert runner.position() == moved


def test_after_its_own_batch_a_runner_knows_its_position_and_a_twin_cannot_fool_it(
    container: Container,
) -> None:
    create_tasks(container, 12)
    database = CountedDatabase(container.database)
    runner = runner_on(container, database, batch_size=5)
    runner.run_once()
    reads = database.reads
    runner.run_once()  # straight on from where its last batch ended
    assert database.reads == reads and database.opened["pipelined"] == 2
    twin = runner_on(container, CountedDatabase(container.database), batch_size=1_000)
    twin.run_once()  # applies the rest behind the first runner's back
    assert runner.run_once() == 0  # the lock shows the move: it reads the position again
    assert runner.position() == twin.position() == container.app.head_position()
    _, total = ReadModel(container.database).list_tasks(status=None, name=None, limit=1, offset=0)
    assert total == 12


def test_the_runners_of_a_process_read_each_batch_of_the_log_once(container: Container) -> None:
    create_tasks(container, 30)
    logs = {id(runner._log) for runner in container.runners}
    assert len(logs) == 1  # one shared reader
    shared = container.runners[0]._log
    assert isinstance(shared, SharedLogReads)
    for runner in container.runners:
        runner.catch_up()
    head = container.app.head_position()
    assert all(runner.position() == head for runner in container.runners)
    # 30 tasks fit one batch: one read of the store, every other runner served the batch
    # from the window, and at most one more read at the head per runner.
    assert shared.served == head * (len(container.runners) - 1)
    assert shared.reads <= 2 * len(container.runners)
