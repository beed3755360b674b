"""Requests beyond ``RAG_MAX_IN_FLIGHT`` at once are refused with 503 and ``Retry-After`` at once, instead of
queueing without bound: under overload every queued request would wait longer than a client waits, and
the work done for it would be wasted. Probes and metrics are not counted, so an orchestrator still sees
the process alive while it sheds load."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

EXEMPT = ("/healthz", "/readyz", "/metrics")


class MaxInFlight:
    """ASGI middleware: at most ``limit`` requests are handled at once; the next are told to come back."""

    def __init__(self, app: ASGIApp, limit: int, retry_after_s: int = 1) -> None:
        self.app = app
        self.limit = limit
        self.retry_after = str(retry_after_s)
        self.in_flight = 0  # only touched on the event loop, so no lock is needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            response = JSONResponse({"detail": f"the service is at capacity ({self.limit} requests at once): "
                                               "try again shortly"}, status_code=503,
                                    headers={"Retry-After": self.retry_after})
            await response(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
