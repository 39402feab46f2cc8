"""The bus port: carries deliveries to workers and reports back; never the record."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from application.messages import Delivery, Report


class Bus(Protocol):
    """Transport between dispatchers and workers."""

    def publish_delivery(self, delivery: Delivery) -> None: ...

    def receive_deliveries(
        self, worker_id: UUID, max_count: int, timeout: float
    ) -> list[Delivery]: ...

    def publish_report(self, report: Report) -> None: ...

    def receive_reports(self, max_count: int, timeout: float) -> list[Report]: ...

    def close(self) -> None: ...
