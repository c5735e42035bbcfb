"""The API's JSON answers, written by orjson.

Our own class rather than FastAPI's ``ORJSONResponse``: FastAPI deprecated that one (0.165),
and a fresh install takes the newest FastAPI our range allows, where it may be gone.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class OrjsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
