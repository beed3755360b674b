"""The shapes that cross the library's boundary: a question's filters, a cited passage, an answer."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

MODES = ("hybrid", "dense", "bm25", "rerank")  # rerank: hybrid, then its best reread token by token (slow)
GROUPINGS = (None, "", "source")


@dataclass(frozen=True)
class Filters:
    """Restrict answers to some sources and/or a published-date range (inclusive ISO dates)."""

    source: tuple[str, ...] = ()
    published_from: dt.date | None = None
    published_to: dt.date | None = None

    def __bool__(self) -> bool:
        return bool(self.source or self.published_from or self.published_to)


@dataclass(frozen=True)
class Passage:
    rank: int
    citation: str  # "[1]"
    doc_id: str
    chunk_id: str
    title: str
    source: str
    url: str
    published: str
    text: str  # verbatim: document.text[char_start:char_end], the source's Markdown and line wraps included
    sentence: str  # the sentence of the passage that answers best, verbatim: document.text[sentence_start:sentence_end]
    sentence_start: int  # offsets of that sentence in the document
    sentence_end: int
    speaker: str  # who says the sentence, where the text labels it (transcripts); else ""
    char_start: int
    char_end: int
    score: float  # the mode's ranking score (fused normalised scores, cosine or BM25)
    similarity: float  # cosine of question and passage, comparable across modes
    # What a reader is shown: rag.sentences.prose(text), Markdown read and wrapped lines joined; the
    # displayed sentence is the part of display_text that the sentence's characters became.
    display_text: str = ""
    display_sentence: str = ""


@dataclass(frozen=True)
class SourceGroup:
    """One source's part of a grouped answer: which passages (by citation) and the dates they span."""

    source: str  # "" for documents whose publisher is not known
    citations: list[str]
    published_from: str
    published_to: str


@dataclass(frozen=True)
class Answer:
    question: str
    mode: str
    top_k: int  # passages asked for; not applied with group_by (per_group is)
    abstained: bool  # true when nothing in the sources answers; passages is then empty
    passages: list[Passage] = field(default_factory=list)
    took_ms: float = 0.0
    as_of: str = ""  # newest published date among the cited passages
    group_by: str = ""  # "source" when passages are grouped by source
    groups: list[SourceGroup] = field(default_factory=list)
    not_addressed: list[str] = field(default_factory=list)  # sources with nothing that answers
    note: str = ""  # what the reader should know: why nothing answers, or a name no source mentions
    per_group: int = 0  # with group_by: the passages each addressing source could give; else 0
    returned: int = 0  # how many passages there are: at most top_k, or per_group per group with group_by
    partial: bool = False  # some shards did not answer: the passages come from the others
    unavailable: list[str] = field(default_factory=list)  # those shards ("shard-01"), when partial

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
