"""JSON bodies parsed strictly: duplicate keys, integers beyond 64 bits and NaN are refused."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

MAX_INTEGER = 2**63 - 1  # the event store, the views and orjson hold 64-bit integers
MAX_INTEGER_DIGITS = len(str(MAX_INTEGER))
MAX_PROBLEMS = 20  # a body with thousands of duplicate keys gets a readable answer


@dataclass(frozen=True)
class JsonProblem:
    """One thing wrong in a JSON body, at a path of keys and indexes."""

    path: tuple[str | int, ...]
    message: str


class StrictJsonError(ValueError):
    """The body is not JSON the API accepts; `problems` says where and why."""

    def __init__(self, problems: list[JsonProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


class _Refused:
    """Stands in for a value the parser refused, so the walk can say where it was."""

    def __init__(self, message: str) -> None:
        self.message = message


class _Object(dict[str, Any]):
    """A parsed JSON object that remembers the keys it had more than once."""

    duplicates: tuple[str, ...] = ()


def parse_json(body: bytes | str) -> Any:
    """Parse a JSON body; raises StrictJsonError naming every refused key or number."""
    try:
        value = json.loads(
            body,
            object_pairs_hook=_object,
            parse_int=_integer,
            parse_constant=_constant,
        )
    except json.JSONDecodeError as error:
        raise StrictJsonError(
            [
                JsonProblem(
                    (), f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"
                )
            ]
        ) from None
    except UnicodeDecodeError:
        raise StrictJsonError([JsonProblem((), "the body is not UTF-8 text")]) from None
    except RecursionError:
        raise StrictJsonError([JsonProblem((), "the JSON is nested too deeply")]) from None
    problems = _problems(value)
    if problems:
        raise StrictJsonError(problems)
    return value


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    result = _Object(pairs)
    if len(result) != len(pairs):  # json.loads would silently keep the last one
        counts = Counter(key for key, _ in pairs)
        result.duplicates = tuple(key for key, count in counts.items() if count > 1)
    return result


def _integer(text: str) -> int | _Refused:
    digits = len(text.lstrip("-"))
    # Checked before int(): Python refuses to convert more than 4,300 digits at all.
    if digits > MAX_INTEGER_DIGITS or abs(int(text)) > MAX_INTEGER:
        return _Refused(f"integer with {digits} digits is out of range (at most ±{MAX_INTEGER})")
    return int(text)


def _constant(text: str) -> _Refused:
    return _Refused(f"{text} is not a JSON number")


def _problems(value: Any) -> list[JsonProblem]:
    # Iterative: a deeply nested body must not exhaust the stack a second time.
    problems: list[JsonProblem] = []
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), value)]
    while stack and len(problems) < MAX_PROBLEMS:
        path, node = stack.pop()
        if isinstance(node, _Refused):
            problems.append(JsonProblem(path, node.message))
        elif isinstance(node, _Object):
            problems += [
                JsonProblem((*path, key), f"duplicate key {key!r} in a JSON object")
                for key in node.duplicates
            ]
            stack += [((*path, key), child) for key, child in reversed(node.items())]
        elif isinstance(node, list):
            stack += [((*path, index), child) for index, child in reversed(list(enumerate(node)))]
    return problems[:MAX_PROBLEMS]
