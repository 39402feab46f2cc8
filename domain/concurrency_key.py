"""Concurrency keys: a template over a run's params names the group its runs count against."""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

MAX_KEY_LENGTH = 200  # a rendered key longer than this is cut (it only groups runs)


def key_template_problem(template: str) -> str | None:
    """Why `template` is not a usable key template, or None ("{customer_id}", "{a}-{b}")."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as error:
        return f"not a template: {error}"
    names = [name for _, name, _, _ in parts if name is not None]
    if not names:
        return 'must name at least one trigger param, e.g. "{customer_id}"'
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            return f"{{{name}}}: use plain param names in braces, e.g. {{customer_id}}"
    return None


def render_key(template: str, params: Mapping[str, Any]) -> str:
    """The key of a run: the template with its params; a param absent or secret is empty.

    Never raises: a template the spec did not validate (an old or injected event) is its own
    key, so one bad definition cannot stop the assignment of every run.
    """
    try:
        values = {
            name: value if isinstance(value, str) else ""
            for _, name, _, _ in string.Formatter().parse(template)
            if name is not None
            for value in (params.get(name) if isinstance(params, Mapping) else None,)
        }
        return template.format_map(values)[:MAX_KEY_LENGTH]
    except (ValueError, KeyError, IndexError, AttributeError, TypeError):
        return template[:MAX_KEY_LENGTH]
