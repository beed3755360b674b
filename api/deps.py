"""What the routes share: the engine (opened, and switched to new index generations, in the background) and auth."""

from __future__ import annotations

import hmac
import logging
import math
import threading
import time
from typing import Annotated

import anyio
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits import parse_many
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from rag import Engine, RagError
from rag.embedding import Embedder
from rag.index import embedder_for

from .settings import ApiSettings

log = logging.getLogger(__name__)


class EngineSlot:
    """The engine requests use. It may be empty (no index built yet) until a refresh finds one.

    Requests take ``slot.engine`` once and keep that generation for their whole run; ``Engine.reload``
    swaps generations atomically, so readers never see a half-built index.
    """

    def __init__(self, settings: ApiSettings, engine: Engine | None = None, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.embedder = engine.embedder if engine else embedder
        self.problem: str | None = None  # why no index is loaded (None once one is)
        self._logged: str | None = None
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Load the model if needed, open the index if none is open, else switch to its newest generation."""
        with self._lock:
            try:
                if self.embedder is None:
                    self.embedder = embedder_for(self.settings.index_dir, self.settings)
                if self.engine is None:
                    self.engine = Engine.open(self.settings.index_dir, settings=self.settings, embedder=self.embedder)
                elif self.engine.reload():
                    log.info("now serving index %s", self.engine.store.stats().version)
                self.problem = None
            except RagError as exc:  # keep serving what is loaded; /readyz says when nothing is
                self.problem = str(exc)
            self._log_problem()

    def verify(self) -> None:
        """Check the served index's files on disk again (Engine.verify)."""
        if self.engine is not None:
            self.engine.verify()
            self._log_problem()

    def _log_problem(self) -> None:
        # Once per problem, not on every poll: a damaged index stays damaged until someone rebuilds it.
        problem = self.problem or (self.engine.problem if self.engine else None)
        if problem != self._logged:
            if problem:
                log.warning("index: %s", problem)
            elif self._logged:
                log.info("index: intact again, serving %s", self.engine.store.stats().version if self.engine else "-")
            self._logged = problem

    async def watch(self) -> None:
        """Refresh every ``index_poll_seconds``, so a `rag index` run by another process gets served, and
        check the served files every ``verify_seconds``."""
        checked = time.monotonic()
        while True:
            await anyio.sleep(self.settings.index_poll_seconds)
            try:
                await anyio.to_thread.run_sync(self.refresh)
                if time.monotonic() - checked >= self.settings.verify_seconds:
                    checked = time.monotonic()
                    await anyio.to_thread.run_sync(self.verify)
            except Exception:  # the next poll may do better; a dead watcher would never switch again
                log.exception("index refresh failed")


# The dependencies that only read app state are async: FastAPI runs a plain `def` dependency in its thread
# pool, a hop that costs more than the read.
async def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


async def get_engine(request: Request) -> Engine:
    engine = request.app.state.slot.engine
    if engine is None:
        raise HTTPException(503, "no index is loaded yet")
    return engine


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]

_bearer = HTTPBearer(auto_error=False, description="One of the keys in the RAG_API_KEYS setting.")


def require_key(settings: SettingsDep,
                credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]) -> None:
    """401 without a bearer key, 403 with one that is not configured (or when none is)."""
    if credentials is None:
        raise HTTPException(401, "an API key is required: Authorization: Bearer <key>",
                            headers={"WWW-Authenticate": "Bearer"})
    given = credentials.credentials.encode()
    # compare_digest on every key: how long a wrong key takes to refuse says nothing about the right ones.
    if not any([hmac.compare_digest(given, key.get_secret_value().encode()) for key in settings.api_keys]):
        raise HTTPException(403, "this API key is not allowed")


class RateLimit:
    """A per-client request budget for the /v1 routes, counted by `limits` (the library under slowapi).

    slowapi's own middleware cannot be used: with FastAPI >= 0.137 it silently skips every route added
    with ``include_router`` (laurentS/slowapi#281), so it would limit nothing here.
    """

    def __init__(self, spec: str, storage_uri: str) -> None:
        self.limits = parse_many(spec)
        # limits' asyncio storage of the same kind: counting on the event loop spares every request a
        # hop to the thread pool and back, and the memory storage a timer thread.
        scheme = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
        self.window = MovingWindowRateLimiter(storage_from_string(scheme))

    async def __call__(self, request: Request) -> None:
        client = request.client.host if request.client else "unknown"
        for limit in self.limits:
            if not await self.window.hit(limit, client):
                wait = (await self.window.get_window_stats(limit, client)).reset_time - time.time()
                raise HTTPException(429, f"too many requests: at most {limit}",
                                    headers={"Retry-After": str(max(1, math.ceil(wait)))})
