"""The Store of one local index: a manifest's live segments, searched each in turn and merged.

A chunk id is the segment's place in the manifest (high 32 bits) and the chunk's row in it (low 32
bits); sentence ids likewise. BM25 scores every segment with statistics summed over all of them (minus
deleted chunks), so they equal one fresh build's.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from functools import cached_property
from typing import Iterator, Sequence

import numpy as np

from . import store
from .documents import Document
from .segment import LiveSegment
from .storage import (ChunkRef, DocumentSummary, Hits, Scope, SentenceRow, SourceCount, StoreStats, TermStats,
                      best_of)

ROW_BITS = 32
ROW_MASK = (1 << ROW_BITS) - 1


def _split(ids: Sequence[int]) -> Iterator[tuple[int, list[int], list[int]]]:
    """(segment, positions in ``ids``, rows) per segment the ids point into."""
    groups: dict[int, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for position, chunk_id in enumerate(ids):
        chunk_id = int(chunk_id)
        positions, rows = groups[chunk_id >> ROW_BITS]
        positions.append(position)
        rows.append(chunk_id & ROW_MASK)
    for segment, (positions, rows) in groups.items():
        yield segment, positions, rows


class LocalStore:
    """One manifest of a local index, as the Store protocol reads it."""

    def __init__(self, version: str, segments: list[LiveSegment]) -> None:
        self.version = version
        self.segments = segments

    def stats(self) -> StoreStats:
        return self._stats

    @cached_property
    def _stats(self) -> StoreStats:
        documents: dict[str, int] = defaultdict(int)
        chunks: dict[str, int] = defaultdict(int)
        first, last = None, None
        for live in self.segments:
            s = live.segment
            codes = s.source_codes[live.live_docs]
            for code, (n_docs, n_chunks) in enumerate(zip(np.bincount(codes, minlength=len(s.source_names)),
                                                          np.bincount(codes, weights=s.doc_chunks[live.live_docs],
                                                                      minlength=len(s.source_names)))):
                if n_docs:
                    documents[s.source_names[code]] += int(n_docs)
                    chunks[s.source_names[code]] += int(n_chunks)
            days = s.doc_days[live.live_docs]
            days = days[days >= 0]
            if len(days):
                first = min(first, int(days.min())) if first is not None else int(days.min())
                last = max(last, int(days.max())) if last is not None else int(days.max())
        sources = [SourceCount(name, documents[name], chunks[name]) for name in sorted(documents)]
        date_range = (dt.date.fromordinal(first), dt.date.fromordinal(last)) if first is not None else None
        return StoreStats(self.version, sum(documents.values()), sum(chunks.values()), sources, date_range)

    def unavailable(self, since: float) -> list[str]:
        return []  # one process: it answers or the question fails

    def count(self, scope: Scope) -> int:
        total = 0
        for live in self.segments:
            allowed = live.allowed(scope)
            total += live.chunks if allowed is None else int(allowed.sum())
        return total

    def dense_search(self, query: np.ndarray, k: int, scope: Scope) -> Hits:
        parts = []
        for i, live in enumerate(self.segments):
            allowed = live.allowed(scope)
            size = live.segment.chunks_count
            if not size or (allowed is not None and not allowed.any()):
                continue
            rows, scores = live.segment.dense.search(query, min(k, size), allowed)
            parts.append(Hits((i << ROW_BITS) | rows.astype(np.int64), scores.astype(np.float32)))
        return best_of(parts, k)

    def term_stats(self, terms: Sequence[str]) -> TermStats:
        frequencies: dict[str, int] = defaultdict(int)
        for live in self.segments:
            for term, n in live.segment.postings.frequencies(terms, live.live_chunks).items():
                frequencies[term] += n
        return TermStats(sum(s.chunks for s in self.segments), sum(s.length for s in self.segments),
                         {t: n for t, n in frequencies.items() if n})

    def lexical_search(self, terms: Sequence[str], k: int, scope: Scope, stats: TermStats | None = None) -> Hits:
        if not terms:
            return Hits.empty()
        stats = stats or self.term_stats(sorted(set(terms)))
        parts = []
        for i, live in enumerate(self.segments):
            allowed = live.allowed(scope)
            if allowed is not None and not allowed.any():
                continue
            rows, scores = live.segment.postings.search(terms, k, stats, allowed)
            parts.append(Hits((i << ROW_BITS) | rows, scores))
        return best_of(parts, k)

    def has_term_starting(self, prefix: str) -> bool:
        return any(live.segment.postings.has_term_starting(prefix, live.live_chunks) for live in self.segments)

    def chunks(self, ids: Sequence[int]) -> list[ChunkRef]:
        found: list[ChunkRef] = [None] * len(ids)  # type: ignore[list-item]
        for i, positions, rows in _split(ids):
            s = self.segments[i].segment
            for position, (ordinal, index, start, end) in zip(positions, s.chunks[rows].tolist()):
                found[position] = ChunkRef(s.doc_ids[ordinal], index, start, end, s.doc_sources[ordinal],
                                           s.doc_published[ordinal])
        return found

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        dimension = self.segments[0].segment.dimension if self.segments else 0
        out = np.zeros((len(ids), dimension), dtype=np.float32)
        for i, positions, rows in _split(ids):
            out[positions] = self.segments[i].segment.vectors(rows)
        return out

    def sentences(self, ids: Sequence[int]) -> dict[int, list[SentenceRow]]:
        found: dict[int, list[SentenceRow]] = {}
        for i, _, rows in _split(ids):
            base = i << ROW_BITS
            for row, parts in store.sentences_of(self.segments[i].segment.connection, rows).items():
                found[base | row] = [s._replace(id=base | s.id) for s in parts]
        return found

    def sentence_vectors(self, ids: Sequence[int]) -> np.ndarray:
        dimension = self.segments[0].segment.dimension if self.segments else 0
        out = np.zeros((len(ids), dimension), dtype=np.float32)
        for i, positions, rows in _split(ids):
            out[positions] = self.segments[i].segment.sentence_vectors[rows]
        return out

    def excerpts(self, ids: Sequence[int]) -> list[Document]:
        found: list[Document] = [None] * len(ids)  # type: ignore[list-item]
        for i, positions, rows in _split(ids):
            s = self.segments[i].segment
            for position, (ordinal, _, start, end) in zip(positions, s.chunks[rows].tolist()):
                found[position] = store.load_excerpt(s.connection, ordinal, start, end)
        return found

    def document(self, doc_id: str) -> Document | None:
        for live in self.segments:
            ordinal = live.segment.ordinal_of.get(doc_id)
            if ordinal is not None and live.live_docs[ordinal]:
                return store.find_document(live.segment.connection, ordinal)
        return None

    def documents(self, offset: int, limit: int) -> list[DocumentSummary]:
        page: list[DocumentSummary] = []
        for live in self.segments:
            ordinals = np.flatnonzero(live.live_docs)
            if offset >= len(ordinals):
                offset -= len(ordinals)
                continue
            chosen = ordinals[offset : offset + limit - len(page)].tolist()
            offset = 0
            s = live.segment
            page += store.summaries(s.connection, chosen, [int(s.doc_chunks[o]) for o in chosen])
            if len(page) == limit:
                break
        return page
