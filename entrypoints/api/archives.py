"""The archive files over HTTP: what was exported, and a verification on demand."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException

from application.archive.files import ArchiveFormatError, manifest_summary, read_manifests
from application.archive.service import Archiving
from application.archive.verify import verify_archives
from entrypoints.api import providers
from entrypoints.api.json_response import OrjsonResponse
from entrypoints.api.namespace_scope import EVERY_NAMESPACE
from entrypoints.api.strict import StrictRoute

router = APIRouter(
    prefix="/api/system/archives",
    tags=["system"],
    route_class=StrictRoute,
    dependencies=EVERY_NAMESPACE,  # archives hold every namespace's runs
)
ArchivingDep = Annotated[Archiving, Depends(providers.get_archiving)]


@router.get("", response_class=OrjsonResponse)
def archives(archiving: ArchivingDep) -> dict[str, Any]:
    """The archive files (number, horizon, position range, counts, bytes, hashes), oldest
    first, the retention decisions recorded in the log, and the live event table's size."""
    try:
        files = [manifest_summary(m) for m in read_manifests(archiving.directory)]
    except ArchiveFormatError as error:
        raise HTTPException(status_code=409, detail=str(error)) from None
    retention = archiving.app.retention()
    return {
        "directory": str(archiving.directory),
        "files": files,
        "cutoff": retention.cutoff if retention else None,
        "archived_before": retention.archived_before if retention else None,
        "horizon": retention.horizon if retention else 0,
        "live_bytes": archiving.live.live_bytes(),
        "removes_archived_events": archiving.live.removes,
    }


@router.post("/verify", response_class=OrjsonResponse)
def verify(archiving: ArchivingDep) -> dict[str, Any]:
    """Check the files' chain, their sha256 and every archived event against the audit chain,
    as `scheduler archive verify` does: 200 with `intact` false and each failing file named."""
    retention = archiving.app.retention()
    result = verify_archives(
        archiving.directory, archiving.chain, retention.last_sha256 if retention else None
    )
    return {
        "intact": result.intact,
        "files": result.files,
        "events": result.events,
        "problems": [{"file": p.file, "reason": p.reason} for p in result.problems],
    }
