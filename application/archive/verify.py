"""`archive verify`: the files' chain, their content hashes, each event against the audit chain."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from application.archive.files import (
    GENESIS_SHA256,
    ArchiveFormatError,
    Manifest,
    file_sha256,
    read_manifests,
    read_records,
    recomputed_digest,
)
from application.audit import BATCH_SIZE, ChainStore, read_links


@dataclass(frozen=True)
class ArchiveProblem:
    """One file that fails a check, and what is wrong with it."""

    file: str
    reason: str


@dataclass
class ArchiveCheck:
    """What a verification of an archive directory found."""

    files: int = 0
    events: int = 0
    problems: list[ArchiveProblem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        """Every file passed every check."""
        return not self.problems


def verify_archives(
    directory: Path, chain: ChainStore, last_sha256: str | None = None
) -> ArchiveCheck:
    """Check every file; `last_sha256` (from the log's last ArchiveExported) pins the newest."""
    result = ArchiveCheck()
    try:
        manifests = read_manifests(directory)
    except ArchiveFormatError as error:
        result.problems.append(ArchiveProblem(str(directory), str(error)))
        return result
    previous = GENESIS_SHA256
    for expected, manifest in enumerate(manifests, start=1):
        result.files += 1
        name = manifest.path.name
        if manifest.sequence != expected:
            result.problems.append(ArchiveProblem(name, f"expected file number {expected}"))
        if manifest.body.get("previous_sha256") != previous:
            result.problems.append(
                ArchiveProblem(name, "its previous_sha256 is not the previous manifest's hash")
            )
        previous = manifest.sha256
        result.events += _check_file(manifest, chain, result.problems)
    if last_sha256 and manifests and manifests[-1].sha256 != last_sha256:
        result.problems.append(
            ArchiveProblem(
                manifests[-1].path.name,
                "the newest manifest is not the one the log's last Retention.ArchiveExported names",
            )
        )
    return result


def _check_file(manifest: Manifest, chain: ChainStore, problems: list[ArchiveProblem]) -> int:
    name = manifest.events_path.name
    if not manifest.events_path.is_file():
        problems.append(ArchiveProblem(name, "the events file is missing"))
        return 0
    if file_sha256(manifest.events_path) != manifest.body.get("content_sha256"):
        problems.append(ArchiveProblem(name, "its sha256 differs from the manifest's"))
        return 0
    first = int(manifest.body.get("first_position") or 1)
    last = int(manifest.body.get("last_position") or 0)
    links = read_links(chain, first - 1, last, BATCH_SIZE)
    link = next(links, None)
    count = 0
    try:
        for record in read_records(manifest):
            count += 1
            position = int(record["position"])
            digest = recomputed_digest(record)
            while link is not None and link.position < position:
                link = next(links, None)
            if link is None or link.position != position:
                problems.append(ArchiveProblem(name, f"position {position} is not chained"))
                return count
            if digest.hex() != record["digest"] or digest != link.event_digest:
                problems.append(
                    ArchiveProblem(name, f"the event at position {position} is not the one chained")
                )
                return count
            if link.hash.hex() != record["hash"]:
                problems.append(ArchiveProblem(name, f"the hash at position {position} differs"))
                return count
    except ArchiveFormatError as error:
        problems.append(ArchiveProblem(name, str(error)))
        return count
    if count != manifest.body.get("events"):
        problems.append(
            ArchiveProblem(name, f"it holds {count} events, the manifest says otherwise")
        )
    return count
