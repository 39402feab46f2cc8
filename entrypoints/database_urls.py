"""Database and broker URLs: which store a URL names, its connection fields, its password hidden."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from domain.secrets import mask_url_passwords

POSTGRES_SCHEMES = ("postgresql", "postgres")
DATABASE_URL_FORMS = (
    "sqlite:///relative/path, sqlite:////absolute/path or postgresql://user:password@host:port/db"
)
# libpq's TLS options, taken from [database] keys or the URL's query string.
POSTGRES_TLS_KEYS = ("sslmode", "sslrootcert", "sslcert", "sslkey")
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def url_scheme(url: str) -> str:
    """The lower-case scheme of a URL; empty when it has none."""
    return url.split("://", 1)[0].lower() if "://" in url else ""


def database_kind(url: str) -> Literal["sqlite", "postgres"]:
    """Which store a database URL names, from its scheme."""
    scheme = url_scheme(url)
    if scheme == "sqlite":
        return "sqlite"
    if scheme in POSTGRES_SCHEMES:
        return "postgres"
    what = f"unsupported scheme {scheme!r}" if scheme else "not a URL"
    raise ValueError(f"{what}; expected {DATABASE_URL_FORMS} (postgres:// also accepted)")


def sqlite_path(url: str) -> Path:
    """The file of sqlite:///relative/path or sqlite:////absolute/path."""
    if not url.lower().startswith("sqlite:///"):
        raise ValueError("a SQLite URL has three slashes before a relative path, four before /")
    path = url[len("sqlite:///") :]
    if not path or path.endswith("/"):
        raise ValueError("the SQLite URL names no file, e.g. sqlite:///./var/scheduler.db")
    if "?" in path:
        raise ValueError("a SQLite URL takes no query string")
    return Path(path)


def postgres_conninfo(url: str) -> dict[str, Any]:
    """Connection fields of a postgresql:// URL, percent-decoded, with libpq's defaults.

    Its query string may give libpq's TLS options (sslmode, sslrootcert, sslcert, sslkey);
    any other query parameter is refused rather than ignored.
    """
    parts = urlsplit(url)
    check_netloc(url, "PostgreSQL")
    port = parts.port or 5432
    dbname = unquote(parts.path.removeprefix("/"))
    if not dbname or "/" in dbname:
        raise ValueError("the PostgreSQL URL names no database: postgresql://user:pass@host/db")
    info: dict[str, Any] = {
        "dbname": dbname,
        "host": parts.hostname or "localhost",
        "port": port,
        "user": unquote(parts.username or "") or "postgres",
        "password": unquote(parts.password or ""),
    }
    for key, values in parse_qs(parts.query, keep_blank_values=True).items():
        if key not in POSTGRES_TLS_KEYS:
            raise ValueError(
                f"the PostgreSQL URL's query parameter {key!r} is not supported "
                f"(supported: {', '.join(POSTGRES_TLS_KEYS)})"
            )
        if key == "sslmode" and values[-1] not in SSLMODES:
            raise ValueError(f"sslmode must be one of {', '.join(SSLMODES)}, got {values[-1]!r}")
        info[key] = values[-1]
    return info


def check_read_url(url: str) -> None:
    """Refuse a `read_url` that is not a PostgreSQL URL (replicas are PostgreSQL's only)."""
    if url_scheme(url) not in POSTGRES_SCHEMES:
        raise ValueError(
            "a read replica must be PostgreSQL: postgresql://user:password@host:port/db"
        )
    postgres_conninfo(url)


def check_netloc(url: str, what: str) -> None:
    """Refuse a URL whose user-info or port cannot be read, without echoing any of it."""
    parts = urlsplit(url)
    if "@" in url.partition("://")[2] and "@" not in parts.netloc:
        # Typical after ${PASSWORD} substitution: the password holds a raw / ? or #.
        raise ValueError("percent-encode / ? # in the user or password (%2F, %3F, %23)")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise ValueError(
            f"the {what} port must be a number from 1 to 65535"
            " (percent-encode : @ / ? # in the user or password)"
        ) from None


def has_password(url: str) -> bool:
    """Whether the URL's user-info holds a password."""
    return urlsplit(url).password is not None


def has_user(url: str) -> bool:
    """Whether the URL's user-info names a user."""
    return bool(urlsplit(url).username)


def with_credentials(url: str, credentials: str) -> str:
    """The URL with its user-info replaced by `credentials` (`user:password@`)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{credentials}{rest.rpartition('@')[2]}"


def mask_url(url: str) -> str:
    """The URL with the password of its user-info replaced by ***."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    userinfo, at, host = netloc.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return mask_url_passwords(url)
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}{slash}{path}"
