"""The FastAPI application: validation, routing and serialisation over `rag.Engine`; no retrieval logic."""

from __future__ import annotations

import datetime as dt
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from rag import MAX_QUESTION_CHARS, MAX_TOP_K, Engine, Filters, RagError
from rag.errors import BadQuery



class FiltersIn(BaseModel):
    source: list[str] = Field(default_factory=list, description="Only these sources.")
    published_from: dt.date | None = Field(None, description="Published on or after (YYYY-MM-DD).")
    published_to: dt.date | None = Field(None, description="Published on or before (YYYY-MM-DD).")


class AskIn(BaseModel):
    question: str = Field(..., min_length=1, max_length=MAX_QUESTION_CHARS, description="The question, in plain words.")
    top_k: int = Field(5, ge=1, le=MAX_TOP_K)
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"
    filters: FiltersIn | None = None


def create_app(index_dir: Path | None = None, engine: Engine | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.engine = engine or Engine.open(index_dir)
        yield

    app = FastAPI(title="Crisis sources Q&A", version="1", lifespan=lifespan)

    @app.exception_handler(BadQuery)
    async def bad_query(request: Request, exc: BadQuery) -> JSONResponse:
        field, _, message = str(exc).partition(": ")
        return JSONResponse({"detail": [{"loc": ["body", field], "msg": message}]}, status_code=422)

    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError) -> JSONResponse:
        return JSONResponse({"detail": "the index cannot answer right now"}, status_code=503)

    @app.post("/v1/ask")
    def ask(body: AskIn, request: Request) -> dict:
        filters = body.filters or FiltersIn()
        answer = request.app.state.engine.ask(
            body.question, body.top_k, body.mode,
            Filters(tuple(filters.source), filters.published_from, filters.published_to),
        )
        return answer.to_dict()

    @app.get("/v1/ask")
    def ask_get(request: Request, q: str = Query(..., min_length=1, max_length=MAX_QUESTION_CHARS), top_k: int = Query(5, ge=1, le=MAX_TOP_K)) -> dict:
        return request.app.state.engine.ask(q, top_k).to_dict()

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz(request: Request) -> dict:
        index = request.app.state.engine.index
        return {"status": "ready", "generation": index.generation.name,
                "documents": index.manifest["documents"], "chunks": index.manifest["chunks"]}

    return app
