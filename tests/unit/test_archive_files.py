"""Archive files: the manifest chain, the content hash, each event against the audit chain."""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
from eventsourcing.persistence import Notification

from application.archive.files import (
    GENESIS_SHA256,
    Manifest,
    file_sha256,
    read_manifests,
    read_records,
    write_archive,
)
from application.archive.merged_log import ArchivedLog
from application.archive.verify import verify_archives
from application.audit import GENESIS, ChainLink, event_digest, link_hash, verify_chain
from application.ports import Clock


class ListLog:
    """A stored log held in a list (what the recorder returns, by position)."""

    def __init__(self, rows: list[Notification]) -> None:
        self.rows = rows

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        low = (start or 0) + (0 if inclusive_of_start else 1)
        chosen = [
            n
            for n in self.rows
            if n.id >= low and (stop is None or n.id <= stop) and (not topics or n.topic in topics)
        ]
        return chosen[:limit]

    def max_notification_id(self) -> int | None:
        return max((n.id for n in self.rows), default=None)


class ListChain:
    """The chain's links held in a list."""

    def __init__(self, rows: list[Notification]) -> None:
        self.chained: list[ChainLink] = []
        previous, last = GENESIS, 0
        for row in rows:
            digest = event_digest(row)
            previous = link_hash(previous, row.id, digest)
            self.chained.append(ChainLink(row.id, last, digest, previous))
            last = row.id

    def head(self) -> ChainLink | None:
        return self.chained[-1] if self.chained else None

    def last_before(self, position: int) -> ChainLink | None:
        before = [link for link in self.chained if link.position < position]
        return before[-1] if before else None

    def links_in(self, after: int, until: int) -> list[ChainLink]:
        return [link for link in self.chained if after < link.position <= until]

    def links(self, after: int, until: int, limit: int) -> list[ChainLink]:
        return self.links_in(after, until)[:limit]

    def append(self, expected_head: int, links: Sequence[ChainLink], clock: Clock) -> bool:
        raise NotImplementedError  # the files are checked against a chain, never extend it

    def position_of_digest(self, digest: bytes) -> int | None:
        return next((link.position for link in self.chained if link.event_digest == digest), None)


def stored(position: int, originator: uuid.UUID, version: int) -> Notification:
    state = json.dumps({"n": position}).encode()
    return Notification(
        id=position,
        originator_id=originator,
        originator_version=version,
        topic="scheduler:TaskRun.Requested",
        state=state,
    )


@pytest.fixture
def log() -> list[Notification]:
    ids = [uuid.uuid4() for _ in range(4)]
    return [stored(p, ids[p % 4], p // 4 + 1) for p in range(1, 41)]


def archive(directory: Path, rows: list[Notification], chain: ListChain, ids: set[uuid.UUID]):
    previous = (read_manifests(directory) or [None])[-1]
    by_position = {link.position: link for link in chain.chained}
    lines = [(n, by_position[n.id]) for n in rows if n.originator_id in ids]
    header = {"horizon": 41, "cutoff": "2026-01-01T00:00:00+00:00", "exported_at": "now"}
    return write_archive(directory, lines, header, previous)


def test_files_chain_their_manifests_and_verify_against_the_audit_chain(
    tmp_path: Path, log: list[Notification]
) -> None:
    chain = ListChain(log)
    first = archive(tmp_path, log, chain, {log[0].originator_id})
    second = archive(tmp_path, log, chain, {log[1].originator_id})
    assert first.body["previous_sha256"] == GENESIS_SHA256
    assert second.body["previous_sha256"] == first.sha256
    assert (second.sequence, second.body["events"], second.body["aggregates"]) == (2, 10, 1)
    assert second.body["content_sha256"] == file_sha256(second.events_path)
    assert [r["position"] for r in read_records(first)] == [1, 5, 9, 13, 17, 21, 25, 29, 33, 37]
    result = verify_archives(tmp_path, chain, second.sha256)
    assert (result.intact, result.files, result.events) == (True, 2, 20)


def rewrite_events(manifest: Manifest, old: bytes, new: bytes, fix_hash: bool) -> None:
    path = manifest.events_path
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()).replace(old, new, 1)))
    if fix_hash:  # the tamperer also fixes the manifest's hash of the content
        body = {**manifest.body, "content_sha256": file_sha256(path)}
        manifest.path.write_text(json.dumps(body, indent=1, sort_keys=True) + "\n")


def test_an_edited_event_is_named_whether_or_not_its_manifest_was_fixed(
    tmp_path: Path, log: list[Notification]
) -> None:
    chain = ListChain(log)
    manifest = archive(tmp_path, log, chain, {log[0].originator_id})
    rewrite_events(manifest, b'"originator_version":2', b'"originator_version":7', False)
    problems = verify_archives(tmp_path, chain).problems
    assert [(p.file, p.reason) for p in problems] == [
        ("000001.jsonl.gz", "its sha256 differs from the manifest's")
    ]
    rewrite_events(manifest, b"", b"", True)
    problems = verify_archives(tmp_path, chain).problems
    assert [(p.file, p.reason) for p in problems] == [
        ("000001.jsonl.gz", "the event at position 5 is not the one chained")
    ]


def test_a_removed_or_replaced_file_breaks_the_manifest_chain(
    tmp_path: Path, log: list[Notification]
) -> None:
    chain = ListChain(log)
    first = archive(tmp_path, log, chain, {log[0].originator_id})
    second = archive(tmp_path, log, chain, {log[1].originator_id})
    first.path.write_text(first.path.read_text().replace('"exported_at": "now"', '"x": 1'))
    reasons = {(p.file, p.reason) for p in verify_archives(tmp_path, chain).problems}
    assert (second.path.name, "its previous_sha256 is not the previous manifest's hash") in reasons
    second.path.unlink()
    check = verify_archives(tmp_path, chain, second.sha256)
    assert [p.file for p in check.problems] == [first.path.name]


def test_the_merged_log_gives_back_every_position_for_the_audit_check(
    tmp_path: Path, log: list[Notification]
) -> None:
    chain = ListChain(log)
    gone = {log[0].originator_id, log[2].originator_id}
    archive(tmp_path, log, chain, gone)
    live = ListLog([n for n in log if n.originator_id not in gone])
    assert verify_chain(live, chain).broken is not None
    merged = ArchivedLog(live, tmp_path)
    result = verify_chain(merged, chain, batch_size=3)
    assert (result.broken, result.verified) == (None, 40)
    again = merged.select_notifications(10, 5)
    assert [n.id for n in again] == [10, 11, 12, 13, 14]
