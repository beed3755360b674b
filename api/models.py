"""Request and response bodies of the HTTP API; their field descriptions are the OpenAPI documentation."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from rag import MAX_QUESTION_CHARS, MAX_TOP_K, MODES, Engine

# The characters str.strip() removes (the engine's test for an empty question), spelled out: `\s` means
# something else in each regex dialect that reads these patterns (ECMA for clients and schema fuzzers,
# Rust for pydantic).
_SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
HAS_TEXT = f"[^{_SPACE}]"
QUESTION_PATTERN = f"[^{_SPACE}\\x00]"  # the engine also drops NUL before searching
# An http(s) URL whose host any URL parser reads the same way (ASCII name, optional port).
URL_PATTERN = f"^https?://[A-Za-z0-9.-]+(?::[0-9]{{1,5}})?(?:[/?#][^{_SPACE}]*)?$"
MAX_TURNS = 50
MAX_DOCUMENTS_PER_REQUEST = 100
DOC_ID_PATTERN = r"^[0-9a-f]{16}$"
# What a value failing each pattern lacks, in words: pydantic's own message quotes the regex.
PATTERN_MESSAGES = {
    HAS_TEXT: "must contain text",
    QUESTION_PATTERN: "must contain text",
    URL_PATTERN: "must be an http or https URL with an ASCII host name",
    DOC_ID_PATTERN: "must be a document id: 16 hexadecimal digits",
}

Mode = Literal[MODES]  # type: ignore[valid-type]


def scrub(value: Any) -> Any:
    """``value`` with lone UTF-16 surrogates (from JSON escapes like "\\ud800") replaced by U+FFFD.

    Python's JSON parser lets them through, and they cannot be encoded as UTF-8: left in, they would
    fail when stored or sent back, as a 500.
    """
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [scrub(item) for item in value]
    if isinstance(value, dict):
        return {scrub(key): scrub(item) for key, item in value.items()}
    return value


# Pydantic's lax mode takes more than the schema says (the date 0 as 1970-01-01, the integer "5"), and its
# strict mode less (no date from a JSON string): these accept exactly what the schema allows.
def _iso_date(value: Any) -> Any:
    if not (isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)):
        raise ValueError("must be a date as YYYY-MM-DD")
    return value


def _json_integer(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):  # 5.0 is a JSON integer; "5" is not
        raise ValueError("must be an integer")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
JsonInt = Annotated[int, BeforeValidator(_json_integer)]


class StrictIn(BaseModel):
    """Input that refuses fields it does not define: a misspelt option ("topk") would otherwise be ignored
    without a word, and the client would never learn that it asked something else."""

    model_config = ConfigDict(extra="forbid")


class RequestBody(StrictIn):
    """A top-level request body: strings scrubbed of lone surrogates before validation."""

    @model_validator(mode="before")
    @classmethod
    def _scrub(cls, data: Any) -> Any:
        return scrub(data)


class FiltersIn(StrictIn):
    source: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, max_length=50,
        description="Only passages from these sources (case-insensitive exact names, e.g. 'The White House').",
    )
    published_from: IsoDate | None = Field(None, description="Only documents published on or after this date.")
    published_to: IsoDate | None = Field(None, description="Only documents published on or before this date.")

    @field_validator("published_to")
    @classmethod
    def _not_before_from(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        # An inverted range matches nothing: almost surely the two dates swapped, not a question to answer.
        start = info.data.get("published_from")
        if value and start and value < start:
            raise PydanticCustomError("date_range", "must not be before published_from ({start})",
                                      {"start": start.isoformat()})
        return value


class TurnIn(StrictIn):
    role: Literal["user", "assistant"] = Field(..., description="Who said it; only the user's turns set the topic.")
    text: str = Field(..., max_length=20_000, description="What was said.")


class AskIn(RequestBody):
    question: str = Field(
        ..., min_length=1, max_length=MAX_QUESTION_CHARS, pattern=QUESTION_PATTERN,
        description="The question, in plain words.", examples=["Why does Russia object to NATO expansion?"],
    )
    top_k: JsonInt = Field(5, ge=1, le=MAX_TOP_K, description="How many passages at most.")
    mode: Mode = Field("hybrid", description="Retrieval: dense vectors, BM25 words, or both fused; rerank: both "
                                             "fused, then the best 20 reread token by token (hundreds of "
                                             "milliseconds slower; better on long briefings only).")
    filters: FiltersIn | None = Field(None, description="Restrict the passages to some sources or dates.")
    group_by: Literal["source"] | None = Field(
        None, description="'source': each source's best passages (see `groups` and `not_addressed`)."
    )
    per_group: JsonInt = Field(2, ge=1, le=MAX_TOP_K, description="Passages per source, with group_by.")
    conversation: list[TurnIn] = Field(
        default_factory=list, max_length=MAX_TURNS,
        description="The turns before this question, oldest first. A short follow-up ('and what about "
        "Kazakhstan?') is searched together with the previous user question; `searched` says what was searched.",
    )


class PassageOut(BaseModel):
    rank: int = Field(..., description="1 for the best passage.")
    citation: str = Field(..., description="How to cite it in an answer, e.g. '[1]'.")
    doc_id: str = Field(..., description="The document it comes from (GET /v1/documents/{doc_id}).")
    chunk_id: str = Field(..., description="'{doc_id}:{chunk index}'.")
    title: str = Field(..., description="The document's title; may be empty.")
    source: str = Field(..., description="Who published it; may be empty.")
    url: str = Field(..., description="Where it was published; may be empty.")
    published: str = Field(..., description="Publication date (YYYY-MM-DD); empty when unknown.")
    text: str = Field(..., description="The passage, verbatim: the document's text[char_start:char_end], "
                                       "its Markdown and line wraps included. Show `display_text`.")
    sentence: str = Field(..., description="The sentence of the passage that answers best, verbatim: the "
                                           "document's text[sentence_start:sentence_end]. Show `display_sentence`.")
    sentence_start: int = Field(..., description="Offset of that sentence in the document's text.")
    sentence_end: int = Field(..., description="End offset of that sentence in the document's text.")
    speaker: str = Field(..., description="Who says that sentence, where the text labels it (transcripts); else empty.")
    char_start: int = Field(..., description="Offset of the passage in the document's text (in code points).")
    char_end: int = Field(..., description="End offset of the passage in the document's text.")
    score: float = Field(..., description="The retrieval mode's ranking score (fused normalised scores, cosine "
                                          "or BM25).")
    similarity: float = Field(..., description="Cosine similarity of question and passage, comparable across modes.")
    display_text: str = Field(..., description="The passage as a reader should see it: `text` with its Markdown "
                                               "read (emphasis, escapes, links, headings) and wrapped lines joined; "
                                               "blank lines stay paragraph breaks.")
    display_sentence: str = Field(..., description="The answering sentence as shown: the part of `display_text` "
                                                   "its characters became (a heading before it left out).")


class SourceGroupOut(BaseModel):
    source: str = Field(..., description="The publisher; empty for documents whose publisher is not known.")
    citations: list[str] = Field(..., description="Its passages, by citation.")
    published_from: str = Field(..., description="The oldest publication date among them.")
    published_to: str = Field(..., description="The newest publication date among them.")


class AnswerOut(BaseModel):
    question: str = Field(..., description="The question as asked.")
    searched: str = Field(..., description="What was searched: the question, resolved against the conversation.")
    mode: Mode = Field(..., description="The retrieval mode used.")
    top_k: int = Field(..., description="The number of passages asked for; not applied with group_by, where "
                                        "`per_group` is.")
    abstained: bool = Field(..., description="True when nothing in the sources answers; `passages` is then empty.")
    passages: list[PassageOut] = Field(..., description="The passages that answer, best first.")
    took_ms: float = Field(..., description="Time the engine took, in milliseconds.")
    as_of: str = Field(..., description="The newest publication date among the passages (YYYY-MM-DD), or empty.")
    group_by: str = Field(..., description="'source' when the passages are grouped by source, else empty.")
    groups: list[SourceGroupOut] = Field(..., description="With group_by: each source's passages, best source first.")
    not_addressed: list[str] = Field(..., description="With group_by: sources with nothing that answers.")
    note: str = Field("", description="What the reader should know: why nothing answers (the question asks about "
                                      "months after the newest source), or a name no source mentions.")
    per_group: int = Field(0, description="With group_by: the most passages each source that addresses the question "
                                          "gives; 0 without grouping.")
    returned: int = Field(0, description="How many passages `passages` holds: at most `top_k`, or with group_by at "
                                         "most `per_group` per group.")
    partial: bool = Field(False, description="True when some shards of the index did not answer (a shard restarting "
                                             "on a cluster): the passages come from the others.")
    unavailable: list[str] = Field([], description="With partial: the shards that did not answer.")


class DocumentIn(StrictIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "text": "Russia's deputy foreign minister said the talks had reached a dead end.",
        "title": "Talks in Geneva", "source": "Example News", "url": "https://example.org/geneva",
        "published": "2022-01-13",
    }]})

    text: str = Field(..., pattern=HAS_TEXT, description="The full text, as it should be quoted.")
    title: str = Field("", max_length=1000, description="Title.")
    source: str = Field("", max_length=200, description="Publisher; when empty, named from the URL's host if known.")
    url: str | None = Field(
        None, max_length=2000, pattern=URL_PATTERN,
        description="Where it was published (http or https). A document with the URL of an indexed one replaces it.",
    )
    published: IsoDate | None = Field(None, description="Publication date.")
    author: str = Field("", max_length=500, description="Author.")
    language: str = Field("", max_length=35, description="Language tag, e.g. 'en'.")
    extra: dict[str, Any] = Field(default_factory=dict, description="Any other fields, kept verbatim.")


class DocumentsIn(RequestBody):
    documents: list[DocumentIn] = Field(
        ..., min_length=1, max_length=MAX_DOCUMENTS_PER_REQUEST,
        description="Documents to add; each is chunked, embedded and searchable when the call returns.",
    )


class DocumentMetaOut(BaseModel):
    doc_id: str = Field(..., description="The document's id: a hash of its normalised text.")
    title: str
    source: str
    url: str
    published: str = Field(..., description="YYYY-MM-DD, or empty when unknown.")
    author: str
    language: str


class DocumentSummaryOut(DocumentMetaOut):
    chars: int = Field(..., description="Length of the text, in characters.")
    chunks: int = Field(..., description="How many passages the text was cut into.")


class DocumentPageOut(BaseModel):
    total: int = Field(..., description="How many documents the index holds.")
    offset: int
    limit: int
    documents: list[DocumentSummaryOut] = Field(..., description="This page, in index order.")


class DocumentOut(DocumentMetaOut):
    extra: dict[str, Any] = Field(..., description="Other fields the source gave, verbatim.")
    text: str = Field(..., description="The full text; passages' offsets index into it.")


class SourceCountOut(BaseModel):
    source: str = Field(..., description="The publisher; empty for documents whose publisher is not known.")
    documents: int = Field(..., description="How many of the index's documents it published.")
    chunks: int = Field(..., description="How many passages those documents were cut into.")


class IndexOut(BaseModel):
    generation: str = Field(..., description="The index state being served (its manifest; one per shard, joined by +).")
    documents: int
    chunks: int
    sources: list[SourceCountOut] = Field(..., description="Documents and chunks per source, by source name.")

    @classmethod
    def of(cls, engine: Engine, **more: Any) -> Self:
        stats = engine.store.stats()  # once: a reload meanwhile must not mix two states' figures
        return cls(generation=stats.version, documents=stats.documents, chunks=stats.chunks,
                   sources=[asdict(count) for count in stats.sources], **more)


class AddedOut(BaseModel):
    doc_ids: list[str] = Field(..., description="The ids of the documents sent, in order.")
    embedded: int = Field(..., description="Passages embedded by this call; unchanged ones keep their vectors.")
    index: IndexOut = Field(..., description="The index now served, with the documents in it.")


class ReadyOut(IndexOut):
    status: Literal["ready", "degraded"] = Field(
        ..., description="`degraded` while a damaged file keeps the service on an older or already loaded state.")
    model: str = Field(..., description="The embedding model loaded.")
    problem: str | None = Field(None, description="What is damaged and what is served meanwhile; null when all is well.")


class ErrorOut(BaseModel):
    detail: str = Field(..., description="What went wrong, for a person to read.")
