"""The question-answering tools for AI assistants, over the Model Context Protocol: `ask` and `get_document`.

The tools answer exactly what `POST /v1/ask` and `GET /v1/documents/{id}` answer (they call the same route
functions), so an assistant cites the same passages, with the same offsets, as the HTTP API. Two transports:
stdio for an assistant that launches `rag mcp --index DIR`, and streamable HTTP at `/mcp` on the HTTP
service (`mount_mcp`, called by `api.main.create_app`), over the app's engine.

>>> server = create_mcp_server(lambda: Engine.open("index"))
>>> server.run("stdio")
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated, Callable, Literal

import click
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.types import ToolAnnotations
from pydantic import Field, ValidationError
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from rag import MAX_QUESTION_CHARS, MAX_TOP_K, Engine, RagError

from .deps import RateLimit, require_key
from .models import DOC_ID_PATTERN, PATTERN_MESSAGES, QUESTION_PATTERN, AnswerOut, AskIn, DocumentOut, FiltersIn, Mode
from .routes import ask as ask_route
from .routes import documents as documents_route
from .settings import ApiSettings

MCP_PATH = "/mcp"

INSTRUCTIONS = """Cited, verbatim passages from news articles and official statements about geopolitical crises.
Call `ask` with a question; quote the passages' `text` or `sentence` and cite them by their `citation`,
`title`, `source`, `published` and `url`. When `abstained` is true the sources do not answer: say so.
`get_document` returns a cited document's full text: `text[char_start:char_end]` is the passage."""


class _Server(MCPServer):
    """Argument errors told as the HTTP API tells them ("doc_id: must be a document id: 16 hexadecimal
    digits"), not as pydantic's report with its documentation links; an argument the tool does not define
    ("topk") is refused, as over HTTP, rather than ignored without a word."""

    async def call_tool(self, name, arguments, context=None):
        schema = next((tool.input_schema for tool in await self.list_tools() if tool.name == name), None)
        if schema is not None and (unknown := sorted(set(arguments) - set(schema["properties"]))):
            raise ToolError(f"invalid arguments: {', '.join(unknown)}: not an argument of {name} (it takes "
                            f"{', '.join(schema['properties'])})")
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if isinstance(exc, UnexpectedToolError) or not isinstance(exc.__cause__, ValidationError):
                raise
            raise ToolError(f"invalid arguments: {_describe(exc.__cause__)}") from exc.__cause__


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False):
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "string_pattern_mismatch":
            message = PATTERN_MESSAGES.get(item["ctx"]["pattern"], message)
        problems.append(f"{'.'.join(map(str, item['loc'])) or 'arguments'}: {message}")
    return "; ".join(problems)


def create_mcp_server(get_engine: Callable[[], Engine | None]) -> MCPServer:
    """An MCP server with the `ask` and `get_document` tools over the engine ``get_engine()`` returns when
    a tool is called (None while no index is loaded yet: the tool then says so)."""
    # WARNING: the SDK sets up the root logger (when nothing has) at this level; INFO would log every call.
    server = _Server("crisis-rag", title="Crisis sources Q&A", instructions=INSTRUCTIONS, log_level="WARNING")
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    def engine() -> Engine:
        current = get_engine()
        if current is None:
            raise ToolError("no index is loaded yet: build one with `rag index`")
        return current

    @server.tool(annotations=read_only)
    def ask(
        question: Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS, pattern=QUESTION_PATTERN,
                                       description="The question, in plain words.")],
        filters: Annotated[FiltersIn | None, Field(
            description="Restrict the passages to some sources (exact names, e.g. 'The White House') or to "
                        "documents published in a date range (YYYY-MM-DD).")] = None,
        group_by: Annotated[Literal["source"] | None, Field(
            description="'source': each source's own best passages, so every side is heard (see `groups` and "
                        "`not_addressed`).")] = None,
        top_k: Annotated[int, Field(ge=1, le=MAX_TOP_K, description="How many passages at most.")] = 5,
        mode: Annotated[Mode, Field(description="Retrieval: hybrid (the default), dense, bm25, or rerank "
                                                "(slower; better on long briefings only).")] = "hybrid",
    ) -> AnswerOut:
        """The passages of the sources that answer the question, best first: each verbatim, with its citation
        (title, source, date, URL), the sentence that answers best, and its character offsets in the document.
        `abstained` is true, and `passages` empty, when the sources do not answer."""
        body = AskIn.model_construct(question=question, top_k=top_k, mode=mode, filters=filters,
                                     group_by=group_by, per_group=2, conversation=[])  # validated by the SDK
        return _as_tool(lambda: ask_route.answer(engine(), body, ("body", {})))

    @server.tool(annotations=read_only)
    def get_document(
        doc_id: Annotated[str, Field(pattern=DOC_ID_PATTERN,
                                     description="A document id (16 hex digits), as a passage's `doc_id` gives it.")],
    ) -> DocumentOut:
        """A document's metadata (title, source, url, published, author, language, other fields) and full text;
        a passage's `char_start`/`char_end` and `sentence_start`/`sentence_end` index into `text`."""
        return _as_tool(lambda: documents_route.get_document(doc_id, engine()))

    return server


def _as_tool(call: Callable[[], object]):
    """Run a route function, turning its HTTP refusals into tool errors with the same messages."""
    try:
        return call()
    except RequestValidationError as exc:  # the engine's complaints, placed like ("body", "filters", "source")
        raise ToolError("; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in exc.errors())) from None
    except HTTPException as exc:
        raise ToolError(str(exc.detail)) from None
    except RagError:  # details are for the server's log, as over HTTP
        raise ToolError("the index cannot answer right now") from None


# --- streamable HTTP, on the HTTP service -----------------------------------------------------------------

def mount_mcp(app: FastAPI, settings: ApiSettings) -> StreamableHTTPSessionManager:
    """Serve the tools at ``/mcp`` on ``app``, over its engine (``app.state.slot``), with the same read key
    and rate limit as the /v1 routes. Returns the session manager, which the app's lifespan must run."""
    server = create_mcp_server(lambda: app.state.slot.engine)
    # The SDK turns on DNS-rebinding protection (Host and Origin headers checked) for a loopback host.
    mcp_app = server.streamable_http_app(streamable_http_path=MCP_PATH, host=settings.host)
    # A route, not a mount: a mount would answer /mcp with a redirect to /mcp/. Not in the OpenAPI schema:
    # it is a JSON-RPC endpoint, described by the tools' own schemas.
    app.router.routes.append(Route(MCP_PATH, _Guard(mcp_app, settings), include_in_schema=False))
    return server.session_manager


class _Guard:
    """The /v1 routes' checks (rate limit, and the read key when `RAG_READ_AUTH` is set) before the MCP app."""

    def __init__(self, app: ASGIApp, settings: ApiSettings) -> None:
        self.app = app
        self.settings = settings
        self.rate_limit = RateLimit(settings.rate_limit, settings.rate_limit_storage)
        self.bearer = HTTPBearer(auto_error=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            await self.rate_limit(request)
            if self.settings.read_auth:
                require_key(self.settings, await self.bearer(request))
        except HTTPException as exc:
            await JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)(scope, receive, send)
            return
        await self.app(scope, receive, send)


# --- stdio: `rag mcp` -------------------------------------------------------------------------------------

@click.command("mcp")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), default=None,
              help="Index directory [default: RAG_INDEX_DIR, or ./index].")
def mcp_command(index_dir: Path | None) -> None:
    """Serve the `ask` and `get_document` tools to an AI assistant over MCP (stdio).

    The assistant launches this command; configure it with command `rag` and args `mcp --index DIR`.
    New index states written meanwhile (`rag index`, the HTTP API) are picked up before each call.

    \b
      rag mcp --index index/
    """
    # Opened before serving, so a missing index is an error here, not in every call; anything a library
    # prints meanwhile goes to stderr: stdout carries the protocol (the SDK diverts it once serving).
    with contextlib.redirect_stdout(sys.stderr):
        engine = Engine.open(index_dir)

    def current() -> Engine:
        engine.reload()  # cheap when nothing changed: one read of CURRENT
        return engine

    create_mcp_server(current).run("stdio")


__all__ = ["MCP_PATH", "create_mcp_server", "mcp_command", "mount_mcp"]
