"""Who the presented key is: lets a client (the console) adapt to its role without probing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from api.auth import ROLE_INCLUDES, ApiKey, Role
from api.deps import authenticate
from api.routes import ERRORS

router = APIRouter(prefix="/v1", tags=["operations"], responses=ERRORS)


class WhoAmI(BaseModel):
    key_id: str
    name: str
    workspace_id: str
    role: Role
    grants: list[Role]


@router.get("/whoami", response_model=WhoAmI, summary="The presented key and what it may do")
def whoami(key: Annotated[ApiKey, Depends(authenticate)]) -> WhoAmI:
    return WhoAmI(
        key_id=key.id,
        name=key.name,
        workspace_id=key.workspace_id,
        role=key.role,
        grants=sorted(ROLE_INCLUDES[key.role]),
    )
