"""JSON answers built without a response model, serialised with orjson.

Routes with a response model are serialised by pydantic-core straight to bytes (FastAPI's
own fast path, which a custom default response class would switch off); this covers the rest:
errors, /health and plain dicts.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class OrjsonResponse(JSONResponse):
    """A JSONResponse whose body orjson writes (same shapes; compact, UTF-8)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
