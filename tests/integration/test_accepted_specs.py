"""No task definition the API accepts can make a consumer of the log raise.

Hypothesis draws definitions (odd-but-valid crons, 6 fields, macros, intervals, run_at, zones,
policies, labels, env, http settings, near-boundary values); every one the domain accepts is
created, changed, triggered, fired and reported through SchedulerApp, and each event it leads
to goes through every projection (on SQLite with the migrations applied), the cron book at
several moments, the dependency book and the dispatcher. Any exception fails the test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from adapters.memory_bus import InMemoryBus
from adapters.migrations import apply_migrations
from adapters.sqlite.database import SqliteDatabase
from application.commands.app import SchedulerApp
from application.dispatch.cron_firing import CronBook
from application.dispatch.dependencies import DependencyBook
from application.dispatch.dispatcher import Dispatcher
from application.dispatch.liveness import InMemoryLiveness
from application.dispatch.policy import DispatchPolicy
from application.messages import Report
from application.ports import Wakeup
from domain.context import CommandContext
from domain.cron import iana_zones
from domain.task_spec import SpecValidationError, TaskSpec, validate_spec
from domain.timing import next_slot, timing_field
from entrypoints.bootstrap import all_projections

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
EXECUTORS = ["shell", "python", "http", "callable"]
COMMANDS = {"http": "https://example.com/hook", "callable": "myapp.jobs:nightly"}

# Moments a command may happen at: ordinary, on DST changes, at month and year ends.
CREATED_AT = [
    datetime(2026, 11, 28, 12, 0, 7, tzinfo=UTC),
    datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC),  # Europe springs forward at 01:00 UTC
    datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # Europe falls back at 01:00 UTC
    datetime(2026, 11, 1, 5, 59, 59, tzinfo=UTC),  # New York falls back at 06:00 UTC
    datetime(2027, 2, 28, 23, 59, 59, tzinfo=UTC),
    datetime(2027, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2096, 2, 28, 12, tzinfo=UTC),  # 2100 is no leap year: Feb 29 skips 8 years
]
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Pacific/Chatham",  # +12:45 / +13:45
    "Pacific/Kiritimati",  # +14, the furthest ahead
    "Etc/GMT+12",  # -12, the furthest behind
    "Asia/Kathmandu",
    "America/Santiago",
    "Africa/Casablanca",
    "Factory",
]
ODD_CRONS = [
    "0 0 29 2 *",  # leap days only
    "0 0 * 2 1#5",  # a fifth Monday in February: once in 28 to 40 years
    "0 0 L 2 *",
    "0 0 31 2 1",  # day OR weekday: Mondays, although February 31 never comes
    "0 0 15W * *",
    "0 0 * * L5",
    "0 0 1-31/40 * *",
    "59 23 31 12 *",
    "30 2 * * *",  # in the gap or the repeat on DST days
    "* * * * *",
    "*/1 * * * * *",
    "59 59 23 31 12 *",
    "0 0 ? * *",
    "0 0 * * 7",
    "0 0 1 jan,jul mon-fri",
]
MINUTES = st.sampled_from(["*", "0", "59", "*/7", "0-59/30", "5,35", "1-2"])
HOURS = st.sampled_from(["*", "0", "23", "2", "*/5", "1-3"])
DAYS = st.sampled_from(["*", "1", "28", "29", "30", "31", "L", "15W", "1-31/10", "?"])
MONTHS = st.sampled_from(["*", "1", "2", "4", "12", "2-3", "*/6", "feb"])
WEEKDAYS = st.sampled_from(["*", "0", "6", "7", "1-5", "5#5", "1#1", "L5", "mon", "?"])
MACROS = st.sampled_from(
    ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly", "@DAILY"]
)
OFFSETS = st.sampled_from([-12 * 60, -9 * 60 - 30, 0, 5 * 60 + 45, 12 * 60 + 45, 14 * 60]).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@st.composite
def crons(draw: st.DrawFn) -> str:
    """A cron expression: an odd one, a macro, or five or six drawn fields (some impossible)."""
    kind = draw(st.sampled_from(["odd", "macro", "five", "six"]))
    if kind == "odd":
        return draw(st.sampled_from(ODD_CRONS))
    if kind == "macro":
        return draw(MACROS)
    fields = [draw(MINUTES), draw(HOURS), draw(DAYS), draw(MONTHS), draw(WEEKDAYS)]
    if kind == "six":
        fields.insert(0, draw(st.sampled_from(["0", "*/15", "59", "*"])))
    return " ".join(fields)


@st.composite
def timings(draw: st.DrawFn, created_at: datetime) -> dict[str, Any]:
    """One kind of timing (or none), with values on and near its bounds."""
    kind = draw(st.sampled_from(["cron", "cron", "interval", "run_at", "none"]))
    if kind == "cron":
        zone = draw(st.one_of(st.sampled_from(ZONES), st.sampled_from(sorted(iana_zones()))))
        return {"schedule": draw(crons()), "timezone": zone}
    if kind == "interval":
        seconds = st.one_of(
            st.sampled_from([1, 2, 59, 60, 86_400, 31_535_999, 31_536_000]),
            st.integers(1, 31_536_000),
        )
        return {"interval_seconds": draw(seconds)}
    if kind == "run_at":
        latest = datetime(9998, 11, 20)  # near the last moment a fire leaves room after
        moment = draw(
            st.one_of(
                st.datetimes(
                    min_value=created_at.replace(tzinfo=None),
                    max_value=latest,
                    timezones=OFFSETS,
                ),
                st.sampled_from(
                    [
                        created_at + timedelta(seconds=1),
                        created_at + timedelta(minutes=5),
                        datetime(9998, 11, 25, tzinfo=UTC),
                        datetime(9998, 12, 1, tzinfo=UTC),  # too close to the end: refused
                        datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-12))),
                    ]
                ),
            )
        )
        return {"run_at": moment.isoformat()}
    return {}


LABEL_KEYS = st.text("abcdefghijklmnopqrstuvwxyz-_./0123456789", min_size=1, max_size=63)
ENV_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)


@st.composite
def definitions(draw: st.DrawFn, created_at: datetime) -> dict[str, Any]:
    """Raw task definitions as a client would send them; some the domain refuses."""
    executor = draw(st.sampled_from(EXECUTORS))
    data: dict[str, Any] = {
        "name": f"t-{uuid.uuid4().hex[:12]}",
        "executor": executor,
        "command": COMMANDS.get(executor, "echo hi"),
        "priority": draw(st.sampled_from(["low", "normal", "high", "critical"])),
        "retry_count": draw(st.sampled_from([0, 1, 100])),
        "retry_delay_seconds": draw(st.sampled_from([0, 0.001, 10.0, 86_400])),
        "retry_backoff": draw(st.sampled_from([1, 1.5, 100])),
        "retry_max_delay_seconds": draw(st.sampled_from([0, 3_600.0, 604_800])),
        "timeout_seconds": draw(st.sampled_from([0, 1, 3_600, 604_800])),
        "concurrency_policy": draw(st.sampled_from(["allow", "skip", "queue", "replace"])),
        "misfire_policy": draw(st.sampled_from(["skip", "fire_once", "catch_up"])),
        "catchup_window_seconds": draw(st.sampled_from([0, 59, 61, 3_600, 31_536_000])),
        "routing_strategy": draw(
            st.sampled_from(
                [
                    "round_robin",
                    "least_loaded",
                    "random",
                    "consistent_hash",
                    "failover",
                    "broadcast",
                ]
            )
        ),
        "queue": draw(st.sampled_from(["default", "q" * 200])),
        "labels": draw(st.dictionaries(LABEL_KEYS, st.text(max_size=200), max_size=64)),
        "env": draw(st.dictionaries(ENV_NAMES, st.text(max_size=50), max_size=5)),
        "args": draw(st.lists(st.text(max_size=20), max_size=3)),
        "working_dir": draw(st.sampled_from([None, "/", "/srv/jobs"])),
        **draw(timings(created_at)),
    }
    if executor == "http":
        data["http"] = {
            "method": draw(st.sampled_from(["GET", "POST", "HEAD"])),
            "headers": draw(
                st.dictionaries(st.text(min_size=1, max_size=20), st.text(), max_size=3)
            ),
            "expected_status": draw(st.lists(st.integers(100, 599), max_size=3)),
        }
    return data


def accepted(data: dict[str, Any]) -> TaskSpec | None:
    """The definition as the API would accept it, or None when it is refused."""
    try:
        return validate_spec(data)
    except SpecValidationError:
        return None


class Consumers:
    """Every consumer of the log, fed one example's events."""

    def __init__(self, database: SqliteDatabase, base_position: int) -> None:
        self.database = database
        self.projections = all_projections()
        self.cron = CronBook()
        self.deps = DependencyBook()
        self.base = base_position  # examples share the views: positions never repeat
        self.seen = 0

    def feed(self, app: SchedulerApp) -> None:
        """Apply the events saved since the last feed."""
        batch = app.read_log(self.seen, 100_000)
        if not batch:
            return
        with self.database.transaction() as tx:
            for position, event in batch:
                for projection in self.projections:
                    projection.process(event, self.base + position, tx)
                self.cron.apply(event)
                self.deps.apply(event)
        self.deps.decisions()
        self.seen = batch[-1][0]


def moments(spec: TaskSpec, created_at: datetime) -> list[datetime]:
    """When to look: just after the change, at the first slots, late, and past the window."""
    found = [created_at + timedelta(seconds=1), created_at + timedelta(seconds=61)]
    first = next_slot(spec.as_event_data(), created_at)
    if first is not None:
        window = timedelta(seconds=min(spec.catchup_window_seconds, 3_600) + 1)
        found += [first, first + timedelta(seconds=61), first + window]
        second = next_slot(spec.as_event_data(), first)
        if second is not None:
            found.append(second)
    return sorted(found)


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteDatabase]:
    """One SQLite database with every migration applied, shared by the examples."""
    database = SqliteDatabase(Path(tmp_path_factory.mktemp("views")) / "views.db")
    apply_migrations(database, announce=False)
    yield database
    database.close()


class Clock:
    """A clock the test moves to each moment it looks at."""

    def __init__(self, start: datetime) -> None:
        self.moment = start

    def now(self) -> datetime:
        """The moment looked at."""
        return self.moment


class Harness:
    """One example's application, dispatcher (as tests/unit/rig.py builds it) and worker."""

    def __init__(self, app: SchedulerApp, clock: Clock) -> None:
        self.app, self.clock = app, clock
        self.liveness = InMemoryLiveness()
        self.dispatcher = Dispatcher(
            app,
            InMemoryBus(),
            self.liveness,
            clock,
            Wakeup(),
            policy=DispatchPolicy(
                lease_seconds=10,
                deadline_grace_seconds=5,
                republish_after_seconds=3,
                max_recoveries=1,
                maintenance_interval=0,
            ),
            monotonic=lambda: clock.now().timestamp(),
        )
        self.dispatcher.live = True
        self.worker = uuid.uuid4()

    def ctx(self) -> CommandContext:
        """A command at the current moment."""
        return CommandContext("prop", self.clock.now(), uuid.uuid4())

    def register_worker(self, spec: TaskSpec) -> None:
        """A worker that can take the task: every executor, its queue and its labels."""
        profile = {
            "name": "w",
            "executors": EXECUTORS,
            "queues": [spec.queue, "default"],
            "labels": dict(spec.labels),
            "max_concurrent_tasks": 4,
        }
        self.app.register_worker_once(self.worker, profile, self.ctx())
        self.beat()

    def beat(self) -> None:
        """Keep the worker alive at the current moment."""
        self.liveness.beat(self.worker, self.clock.now(), ())

    def report(self, run_id: uuid.UUID, ok: bool) -> None:
        """Report an assigned run started and then finished, as its worker would."""
        run = self.app.get_run(run_id)
        if run.attempt == 0 or run.worker_id != self.worker:
            return
        attempt, now = run.attempt, self.clock.now()
        end = Report("succeeded", run_id, attempt, self.worker, exit_code=0)
        if not ok:
            end = Report("failed", run_id, attempt, self.worker, exit_code=3, error="boom")
        self.app.record_reports([Report("started", run_id, attempt, self.worker, pid=7)], now)
        self.app.record_reports([end], now)


POSITIONS = {"base": 0}


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_no_accepted_definition_makes_a_consumer_raise(
    views: SqliteDatabase, data: st.DataObject
) -> None:
    created_at = data.draw(st.sampled_from(CREATED_AT), label="created_at")
    spec = accepted(data.draw(definitions(created_at), label="definition"))
    event("refused" if spec is None else f"accepted: {timing_field(spec.as_event_data())}")
    if spec is None:
        return  # refused at the door: nothing reaches a consumer
    POSITIONS["base"] += 1_000_000
    with SchedulerApp(env=POPO) as app:
        rig = Harness(app, Clock(created_at))
        consumers = Consumers(views, POSITIONS["base"])
        rig.register_worker(spec)
        upstream = app.create_task(
            validate_spec({"name": f"up-{spec.name}", "command": "x"}), rig.ctx()
        )
        if data.draw(st.booleans(), label="depends on an upstream"):
            spec = spec.model_copy(update={"depends_on": [str(upstream.aggregate_id)]})
        try:
            task_id = app.create_task(spec, rig.ctx()).aggregate_id
        except SpecValidationError:
            return  # refused from the command's own time (a run_at already gone)
        change = data.draw(timings(created_at), label="change")
        cleared = {"schedule": None, "interval_seconds": None, "run_at": None}
        with suppress(SpecValidationError):  # a refused change leaves the definition as it was
            app.update_task(task_id, {**cleared, **change}, rig.ctx())
        params = data.draw(st.dictionaries(ENV_NAMES, st.text(max_size=20), max_size=3))
        run_id = app.trigger_task(task_id, rig.ctx(), params=params).aggregate_id
        root = app.trigger_task(upstream.aggregate_id, rig.ctx()).aggregate_id
        consumers.feed(app)
        rig.dispatcher.follow_log()
        rig.dispatcher.assign_pending()
        rig.report(root, ok=True)
        rig.report(run_id, ok=data.draw(st.booleans(), label="run succeeds"))
        for now in moments(validate_spec(app.get_task(task_id).spec), created_at):
            rig.clock.moment = now
            rig.beat()
            consumers.cron.due(now)
            rig.dispatcher.step()
            consumers.feed(app)
        app.delete_task(task_id, "done", rig.ctx())
        rig.dispatcher.step()
        consumers.feed(app)
