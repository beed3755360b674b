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
    in all and per source; 503 before. `status` is `degraded`, and `problem` says why, while a damaged
    index file keeps the service on the last intact state (still answering from it)."""
    slot = request.app.state.slot
    engine = slot.engine
    if engine is None:
        raise HTTPException(503, f"no index is loaded yet: {slot.problem}" if slot.problem else "no index is loaded yet")
    problem = engine.problem
    return ReadyOut.of(engine, status="degraded" if problem else "ready", model=engine.embedder.name, problem=problem)
