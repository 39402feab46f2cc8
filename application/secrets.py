"""Secret values sealed before they reach an event, and opened only for the worker that runs them.

The application seals (encryption needs randomness, which domain event code must not draw);
the dispatcher opens when it builds a delivery. Each value is bound to where it belongs
(task, field, name), so an envelope copied elsewhere does not open. docs/security.md#secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from pydantic import SecretStr

from domain.errors import InvalidFieldError
from domain.secrets import INPUT_KEY, MASK, SEALED_KEY, is_sealed, is_secret_name
from domain.task_spec import HttpRequestSpec, SealedSecret, SecretInput

KEY_HELP = "set SCHEDULER_SECRET_KEY (docs/security.md#secrets)"


class SecretBox(Protocol):
    """Seals a value into an envelope string and opens it again, for one context."""

    @property
    def current_key_id(self) -> str | None:
        """The key new values are sealed with (None: no key)."""
        ...

    def seal(self, plaintext: str, context: str) -> str: ...

    def open(self, envelope: str, context: str) -> str: ...


class SecretUnreadableError(Exception):
    """A sealed value cannot be opened: unknown key, wrong key, altered or moved value."""


class SecretsNotConfiguredError(InvalidFieldError):
    """A secret value was given, but no key is configured to store it encrypted."""

    def __init__(self, field: str) -> None:
        super().__init__(
            field,
            "is a secret, and this scheduler has no key to store it encrypted: " + KEY_HELP,
        )


class NoSecretBox:
    """No key configured: secret values are refused, never stored in plain text."""

    current_key_id = None

    def seal(self, plaintext: str, context: str) -> str:
        """Refuse (the caller names the field)."""
        raise SecretsNotConfiguredError(context)

    def open(self, envelope: str, context: str) -> str:
        """Refuse: nothing can be opened without a key."""
        raise SecretUnreadableError(f"no key is configured to open it: {KEY_HELP}")


@dataclass(frozen=True)
class OpenedRun:
    """What a worker needs of a run, secrets opened, and the values it must mask."""

    env: dict[str, str]
    params: dict[str, str]
    http: dict[str, Any] | None
    secrets: tuple[str, ...]


def context_of(task_id: UUID, path: str) -> str:
    """The context a value is bound to: its task and where it sits (env.NAME, params.NAME)."""
    return f"scheduler:task:{task_id}:{path}"


class Sealer:
    """Seals the secret values of definitions and params with one box."""

    def __init__(self, box: SecretBox) -> None:
        self._box = box

    def definition(self, task_id: UUID, spec: Mapping[str, Any]) -> dict[str, Any]:
        """A new task's definition (fields as given) with every secret value sealed."""
        return {**dict(spec), **self.changes(task_id, {}, spec)}

    def changes(
        self, task_id: UUID, current: Mapping[str, Any], changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A change to a definition with its secret values sealed.

        An unchanged secret keeps its envelope (the diff shows no change), `***` (what a read
        shows) keeps the current value, and a sealed value stays secret when it is given again
        in plain text, so a read-modify-write round trip is safe.
        """
        sealed = dict(changes)
        secret_env = changes.get("secret_env", current.get("secret_env")) or []
        if "env" in changes or ("secret_env" in changes and current.get("env")):
            env = changes.get("env", current.get("env")) or {}
            before = current.get("env") or {}
            sealed["env"] = {
                name: self._value(
                    task_id, f"env.{name}", value, before.get(name), name in secret_env
                )
                for name, value in dict(env).items()
            }
        if changes.get("http") is not None:
            http = _as_dict(changes["http"])
            before = (current.get("http") or {}).get("headers") or {}
            http["headers"] = {
                name: self._value(task_id, f"http.headers.{name}", value, before.get(name))
                for name, value in dict(http.get("headers") or {}).items()
            }
            sealed["http"] = http
        return sealed

    def params(self, task_id: UUID, params: Mapping[str, Any]) -> dict[str, Any]:
        """Trigger params with every secret value sealed."""
        return {
            name: self._value(task_id, f"params.{name}", value, None)
            for name, value in params.items()
        }

    def _value(
        self, task_id: UUID, path: str, value: Any, before: Any, listed: bool = False
    ) -> Any:
        if is_sealed(value) or isinstance(value, SealedSecret):
            return self._current(task_id, path, _envelope(value))  # from the log (rollback)
        plaintext = secret_plaintext(value)
        name = path.rsplit(".", 1)[-1]
        if plaintext is None:
            # A value that is sealed now stays secret when it is given again in plain text.
            if not (listed or is_secret_name(name) or is_sealed(before)):
                return value
            plaintext = str(value)
            if plaintext == MASK and before is not None:
                return self._keep(task_id, path, before)
        if before is not None and self._opens_to(task_id, path, before, plaintext):
            return self._current(task_id, path, _envelope(before))
        return self._seal(task_id, path, plaintext)

    def _keep(self, task_id: UUID, path: str, before: Any) -> Any:
        if is_sealed(before):
            return self._current(task_id, path, _envelope(before))
        return self._seal(task_id, path, str(before))  # stored in plain text before: sealed now

    def _current(self, task_id: UUID, path: str, envelope: str) -> dict[str, str]:
        """The envelope if the current key sealed it; else opened and sealed with that key
        (after a rotation, any write of the value moves it to the new key)."""
        current = self._box.current_key_id
        if current is None or envelope.split(":")[1:2] == [current]:
            return {SEALED_KEY: envelope}
        try:
            plaintext = self._box.open(envelope, context_of(task_id, path))
        except SecretUnreadableError as error:
            raise InvalidFieldError(
                path, f"its stored secret cannot be opened ({error}): give the value again"
            ) from None
        return self._seal(task_id, path, plaintext)

    def _seal(self, task_id: UUID, path: str, plaintext: str) -> dict[str, str]:
        try:
            return {SEALED_KEY: self._box.seal(plaintext, context_of(task_id, path))}
        except SecretsNotConfiguredError:
            raise SecretsNotConfiguredError(path) from None

    def _opens_to(self, task_id: UUID, path: str, before: Any, plaintext: str) -> bool:
        if not is_sealed(before):
            return False
        try:
            return self._box.open(_envelope(before), context_of(task_id, path)) == plaintext
        except SecretUnreadableError:
            return False  # sealed with a retired key: sealed again with the current one


class Opener:
    """Opens the sealed values of a run, for the delivery to its worker and nothing else."""

    def __init__(self, box: SecretBox) -> None:
        self._box = box

    def run(self, task_id: UUID, task: Mapping[str, Any], params: Mapping[str, Any]) -> OpenedRun:
        """The run's env, params and http settings with their secrets in plain text.

        Raises:
            SecretUnreadableError: a value cannot be opened, naming which one and why.
        """
        secret_env = set(task.get("secret_env") or [])
        secrets: list[str] = []
        env = self._entries(task_id, "env", task.get("env") or {}, secret_env, secrets)
        opened_params = self._entries(task_id, "params", params, set(), secrets)
        http = task.get("http")
        if isinstance(http, Mapping):
            headers = http.get("headers") or {}
            http = {
                **http,
                "headers": self._entries(task_id, "http.headers", headers, set(), secrets),
            }
        return OpenedRun(env, opened_params, http, tuple(dict.fromkeys(secrets)))

    def params(self, task_id: UUID, params: Mapping[str, Any]) -> dict[str, str]:
        """A run's params with their secrets in plain text (to compare a repeated trigger)."""
        return self._entries(task_id, "params", params, set(), [])

    def _entries(
        self,
        task_id: UUID,
        field: str,
        entries: Mapping[str, Any],
        listed: set[str],
        secrets: list[str],
    ) -> dict[str, str]:
        opened: dict[str, str] = {}
        for name, value in entries.items():
            path = f"{field}.{name}"
            if is_sealed(value):
                try:
                    opened[name] = self._box.open(value[SEALED_KEY], context_of(task_id, path))
                except SecretUnreadableError as error:
                    raise SecretUnreadableError(f"{path}: {error}") from None
                secrets.append(opened[name])
            else:
                opened[name] = str(value)
                if name in listed or is_secret_name(name):
                    secrets.append(opened[name])  # stored before secrets were sealed
        return opened


def secret_plaintext(value: Any) -> str | None:
    """The plain text of a value given as a secret (`{"secret": ...}`), else None."""
    if isinstance(value, SecretInput):
        return value.plaintext()
    if isinstance(value, Mapping) and set(value) == {INPUT_KEY}:
        inner = value[INPUT_KEY]
        return inner.get_secret_value() if isinstance(inner, SecretStr) else str(inner)
    return None


def _envelope(value: Any) -> str:
    return value.enc if isinstance(value, SealedSecret) else str(value[SEALED_KEY])


def _as_dict(http: Any) -> dict[str, Any]:
    if isinstance(http, HttpRequestSpec):
        # Python mode keeps each secret as its object, not the masked text a JSON dump gives.
        return {**http.model_dump(), "headers": dict(http.headers)}
    return dict(http)
