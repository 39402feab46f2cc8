"""Where the configuration comes from: a TOML file, ${VAR} substitution, SCHEDULER_* overrides.

Then the secret key from SCHEDULER_SECRET_KEY and `enc:` values decrypted with it; the models
that check the result are in settings.py. The root model is a parameter, so this module needs
nothing of settings.py (which calls it from `load_settings`).
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast, get_args, get_origin

from pydantic import BaseModel, ValidationError

from domain.secrets import is_secret_name, mask_text

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pydantic_core import ErrorDetails

Model = TypeVar("Model", bound=BaseModel)

CONFIG_ENV = "SCHEDULER_CONFIG"
SECRET_KEY_ENV = "SCHEDULER_SECRET_KEY"  # the keys of secret values and `enc:` config values
ENCRYPTED_PREFIX = "enc:"
ENV_PREFIX = "SCHEDULER_"
NO_FILE = "(no config file)"
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """The configuration cannot be used; one line per problem, each naming its key."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__("\n".join(f"config error in {source}: {p}" for p in self.problems))


@dataclass(frozen=True)
class LoadedConfig(Generic[Model]):
    """A checked configuration and where each of its keys came from."""

    model: Model
    files: tuple[str, ...]  # read in this order, each later one winning
    origins: Mapping[str, str]  # dotted key -> the file or the variable that set it last
    encrypted: frozenset[str] = frozenset()  # dotted keys written as enc:... (secrets)


def config_files(
    config_paths: str | Path | Sequence[str | Path] | None, environ: Mapping[str, str]
) -> tuple[tuple[Path, ...], bool]:
    """The files to read, in order, and whether SCHEDULER_CONFIG named them.

    `--config` (one path or several) wins; else SCHEDULER_CONFIG, a list separated by
    os.pathsep (`:` on Linux, as PATH and KUBECONFIG are); else none at all.
    """
    if isinstance(config_paths, str | Path):
        config_paths = [config_paths]
    given = tuple(Path(p) for p in config_paths or () if str(p))
    if given:
        return given, False
    listed = environ.get(CONFIG_ENV, "").split(os.pathsep)
    return tuple(Path(p) for p in listed if p.strip()), True


def load_config(
    model: type[Model],
    config_paths: str | Path | Sequence[str | Path] | None,
    environ: Mapping[str, str],
) -> Model:
    """Read the files of `config_paths` or SCHEDULER_CONFIG (else defaults), then the env.

    `model` is the root of the configuration, one field per section.

    Raises:
        ConfigError: a file is missing or not TOML, a ${VAR} is undefined, or a value is bad.
    """
    return load_layered(model, config_paths, environ).model


def load_layered(
    model: type[Model],
    config_paths: str | Path | Sequence[str | Path] | None,
    environ: Mapping[str, str],
) -> LoadedConfig[Model]:
    """`load_config`, also saying which file or variable set each key.

    Files are merged section by section and key by key: a later file replaces the keys it
    writes and keeps the others; a key's value (a list, a table) is replaced whole.

    Raises:
        ConfigError: as load_config.
    """
    paths, named_by_env = config_files(config_paths, environ)
    files = tuple(str(p) for p in paths)
    source = ", ".join(files) or NO_FILE
    data: dict[str, Any] = {}
    file_origins: dict[tuple[str, str], str] = {}
    for path in paths:
        raw = _read_toml(path, str(path), named_by_env)
        _merge(data, _substitute(raw, environ, str(path)), str(path), file_origins)
    env_origins = _apply_overrides(model, data, environ, source)
    _take_secret_keys(data, environ, env_origins, source)
    encrypted = frozenset(re.sub(r"\[\d+\]$", "", p) for p in _decrypt_values(data, source))
    # An error names the file that set the key only when there are several to tell apart.
    origins = {**file_origins, **env_origins} if len(files) > 1 else env_origins
    try:
        checked = model.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(model, e, origins) for e in _innermost(exc.errors())]
        raise ConfigError(source, problems) from exc
    every = {**file_origins, **env_origins}
    dotted = {f"{section}.{key}": where for (section, key), where in sorted(every.items())}
    return LoadedConfig(checked, files, dotted, encrypted)


def _merge(
    data: dict[str, Any],
    layer: dict[str, Any],
    source: str,
    origins: dict[tuple[str, str], str],
) -> None:
    """Lay `layer` over `data`: section by section, key by key."""
    for section, table in layer.items():
        if isinstance(table, dict) and isinstance(data.get(section, {}), dict):
            data.setdefault(section, {}).update(table)
            origins.update({(section, key): source for key in table})
        else:
            data[section] = table  # not a table: validation names the section


def _read_toml(path: Path, source: str, named_by_env: bool) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        where = "" if path.is_absolute() else f" (in {Path.cwd()})"
        why = f", named by {CONFIG_ENV}" if named_by_env else ""
        raise ConfigError(source, [f"config file not found: {path}{where}{why}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [f"invalid TOML: {exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(source, ["invalid TOML: the file is not UTF-8"]) from exc
    except OSError as exc:
        raise ConfigError(source, [f"cannot read the file: {exc.strerror or exc}"]) from exc


def _substitute(raw: dict[str, Any], environ: Mapping[str, str], source: str) -> dict[str, Any]:
    problems: list[str] = []

    def walk(value: Any, where: str) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, f"{where}.{k}" if where else k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, str):
            return _VARIABLE.sub(lambda m: replace(m, where), value)
        return value

    def replace(match: re.Match[str], where: str) -> str:
        name, default = match.group(1), match.group(2)
        if default is not None:  # shell semantics: `:-` also covers a set but empty variable
            return environ.get(name) or default
        if name not in environ:
            problems.append(
                f"{where}: environment variable {name} is not set"
                f" (write ${{{name}:-default}} to give a default)"
            )
            return match.group(0)
        return environ[name]

    data: dict[str, Any] = walk(raw, "")
    if problems:
        raise ConfigError(source, problems)
    return data


def _apply_overrides(
    model: type[BaseModel], data: dict[str, Any], environ: Mapping[str, str], source: str
) -> dict[tuple[str, str], str]:
    """Apply SCHEDULER_<SECTION>__<KEY> in place; returns which variable set each key."""
    origins: dict[tuple[str, str], str] = {}
    problems: list[str] = []
    sections = model.model_fields
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX) or "__" not in name:
            continue  # SCHEDULER_CONFIG, SCHEDULER_TEST_* and the like are not overrides
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        if section not in sections:
            problems.append(f"{name}: unknown section {section!r}{_suggest(section, sections)}")
            continue
        fields = _section_model(model, section).model_fields
        if key not in fields:
            problems.append(f"{name}: unknown key {section}.{key}{_suggest(key, fields)}")
            continue
        table = data.setdefault(section, {})
        if not isinstance(table, dict):
            continue  # validation reports the malformed section
        value = environ[name]
        if value == "":
            table.pop(key, None)  # an empty override restores the default
        else:
            table[key] = _parse_override(value, fields[key].annotation)
        origins[(section, key)] = name
    if problems:
        raise ConfigError(source, problems)
    return origins


def _take_secret_keys(
    data: dict[str, Any],
    environ: Mapping[str, str],
    origins: Mapping[tuple[str, str], str],
    source: str,
) -> None:
    """Put SCHEDULER_SECRET_KEY into [secrets] keys; refuse keys written anywhere else."""
    section = data.get("secrets")
    if isinstance(section, dict) and section.get("keys") is not None:
        where = origins.get(("secrets", "keys"), "the file")
        raise ConfigError(
            source,
            [
                f"secrets.keys (from {where}): the keys come only from {SECRET_KEY_ENV}, "
                "never from configuration (a key beside the values it protects protects nothing)"
            ],
        )
    if environ.get(SECRET_KEY_ENV, "").strip():
        data.setdefault("secrets", {})
        if isinstance(data["secrets"], dict):
            data["secrets"]["keys"] = environ[SECRET_KEY_ENV]


Found = list[tuple[dict[str, Any] | list[Any], Any, str]]  # (container, key, dotted path)


def _encrypted_values(container: dict[str, Any] | list[Any], where: str) -> Found:
    """Every `enc:` value under a container, with where it is."""
    found: Found = []
    items = container.items() if isinstance(container, dict) else enumerate(container)
    for key, value in items:
        path = (f"{where}.{key}" if isinstance(key, str) else f"{where}[{key}]").lstrip(".")
        if isinstance(value, dict | list):
            found += _encrypted_values(value, path)
        elif isinstance(value, str) and value.startswith(ENCRYPTED_PREFIX):
            found.append((container, key, path))
    return found


def _decrypt_values(data: dict[str, Any], source: str) -> list[str]:
    """Replace every `enc:` value by its plain text, decrypted with SCHEDULER_SECRET_KEY.

    Returns where each was (dotted paths).

    Raises:
        ConfigError: naming each key whose value cannot be decrypted, and why.
    """
    found = _encrypted_values(data, "")
    if not found:
        return []
    from adapters.aes_secret_box import (
        AesGcmSecretBox,
        KeyringError,
        decrypt_config_value,
        parse_keys,
    )
    from application.secrets import SecretUnreadableError

    section = data.get("secrets")
    keys = section.get("keys") if isinstance(section, dict) else None
    if not keys:
        paths = ", ".join(path for _, _, path in found)
        raise ConfigError(
            source, [f"{paths}: encrypted (enc:...), but {SECRET_KEY_ENV} is not set to decrypt it"]
        )
    try:
        box = AesGcmSecretBox(parse_keys(keys))
    except KeyringError as error:
        raise ConfigError(source, [f"secrets.keys: {error}"]) from None
    problems = []
    for container, key, path in found:
        try:
            container[key] = decrypt_config_value(box, container[key])
        except (SecretUnreadableError, UnicodeDecodeError) as error:
            problems.append(f"{path}: its enc: value cannot be decrypted: {error}")
    if problems:
        raise ConfigError(source, problems)
    return [path for _, _, path in found]


def _section_model(model: type[BaseModel], section: str) -> type[BaseModel]:
    # Every field of the root model is a section, itself a model.
    return cast("type[BaseModel]", model.model_fields[section].annotation)


def _parse_override(value: str, annotation: Any) -> Any:
    if _is_text(annotation):
        return value  # so a worker named `123` or `nan` stays a string
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


def _is_text(annotation: Any) -> bool:
    if annotation is str:
        return True
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is Literal:
        return all(isinstance(a, str) for a in args)
    return get_origin(annotation) is not tuple and args == [str]


def _suggest(word: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{hint}; known: {', '.join(known)}"


def _innermost(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    # A bad list item also makes the list "too short"; report only the item.
    def inside(outer: ErrorDetails, inner: ErrorDetails) -> bool:
        return (
            len(inner["loc"]) > len(outer["loc"])
            and inner["loc"][: len(outer["loc"])] == outer["loc"]
        )

    return [e for e in errors if not any(inside(e, other) for other in errors)]


def _describe(
    model: type[BaseModel], error: ErrorDetails, origins: Mapping[tuple[str, str], str]
) -> str:
    loc = error["loc"]
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    if error["type"] == "extra_forbidden":
        if len(loc) == 1:
            text = f"unknown section{_suggest(str(loc[0]), model.model_fields)}"
        else:
            fields = _section_model(model, str(loc[0])).model_fields
            text = f"unknown key{_suggest(str(loc[-1]), fields)}"
    elif error["type"] == "value_error":
        text = error["msg"].removeprefix("Value error, ")
    else:
        text = error["msg"].split(", unable to")[0]
        secret = any(is_secret_name(str(p)) for p in loc)
        if not secret and not isinstance(error["input"], dict | list):
            text += f", got {mask_text(repr(error['input']))}"
    origin = origins.get((str(loc[0]), str(loc[1]))) if len(loc) >= 2 else None
    return f"{where}: {text}" + (f" (from {origin})" if origin else "")
