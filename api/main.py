"""The FastAPI application: validation, routing and serialisation over `rag.Engine`; no retrieval logic.

>>> app = create_app()   # serve with: uvicorn --factory api.main:create_app, or `rag serve`
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

import anyio
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import PlainTextResponse
from fastapi_offline import FastAPIOffline
from prometheus_client import CollectorRegistry, Gauge
from prometheus_fastapi_instrumentator import Instrumentator

from rag import Engine
from rag.embedding import Embedder

from . import errors
from .body_limit import BodyLimit
from .deps import EngineSlot, RateLimit, require_key
from .mcp_server import mount_mcp
from .overload import MaxInFlight
from .routes import ask, documents, health, widget
from .settings import ApiSettings, get_api_settings

DESCRIPTION = """Cited, verbatim passages from news and official statements that answer a question.

Reads are open unless `RAG_READ_AUTH` is set; writes need `Authorization: Bearer <key>` (`RAG_API_KEYS`).
"""


def create_app(settings: ApiSettings | None = None, *, engine: Engine | None = None,
               embedder: Embedder | None = None) -> FastAPI:
    """The app over ``engine``, or over the index at ``settings.index_dir`` (opened at start-up, and retried
    until one exists). ``embedder`` saves loading the model again when the caller has it."""
    settings = settings or get_api_settings()
    slot = EngineSlot(settings, engine, embedder)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(slot.refresh)  # before listening, so no request waits for the model
        async with mcp_sessions.run(), anyio.create_task_group() as tasks:
            tasks.start_soon(slot.watch)
            yield
            tasks.cancel_scope.cancel()

    # FastAPIOffline: /docs and /redoc load Swagger UI and ReDoc from files shipped in fastapi-offline, not
    # from a CDN, so the documentation shows on a machine without internet access.
    app = FastAPIOffline(title="Crisis sources Q&A", version="1", description=DESCRIPTION, lifespan=lifespan,
                         responses=errors.responses(500))  # any operation can fail unexpectedly
    app.state.settings = settings
    app.state.slot = slot
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)  # innermost, so metrics count its 413s
    app.add_middleware(MaxInFlight, limit=settings.max_in_flight)

    # Only the API is limited (probes, metrics and the widget's files are not). A read key is declared
    # only when enforced, so the schema says which operations need one.
    checks = [Depends(RateLimit(settings.rate_limit, settings.rate_limit_storage))]
    checks += [Depends(require_key)] if settings.read_auth else []
    refusals = errors.responses(*((401, 403) if settings.read_auth else ()), 429, 503)
    app.include_router(ask.router, dependencies=checks, responses=refusals)
    app.include_router(documents.router, dependencies=checks, responses=refusals)
    app.include_router(health.router)
    app.include_router(widget.router)
    mcp_sessions = mount_mcp(app, settings)  # the same tools for AI assistants, at /mcp (api/mcp_server.py)

    registry = CollectorRegistry()  # per app, so several apps (tests) can live in one process
    Gauge("rag_index_degraded", "1 while a damaged index file keeps the service on an older or already loaded "
          "state (/readyz says which), else 0.", registry=registry).set_function(
        lambda: float(bool(slot.problem and slot.engine or slot.engine and slot.engine.problem)))
    Instrumentator(registry=registry, excluded_handlers=["/metrics"]).instrument(app).expose(
        app, tags=["health"], response_class=PlainTextResponse, summary="Prometheus metrics",
        description="Request counts and latency histograms per route, in the Prometheus text format.")
    # Outermost, so refusals (413, 429) carry CORS headers too and the widget can show them.
    app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                       allow_credentials=settings.cors_allow_credentials,
                       allow_methods=["GET", "POST", "DELETE"], allow_headers=["Authorization", "Content-Type"])
    return app
