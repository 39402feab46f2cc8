"""Circuit breakers as a Prometheus gauge, for every process (a worker's too)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class BreakerCollector(Collector):
    """Each circuit breaker's state: 0 closed, 1 half-open, 2 open."""

    def __init__(self, breakers: Any) -> None:
        self._breakers = breakers

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yield one gauge with a sample per breaker."""
        family = GaugeMetricFamily(
            "scheduler_circuit_state",
            "Circuit breaker state (0 closed, 1 half-open, 2 open).",
            labels=["breaker"],
        )
        for name, breaker in self._breakers.all().items():
            family.add_metric([name], float(CIRCUIT_LEVEL[breaker.state.value]))
        yield family


CIRCUIT_LEVEL = {"closed": 0, "half_open": 1, "open": 2}
