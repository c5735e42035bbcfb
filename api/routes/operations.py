"""Operations: health."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import LedgerDep

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness and the ledger's head position")
def healthz(ledger: LedgerDep) -> dict:
    return {"status": "ok", "position": ledger.store.max_position()}
