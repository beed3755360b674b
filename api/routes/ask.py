"""Asking: `POST /v1/ask` (JSON), `GET /v1/ask?q=` (simple clients) and `POST /v1/ask/stream` (Server-Sent Events)."""

from __future__ import annotations

from typing import Annotated, Iterator

from fastapi import APIRouter, Depends, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent

from rag import MAX_QUESTION_CHARS, MAX_TOP_K, BadQuery, Engine, Filters
from rag.conversation import Turn, resolve_question

from ..deps import EngineDep
from ..errors import field_error, responses
from ..models import QUESTION_PATTERN, AnswerOut, AskIn, FiltersIn, Mode

router = APIRouter(prefix="/v1", tags=["ask"])


FILTER_FIELDS = ("source", "published_from", "published_to")


def answer(engine: Engine, body: AskIn, where: tuple[str, dict[str, str]]) -> AnswerOut:
    """Resolve a follow-up, ask the engine, and say what was searched.

    ``where`` places the engine's complaints: ("body", {}) or ("query", {"question": "q"}).
    """
    searched = resolve_question(body.question, [Turn(t.role, t.text) for t in body.conversation], engine.name_rarity)
    filters = body.filters or FiltersIn()
    try:
        result = engine.ask(searched, body.top_k, body.mode,
                            Filters(tuple(filters.source), filters.published_from, filters.published_to),
                            group_by=body.group_by, per_group=body.per_group)
    except BadQuery as exc:  # its message starts with the field's name
        field, _, message = str(exc).partition(": ")
        location, renamed = where
        place = ("filters", field) if field in FILTER_FIELDS else (renamed.get(field, field),)
        raise field_error((location, *place), message) from None
    return AnswerOut(**{**result.to_dict(), "question": body.question, "searched": result.question})


def answer_body(body: AskIn, engine: EngineDep) -> AnswerOut:
    # A dependency, so the engine has answered (or refused with a 422) before a stream starts.
    return answer(engine, body, ("body", {}))


@router.post("/ask", summary="Ask a question", responses=responses(400, 413, 415))
async def ask(result: Annotated[AnswerOut, Depends(answer_body)]) -> AnswerOut:  # async: no thread hop to return it
    """The passages that answer the question, best first, each with its citation and supporting sentence:
    the same JSON as `rag ask --json`, plus `searched`."""
    return result


@router.get("/ask", summary="Ask a question (query string)")
def ask_get(
    engine: EngineDep,
    q: Annotated[str, Query(min_length=1, max_length=MAX_QUESTION_CHARS, pattern=QUESTION_PATTERN,
                            description="The question.")],
    top_k: Annotated[int, Query(ge=1, le=MAX_TOP_K, description="How many passages at most.")] = 5,
    mode: Annotated[Mode, Query(description="Retrieval mode.")] = "hybrid",
) -> AnswerOut:
    """`POST /v1/ask` for clients that can only send a URL."""
    body = AskIn.model_construct(question=q, top_k=top_k, mode=mode)  # already validated, as query parameters
    return answer(engine, body, ("query", {"question": "q"}))


@router.post("/ask/stream", response_class=EventSourceResponse, summary="Ask, streaming passages",
             responses=responses(400, 413, 415))
def ask_stream(result: Annotated[AnswerOut, Depends(answer_body)]) -> Iterator[ServerSentEvent]:
    """Server-Sent Events: a `passage` event per passage (a `PassageOut`), best first, then an `answer`
    event with the whole result (an `AnswerOut`, passages included)."""
    for passage in result.passages:
        yield ServerSentEvent(event="passage", data=passage)
    yield ServerSentEvent(event="answer", data=result)
