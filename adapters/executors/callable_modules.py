"""`[worker] callable_modules`: the modules a `callable` task may import its function from."""

from __future__ import annotations

from collections.abc import Iterable


def module_allowed(name: str, prefixes: Iterable[str]) -> bool:
    """Whether `name` (`pkg.mod` or `pkg.mod:function`) is a listed module or inside one.

    A prefix covers itself and its submodules on a dot boundary: `myapp.jobs` allows
    `myapp.jobs` and `myapp.jobs.nightly`, not `myapp.jobs2` nor `myapp`. Relative names and
    empty prefixes never match; with no prefixes nothing may be imported.
    """
    module = name.partition(":")[0].strip()
    if not module or module.startswith(".") or ".." in module:
        return False
    return any(
        prefix and (module == prefix or module.startswith(prefix + "."))
        for prefix in (p.strip() for p in prefixes)
    )
