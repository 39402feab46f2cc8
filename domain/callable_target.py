"""The form of a `callable` task's command: `package.module:function`."""

from __future__ import annotations

import re

# A dotted module path, a colon, then a dotted attribute path (a function or Class.method).
CALLABLE_TARGET = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def callable_target_problem(command: str) -> str | None:
    """Why `command` is not `package.module:function`, or None when it is."""
    if CALLABLE_TARGET.match(command):
        return None
    return f"{command!r} is not package.module:function (e.g. myapp.jobs:nightly)"
