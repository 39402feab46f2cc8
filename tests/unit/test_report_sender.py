"""Worker reports go out in batches, a lone one at once, redundant starts dropped."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence

from application.messages import Report
from application.report_sender import ReportSender, coalesce

WORKER = uuid.uuid4()


class SlowBus:
    """Records each publish_reports call; the first one blocks until released."""

    def __init__(self, fail_first: bool = False) -> None:
        self.calls: list[list[Report]] = []
        self.release = threading.Event()
        self.fail_first = fail_first

    def publish_reports(self, reports: Sequence[Report]) -> None:
        first = not self.calls
        self.calls.append(list(reports))
        if first:
            self.release.wait(5)
            if self.fail_first:
                raise ConnectionError("down")


def started(run: uuid.UUID) -> Report:
    return Report("started", run, 1, WORKER, pid=1)


def succeeded(run: uuid.UUID) -> Report:
    return Report("succeeded", run, 1, WORKER, exit_code=0)


def test_reports_queued_during_a_call_share_the_next_call() -> None:
    bus = SlowBus()
    sender = ReportSender(bus.publish_reports)
    first = started(uuid.uuid4())
    sender.send(first)
    while not bus.calls:
        time.sleep(0.001)
    later = [started(uuid.uuid4()) for _ in range(50)]
    for report in later:
        sender.send(report)
    bus.release.set()
    assert sender.flush()
    assert bus.calls == [[first], later]
    sender.close()


def test_a_lone_report_is_not_held_back() -> None:
    bus = SlowBus()
    bus.release.set()
    sender = ReportSender(bus.publish_reports)
    began = time.monotonic()
    sender.send(started(uuid.uuid4()))
    assert sender.flush()
    assert time.monotonic() - began < 0.05
    sender.close()


def test_a_start_is_dropped_when_its_final_report_is_in_the_same_batch() -> None:
    bus = SlowBus()
    sender = ReportSender(bus.publish_reports)
    blocker, quick, asked = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    sender.send(started(blocker))
    while not bus.calls:
        time.sleep(0.001)
    sender.send(started(quick))
    sender.send(started(asked), keep=True)  # a repeat the dispatcher asked for stays
    sender.send(succeeded(quick))
    sender.send(succeeded(asked))
    bus.release.set()
    assert sender.flush()
    assert [(r.kind, r.run_id) for r in bus.calls[1]] == [
        ("started", asked),
        ("succeeded", quick),
        ("succeeded", asked),
    ]
    sender.close()


def test_a_failed_call_does_not_stop_the_sender() -> None:
    bus = SlowBus(fail_first=True)
    sender = ReportSender(bus.publish_reports)
    sender.send(started(uuid.uuid4()))
    while not bus.calls:
        time.sleep(0.001)
    bus.release.set()
    after = succeeded(uuid.uuid4())
    sender.send(after)
    assert sender.flush()
    assert bus.calls[-1] == [after]
    sender.close()


def test_an_output_report_goes_when_a_later_one_of_its_attempt_shares_the_batch() -> None:
    run, other = uuid.uuid4(), uuid.uuid4()

    def output(run_id: uuid.UUID, sequence: int) -> Report:
        return Report("output", run_id, 1, WORKER, output=f"{sequence}", sequence=sequence)

    batch = [output(run, 1), output(other, 1), output(run, 2), output(other, 2), succeeded(other)]
    kept = coalesce([(report, False) for report in batch])
    assert [(r.run_id, r.kind, r.sequence) for r in kept] == [
        (run, "output", 2),
        (other, "succeeded", 0),
    ]
