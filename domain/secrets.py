"""What is secret and how it is shown: the one module that decides masking, on every surface.

A value is secret when its name looks like one (PASSWORD, TOKEN, SECRET, KEY...), when the
task lists the name in `secret_env`, or when it is given as `{"secret": "..."}`. The
application stores such values sealed, as `{"enc": "v1:<key id>:<base64>"}` (application/
secrets.py); every reader shows them, and anything secret-looking, as `***`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any
from urllib.parse import quote

MASK = "***"
SEALED_KEY = "enc"  # {"enc": "v1:<key id>:<base64>"}: a value the application encrypted
INPUT_KEY = "secret"  # {"secret": "..."}: a value the caller marks secret
ENTRY_MAPS = frozenset({"env", "params", "headers"})  # name -> value maps that may hold secrets
# Shorter values are not searched for in output: they would mask ordinary text, and a secret
# that short protects nothing. They are still sealed and masked as values everywhere.
MIN_REDACTED_LENGTH = 4
MIN_PARTIAL_LENGTH = 3  # a secret cut by the ends of a text is masked from this many characters

# Parts that make a name secret wherever they appear in it...
_SECRET_PARTS = re.compile(
    r"passw|secret|token|credential|auth|cookie|private|signature|session|bearer", re.IGNORECASE
)
# ...and words that do only as a whole word of the name: API_KEY is a key, MONKEY is not.
_SECRET_WORDS = frozenset({"key", "keys", "apikey", "pwd", "pass", "dsn", "sig", "otp"})
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")  # DB_PASSWORD, apiKey, X-Api-Key
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):(?P<pw>[^@\s/]+)@")
_ASSIGNMENT = re.compile(
    r"(?P<head>(?P<q>[\"']?)(?P<name>[A-Za-z_][\w.-]*)(?P=q)\s*(?:=|:(?!//))\s*)"
    r"(?P<value>\"[^\"]*\"|'[^']*'|(?:(?:Bearer|Basic|Digest|Token|Bot) )?[^\s,;&}\]?#]+)"
)
_AUTH_SCHEMES = frozenset({"Bearer", "Basic", "Digest", "Token", "Bot"})
# The output tail starts with this line when it dropped bytes (adapters/executors/output_tail).
_TRUNCATED = re.compile(r"^\[\.\.\. \d+ bytes truncated \.\.\.\]\n")


def is_secret_name(name: str) -> bool:
    """Whether a variable, header, parameter or config key name says its value is secret."""
    if _SECRET_PARTS.search(name):
        return True
    return any(word.lower() in _SECRET_WORDS for word in _WORDS.findall(name))


def is_sealed(value: Any) -> bool:
    """Whether a stored value is an envelope the application sealed."""
    return (
        isinstance(value, Mapping)
        and set(value) == {SEALED_KEY}
        and isinstance(value[SEALED_KEY], str)
    )


def is_secret_input(value: Any) -> bool:
    """Whether a value is the `{"secret": "..."}` form a caller sends."""
    return isinstance(value, Mapping) and set(value) == {INPUT_KEY}


def is_secret_entry(name: str, value: Any, secret_names: Collection[str] = ()) -> bool:
    """Whether one entry of env, headers or params holds a secret."""
    return (
        is_sealed(value)
        or is_secret_input(value)
        or name in secret_names
        or is_secret_name(str(name))
    )


def masked_entries(
    entries: Mapping[str, Any], secret_names: Collection[str] = ()
) -> dict[str, Any]:
    """env, headers or params with every secret value shown as ***."""
    return {
        name: MASK if is_secret_entry(name, value, secret_names) else value
        for name, value in entries.items()
    }


def masked_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A task definition (or a change to one) as every surface shows it."""
    shown = dict(spec)
    names = spec.get("secret_env")
    explicit = [str(n) for n in names] if isinstance(names, list | tuple) else []
    if isinstance(spec.get("env"), Mapping):
        shown["env"] = masked_entries(spec["env"], explicit)
    http = spec.get("http")
    if isinstance(http, Mapping) and isinstance(http.get("headers"), Mapping):
        shown["http"] = {**http, "headers": masked_entries(http["headers"])}
    if isinstance(spec.get("command"), str):
        shown["command"] = mask_url_passwords(spec["command"])
    if isinstance(spec.get("args"), list):
        shown["args"] = [mask_url_passwords(a) if isinstance(a, str) else a for a in spec["args"]]
    return shown


def masked_payload(value: Any, parent: str | None = None) -> Any:
    """Any JSON-like structure (an event payload) with every secret in it shown as ***."""
    if is_sealed(value) or is_secret_input(value):
        return MASK
    if isinstance(value, Mapping):
        if "env" in value or "http" in value or "command" in value:
            value = masked_spec(value)  # a definition or a change: knows its secret_env
        if parent in ENTRY_MAPS:
            value = masked_entries(value)
        return {k: masked_payload(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked_payload(v, parent) for v in value]
    if isinstance(value, str):
        return mask_url_passwords(value)
    return value


def mask_url_passwords(text: str) -> str:
    """Text with the password of every `scheme://user:password@` replaced by ***."""
    return _URL_PASSWORD.sub(lambda m: f"{m['head']}:{MASK}@", text)


def mask_text(text: str) -> str:
    """Free text (a log line, an error) with URL passwords and `secret_name=value` masked."""

    def assignment(match: re.Match[str]) -> str:
        if not is_secret_name(match["name"]):
            return match[0]
        return f"{match['head']}{MASK}"

    return _ASSIGNMENT.sub(assignment, mask_url_passwords(text))


def masked_config(value: Any, name: str = "") -> Any:
    """Settings as data, with every secret-named key and URL password shown as ***."""
    if isinstance(value, Mapping):
        return {k: masked_config(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked_config(v, name) for v in value]
    if is_secret_name(name) and value not in (None, "", [], {}):
        return MASK
    if isinstance(value, str):
        return mask_url_passwords(value)
    return value


def redact(text: str, secrets: Iterable[str]) -> str:
    """Text (a task's output or error) with every occurrence of each secret value as ***.

    Also the value's URL-encoded, JSON-escaped and base64 forms, and a secret cut by either
    end of the text (an output tail starts wherever the kept bytes start).
    """
    return Redactor(secrets).apply(text)


class Redactor:
    """`redact` for a fixed set of secrets, compiled once (the log filter uses it per record)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.values = sorted(
            {s for s in secrets if len(s) >= MIN_REDACTED_LENGTH}, key=len, reverse=True
        )
        forms = sorted({f for s in self.values for f in _forms(s)}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, forms))) if forms else None

    def apply(self, text: str) -> str:
        """The text with every secret of this redactor as ***."""
        if not text or self._pattern is None:
            return text
        text = self._pattern.sub(MASK, text)
        marker = _TRUNCATED.match(text)
        head, body = (text[: marker.end()], text[marker.end() :]) if marker else ("", text)
        return head + _mask_cut_ends(body, self.values)


def _forms(secret: str) -> set[str]:
    scheme, _, credential = secret.partition(" ")
    if scheme in _AUTH_SCHEMES and credential:  # an Authorization value: its token alone too
        return _forms(credential) | {secret}
    forms = {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}
    forms.add(base64.b64encode(secret.encode()).decode().rstrip("="))
    return {f for f in forms if len(f) >= MIN_REDACTED_LENGTH}


def _mask_cut_ends(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        for size in range(len(secret) - 1, MIN_PARTIAL_LENGTH - 1, -1):
            if text.startswith(secret[-size:]):
                text = MASK + text[size:]
                break
        for size in range(len(secret) - 1, MIN_PARTIAL_LENGTH - 1, -1):
            if text.endswith(secret[:size]):
                text = text[:-size] + MASK
                break
    return text


def sealed_key_ids(value: Any) -> set[str]:
    """The ids of the keys that sealed the envelopes anywhere in a JSON-like structure."""
    if is_sealed(value):
        return {value[SEALED_KEY].split(":")[1]} if value[SEALED_KEY].count(":") >= 2 else set()
    if isinstance(value, Mapping):
        return {kid for inner in value.values() for kid in sealed_key_ids(inner)}
    if isinstance(value, list | tuple):
        return {kid for inner in value for kid in sealed_key_ids(inner)}
    return set()


def secret_values(entries: Mapping[str, Any], secret_names: Collection[str] = ()) -> list[str]:
    """The plain values of the secret entries of an opened env, headers or params map."""
    return [
        value
        for name, value in entries.items()
        if isinstance(value, str) and value and (name in secret_names or is_secret_name(name))
    ]
