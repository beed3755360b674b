"""Errors as HTTP responses, in one place: 422 naming the field, 415 for a body not sent as JSON, 503 for the
index, a generic 500.

Bodies never carry more of the input than a short prefix, nor paths or tracebacks: input may be
large or hostile, and internals are for the server's log.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from rag import DiskFull, RagError, WriteFailed

from .models import PATTERN_MESSAGES, ErrorOut, scrub

log = logging.getLogger(__name__)

INPUT_PREFIX = 40  # characters of an invalid value echoed back, enough to recognise it

_DESCRIPTIONS = {
    400: "The body is not UTF-8 JSON.",
    401: "No API key: send `Authorization: Bearer <key>`.",
    403: "The API key is not one of the configured keys.",
    404: "No such document.",
    413: "The body is larger than the configured limit.",
    415: "The body is not sent as JSON: send it with `Content-Type: application/json`.",
    429: "Too many requests from this client; `Retry-After` says when to try again.",
    500: "Internal error (details are in the server's log).",
    503: "No index is loaded yet, it cannot be read or written, or the service is at capacity; `Retry-After` says "
         "when to try again.",
    507: "The server's disk is full: nothing was stored.",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses an operation can return.

    The schema is inlined rather than given as ``model``: FastAPI would file a model under the operation's
    own media type (text/event-stream, text/plain), but error bodies are always JSON.
    """
    json_body = {"application/json": {"schema": ErrorOut.model_json_schema()}}
    return {code: {"description": _DESCRIPTIONS[code], "content": json_body} for code in codes}


def field_error(loc: tuple[str | int, ...], message: str) -> RequestValidationError:
    """A 422 about one field, in the same shape as FastAPI's own validation errors."""
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": message}])


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(405, _method_not_allowed)
    app.add_exception_handler(RagError, _index_unavailable)
    app.add_exception_handler(WriteFailed, _write_failed)
    app.add_exception_handler(Exception, _internal_error)


def _short(value: Any, limit: int) -> Any:
    if not isinstance(value, str):
        return value
    value = scrub(value)
    return value if len(value) <= limit else value[:limit] + "…"


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    # A form or text body is never parsed (FastAPI reads JSON only when the request says it is JSON), so
    # its fields would all be reported missing: say what to send instead.
    if _sent_as_other_than_json(request) and any(error["loc"][0] == "body" for error in exc.errors()):
        return JSONResponse({"detail": "the body must be JSON, sent with Content-Type: application/json"},
                            status_code=415)
    # FastAPI's default handler echoes each invalid value whole (`input`) and pydantic's `ctx`.
    detail = []
    for error in exc.errors():
        message = error["msg"]
        if error["type"] == "string_pattern_mismatch":
            message = PATTERN_MESSAGES.get(error["ctx"]["pattern"], message)
        item = {"type": error["type"], "loc": [_short(part, INPUT_PREFIX) for part in error["loc"]],
                "msg": _short(message, 300)}
        if isinstance(error.get("input"), str):
            item["input"] = _short(error["input"], INPUT_PREFIX)
        detail.append(item)
    return JSONResponse({"detail": detail}, status_code=422)


def _sent_as_other_than_json(request: Request) -> bool:
    # A request that declares no type stays a 422: it is usually a body left out, not one of another kind.
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    return bool(media) and media != "application/json" and not (media.startswith("application/")
                                                                 and media.endswith("+json"))


async def _method_not_allowed(request: Request, exc: HTTPException) -> JSONResponse:
    # Starlette's Allow names the methods of the first route with this path only (GET /v1/documents/{id},
    # not its DELETE); the schema knows them all.
    headers = dict(exc.headers or {})
    for template, operations in request.app.openapi()["paths"].items():
        if re.fullmatch("[^/]+".join(map(re.escape, re.split(r"\{[^}]+\}", template))), request.url.path):
            headers["Allow"] = ", ".join(sorted(method.upper() for method in operations))
    return JSONResponse({"detail": "method not allowed"}, status_code=405, headers=headers)


async def _write_failed(request: Request, exc: WriteFailed) -> JSONResponse:
    # The full message names server paths: it goes to the log; the client learns what happened to its write.
    log.error("write failed on %s: %s", request.url.path, exc)
    if isinstance(exc, DiskFull):
        return JSONResponse({"detail": "the server's disk is full: nothing was stored; try again once space is freed"},
                            status_code=507)
    return JSONResponse({"detail": "the index could not be written: nothing was stored"}, status_code=503,
                        headers={"Retry-After": "60"})


async def _index_unavailable(request: Request, exc: RagError) -> JSONResponse:
    log.error("index error on %s: %s", request.url.path, exc)
    return JSONResponse({"detail": "the index cannot answer right now"}, status_code=503)


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    # Starlette logs the traceback after this response is sent.
    return JSONResponse({"detail": "internal error"}, status_code=500)
