"""The archive file format: gzip JSON lines of stored events, and a manifest chaining the files.

`NNNNNN.jsonl.gz` holds one stored event a line, with its audit-chain digest and hash;
`NNNNNN.json` (the manifest) holds the sequence, the horizon, the counts, the sha256 of the
events file and the sha256 of the previous manifest, so the manifests form a chain.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification

from application.audit import ChainLink, event_digest

FORMAT = "scheduler-archive/1"
GENESIS_SHA256 = "0" * 64  # the "previous manifest" of the first file
CHUNK = 1 << 20


class ArchiveFormatError(ValueError):
    """A file that is not an archive this code wrote; the message names it."""


@dataclass(frozen=True)
class Manifest:
    """One archive file as its manifest describes it."""

    path: Path
    body: dict[str, Any]
    sha256: str  # of the manifest's bytes: what the next manifest and the event record name

    @property
    def sequence(self) -> int:
        """1, 2, 3… in export order."""
        return int(self.body["sequence"])

    @property
    def events_path(self) -> Path:
        """The events file beside the manifest."""
        return self.path.with_name(str(self.body["file"]))


def manifest_name(sequence: int) -> str:
    """The manifest's file name."""
    return f"{sequence:06d}.json"


def events_name(sequence: int) -> str:
    """The events file's name."""
    return f"{sequence:06d}.jsonl.gz"


def event_line(notification: Notification, link: ChainLink) -> bytes:
    """One archived event as a JSON line, with the chain's digest and hash of its position."""
    state = notification.state
    record = {
        "position": notification.id,
        "originator_id": str(notification.originator_id),
        "originator_version": notification.originator_version,
        "topic": notification.topic,
        "state": base64.b64encode(bytes(state)).decode(),
        "digest": link.event_digest.hex(),
        "hash": link.hash.hex(),
    }
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def notification_of(record: dict[str, Any]) -> Notification:
    """An archived line as the stored event it was."""
    return Notification(
        id=int(record["position"]),
        originator_id=UUID(record["originator_id"]),
        originator_version=int(record["originator_version"]),
        topic=str(record["topic"]),
        state=base64.b64decode(record["state"]),
    )


def write_archive(
    directory: Path,
    lines: Iterable[tuple[Notification, ChainLink]],
    header: dict[str, Any],
    previous: Manifest | None,
) -> Manifest:
    """Write the events file then its manifest (the manifest last: it marks the file whole)."""
    directory.mkdir(parents=True, exist_ok=True)
    sequence = previous.sequence + 1 if previous else 1
    events_path = directory / events_name(sequence)
    count, ids, first, last = 0, set(), 0, 0
    with gzip.open(events_path, "wb", compresslevel=6) as out:
        for notification, link in lines:
            out.write(event_line(notification, link))
            count += 1
            ids.add(notification.originator_id)
            first = min(first or notification.id, notification.id)
            last = max(last, notification.id)
    body = {
        "format": FORMAT,
        "sequence": sequence,
        "file": events_path.name,
        **header,
        "events": count,
        "aggregates": len(ids),
        "first_position": first,
        "last_position": last,
        "bytes": events_path.stat().st_size,
        "content_sha256": file_sha256(events_path),
        "previous_sha256": previous.sha256 if previous else GENESIS_SHA256,
    }
    data = json.dumps(body, indent=1, sort_keys=True).encode() + b"\n"
    path = directory / manifest_name(sequence)
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(data)
    temporary.rename(path)
    return Manifest(path, body, hashlib.sha256(data).hexdigest())


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifests(directory: Path) -> list[Manifest]:
    """Every manifest in the directory, in sequence order.

    Raises:
        ArchiveFormatError: a manifest that is not JSON or not this format.
    """
    found = []
    for path in sorted(directory.glob("[0-9]*.json")) if directory.is_dir() else []:
        data = path.read_bytes()
        try:
            body = json.loads(data)
        except ValueError:
            raise ArchiveFormatError(f"{path}: the manifest is not JSON") from None
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise ArchiveFormatError(f"{path}: not a {FORMAT} manifest")
        found.append(Manifest(path, body, hashlib.sha256(data).hexdigest()))
    return sorted(found, key=lambda m: m.sequence)


def read_records(manifest: Manifest) -> Iterator[dict[str, Any]]:
    """The archived events of one file as records (position, ids, topic, state, digest, hash).

    Raises:
        ArchiveFormatError: the file is not gzip JSON lines.
    """
    try:
        with gzip.open(manifest.events_path, "rb") as handle:
            for line in handle:
                yield json.loads(line)
    except (OSError, EOFError, ValueError) as error:
        raise ArchiveFormatError(f"{manifest.events_path}: unreadable ({error})") from None


def recomputed_digest(record: dict[str, Any]) -> bytes:
    """The audit digest of an archived line's event, from its bytes."""
    return event_digest(notification_of(record))


def manifest_summary(manifest: Manifest) -> dict[str, Any]:
    """What the API and the CLI show of one file."""
    body = manifest.body
    return {
        "sequence": manifest.sequence,
        "file": body["file"],
        "horizon": body["horizon"],
        "cutoff": body["cutoff"],
        "events": body["events"],
        "aggregates": body["aggregates"],
        "first_position": body["first_position"],
        "last_position": body["last_position"],
        "bytes": body.get("bytes"),
        "exported_at": body.get("exported_at"),
        "sha256": manifest.sha256,
        "content_sha256": body["content_sha256"],
        "previous_sha256": body["previous_sha256"],
    }


def iso(moment: datetime) -> str:
    """A moment as manifests write it."""
    return moment.isoformat()
