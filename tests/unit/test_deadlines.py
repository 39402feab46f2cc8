"""One timer thread fires deadlines in order; cancelled ones never fire nor pile up."""

from __future__ import annotations

import threading
import time

from adapters.executors.deadlines import DeadlineTimer


def test_deadlines_fire_in_order_of_time_not_of_arrival() -> None:
    timer = DeadlineTimer()
    fired: list[str] = []
    done = threading.Event()
    timer.after(0.15, lambda: (fired.append("late"), done.set()))
    timer.after(0.05, lambda: fired.append("early"))
    assert done.wait(2)
    assert fired == ["early", "late"]
    timer.close()


def test_a_cancelled_deadline_never_fires_and_is_not_kept() -> None:
    timer = DeadlineTimer()
    fired: list[int] = []
    handles = [timer.after(0.1, lambda i=i: fired.append(i)) for i in range(1_000)]
    for handle in handles[1:]:
        timer.cancel(handle)
    assert len(timer) == 1
    assert timer._heap and len(timer._heap) < 100  # compacted, not 1,000 dead entries
    time.sleep(0.3)
    assert fired == [0]
    timer.close()
