"""How every list query filters, and how the paged ones take one page and the total."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from projections.ports import Database, Row

Resource = dict[str, Any]
Page = tuple[list[Resource], int]  # the page's resources, and how many match in all


@dataclass
class Where:
    """The AND-ed conditions of a list query and their named parameters."""

    clauses: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def add(self, clause: str, **params: Any) -> None:
        """One more condition, with the parameters its placeholders name."""
        self.clauses.append(clause)
        self.params.update(params)

    @property
    def sql(self) -> str:
        """The conditions as a WHERE clause's body (always true when there are none)."""
        return " AND ".join(self.clauses) or "1 = 1"


def in_list(column: str, prefix: str, values: Sequence[Any]) -> str:
    """`column IN (...)` over named parameters `prefix0`, `prefix1`... (never true when empty)."""
    if not values:
        return "1 = 0"
    return f"{column} IN ({', '.join(f'%({prefix}{i})s' for i in range(len(values)))})"


def list_params(prefix: str, values: Sequence[Any]) -> dict[str, Any]:
    """The parameters `in_list` names."""
    return {f"{prefix}{i}": value for i, value in enumerate(values)}


def page(
    db: Database,
    *,
    select: str,
    count_from: str,
    where: Where,
    order_by: str,
    limit: int,
    offset: int,
    shape: Callable[[Row], Resource],
    seek: Where | None = None,
) -> Page:
    """One page (`limit` rows after `offset`, in `order_by` order) and the total count.

    `select` is `SELECT ... FROM ...` (joins included); `count_from` is what to count the
    matching rows in, which needs no joins the filter does not use. `seek` narrows the rows
    only, not the total: keyset paging (an index seek, whatever the depth).
    """
    params = {**where.params, "limit": limit, "offset": offset}
    total = db.one(f"SELECT COUNT(*) AS n FROM {count_from} WHERE {where.sql}", params)
    rows_where = Where([*where.clauses, *(seek.clauses if seek else [])])
    params.update(seek.params if seek else {})
    rows = db.query(
        f"{select} WHERE {rows_where.sql} ORDER BY {order_by} LIMIT %(limit)s OFFSET %(offset)s",
        params,
    )
    return [shape(row) for row in rows], int(total["n"]) if total else 0
