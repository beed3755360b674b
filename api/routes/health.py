"""Probes for orchestrators: `/healthz` (the process answers) and `/readyz` (model and index loaded)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from ..errors import responses
from ..models import ReadyOut

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
def healthz() -> dict[str, str]:
    """Always `{"status": "ok"}` while the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness", responses=responses(503))
def readyz(request: Request) -> ReadyOut:
    """200 once the model and an index are loaded, with the generation served and its documents and chunks,
    in all and per source; 503 before."""
    slot = request.app.state.slot
    if slot.engine is None:
        raise HTTPException(503, "no index is loaded yet")
    return ReadyOut.of(slot.engine, status="ready", model=slot.engine.embedder.name)
