"""Request bodies over ``RAG_MAX_BODY_BYTES`` are refused with 413 and a JSON body, like every other error.

FastAPI's own ``max_body_size`` answers a Content-Length over the limit in plain text, and from outside
the app's middleware: without the CORS headers that a widget on another site needs to read the refusal.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    """ASGI middleware: 413 for a body over ``max_bytes``, whether its Content-Length says so or it is
    counted as it arrives (a chunked upload declares no length)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.message = f"the body is larger than {max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await JSONResponse({"detail": self.message}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                # Raised where the endpoint reads its body, so the app's exception handling answers it.
                raise HTTPException(413, self.message)
            return message

        await self.app(scope, counted, send)
