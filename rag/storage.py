"""The Store interface: what `Engine` asks of an index, whatever stands behind it (one local segmented index,
or shards of them).

A store is a consistent snapshot: the ids it hands out (int64 chunk ids, and sentence ids) mean something
only to the store that gave them, for as long as it is held. Searches take a `Scope` (sources, date
ranges) as a value and return `Hits` (ids and scores, best first, equal scores by id), never masks over a
global numbering, so a store may split its chunks however it likes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, Sequence

import numpy as np

from .documents import Document
from .models import Filters


class Hits(NamedTuple):
    ids: np.ndarray  # int64 chunk ids, best first
    scores: np.ndarray  # float32

    @classmethod
    def empty(cls) -> "Hits":
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))


def best_of(parts: Sequence[Hits], k: int) -> Hits:
    """The best ``k`` of several hit lists (each best first): by score, equal scores by id."""
    parts = [p for p in parts if len(p.ids)]
    if not parts:
        return Hits.empty()
    ids = np.concatenate([p.ids for p in parts])
    scores = np.concatenate([p.scores for p in parts])
    order = np.lexsort((ids, -scores))[:k]
    return Hits(ids[order], scores[order])


@dataclass(frozen=True)
class Scope:
    """Which chunks a search may return: from these sources (casefolded names; None for all), published
    inside ``within`` (inclusive), and, when ``windows`` is not empty, inside at least one of them."""

    sources: frozenset[str] | None = None
    within: tuple[dt.date, dt.date] | None = None
    windows: tuple[tuple[dt.date, dt.date], ...] = ()

    @classmethod
    def of(cls, filters: Filters | None) -> "Scope":
        if not filters:
            return cls()
        sources = frozenset(s.casefold() for s in filters.source) if filters.source else None
        within = None
        if filters.published_from or filters.published_to:
            within = (filters.published_from or dt.date.min, filters.published_to or dt.date.max)
        return cls(sources, within)

    def only_source(self, source: str) -> "Scope":
        """This scope narrowed to one source (kept empty when this scope excludes it)."""
        name = source.casefold()
        return Scope(frozenset({name}) if self.sources is None or name in self.sources else frozenset(),
                     self.within, self.windows)

    def in_windows(self, windows: Sequence[tuple[dt.date, dt.date]]) -> "Scope":
        return Scope(self.sources, self.within, tuple(windows))

    @property
    def everything(self) -> bool:
        return self.sources is None and self.within is None and not self.windows


@dataclass(frozen=True)
class ChunkRef:
    """Where a chunk sits: its document, its place in it, and the document's source and date."""

    doc_id: str
    index: int
    start: int
    end: int
    source: str
    published: str


class SentenceRow(NamedTuple):  # a tuple: built by the hundred per question, 3x faster than a frozen dataclass
    id: int  # the store's sentence id, for its vector
    start: int  # offsets in the document
    end: int
    hash: int
    speaker: str


@dataclass(frozen=True)
class SourceCount:
    source: str  # "" for documents whose publisher is not known
    documents: int
    chunks: int


@dataclass(frozen=True)
class TermStats:
    """What BM25 needs from the whole collection: live chunks, their summed length, and each term's
    document frequency. Summed over segments (or shards), they score as one fresh build would."""

    chunks: int
    length: int
    frequencies: dict[str, int] = field(default_factory=dict)

    def __add__(self, other: "TermStats") -> "TermStats":
        keys = self.frequencies.keys() | other.frequencies.keys()
        return TermStats(self.chunks + other.chunks, self.length + other.length,
                         {t: self.frequencies.get(t, 0) + other.frequencies.get(t, 0) for t in keys})


@dataclass(frozen=True)
class StoreStats:
    version: str  # changes whenever what the store holds changes
    documents: int
    chunks: int
    sources: list[SourceCount]
    date_range: tuple[dt.date, dt.date] | None  # first and last published date, None when nothing is dated


@dataclass(frozen=True)
class DocumentSummary:
    """A document's metadata and chunk count, without its text (for listings)."""

    doc_id: str
    title: str
    source: str
    url: str
    published: str
    author: str
    language: str
    chars: int
    chunks: int


class Store(Protocol):
    """One consistent snapshot of an index, as `Engine` reads it."""

    def stats(self) -> StoreStats: ...

    def count(self, scope: Scope) -> int:
        """Chunks inside ``scope``."""

    def dense_search(self, query: np.ndarray, k: int, scope: Scope) -> Hits:
        """The ``k`` chunks most like ``query`` (a unit vector), by cosine."""

    def term_stats(self, terms: Sequence[str]) -> TermStats: ...

    def lexical_search(self, terms: Sequence[str], k: int, scope: Scope, stats: TermStats | None = None) -> Hits:
        """The ``k`` best chunks by BM25 over ``terms`` (tokens, repeats counting again), scored with
        ``stats`` when given (a sharded store's global statistics), else with this store's own."""

    def has_term_starting(self, prefix: str) -> bool: ...

    def chunks(self, ids: Sequence[int]) -> list[ChunkRef]: ...

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of chunks, float32 (len(ids), dimension)."""

    def sentences(self, ids: Sequence[int]) -> dict[int, list[SentenceRow]]:
        """For each chunk id, its sentences in text order."""

    def sentence_vectors(self, ids: Sequence[int]) -> np.ndarray: ...

    def excerpts(self, ids: Sequence[int]) -> list[Document]:
        """Each chunk's document with ``text`` cut to the chunk (reading long transcripts whole is waste)."""

    def document(self, doc_id: str) -> Document | None: ...

    def documents(self, offset: int, limit: int) -> list[DocumentSummary]: ...

    def unavailable(self, since: float) -> list[str]:
        """The parts of this store (shards) that searches since ``since`` (a time.monotonic()) had to leave
        out because they did not answer: an answer read then is partial."""
