"""Form posts: the urlencoded body, refused (403) without this session's CSRF token."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, HTTPException, Request
from fastapi.responses import RedirectResponse

from entrypoints.api.deps import SessionSealerDep
from entrypoints.web.session import Session

MAX_FORM_BYTES = 1_048_576  # the API's body limit applies too; this bounds the parsing


async def form_fields(request: Request, sealer: SessionSealerDep) -> dict[str, str]:
    """The posted fields (the last value of a repeated one), after the CSRF check."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HTTPException(status_code=413, detail=f"the form is over {MAX_FORM_BYTES} bytes")
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    fields = {name: values[-1] for name, values in parsed.items()}
    session: Session | None = getattr(request.state, "web_session", None)
    if not sealer.csrf_ok(session, fields.get("csrf")):
        raise HTTPException(
            status_code=403, detail="the form's CSRF token is missing or wrong: reload the page"
        )
    return fields


FormDep = Annotated[dict[str, str], Depends(form_fields)]


def back_to(path: str) -> RedirectResponse:
    """After a successful post: show the page again (post/redirect/get)."""
    return RedirectResponse(path, status_code=303)
