"""Sharding: N local indexes split by document hash, searched in parallel and merged as if they were one.

A document lives in shard ``shard_of(doc_id)``; each shard is a complete `LocalIndex` (its own document
store and segments) in ``DIR/shard-NN/``. A search fans out to every shard and keeps the best; BM25 first
sums the shards' term statistics, so every shard scores with the global ones and the merged ranking
equals one index's. `ShardedStore` takes any Stores, so the shards may be local objects or remote ones
(rag.ray_cluster); a remote shard that dies is left out of searches, and the answer says so, until it is back.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence, TypeVar

import numpy as np

from .documents import Document
from .embedding import Embedder
from .errors import IndexNotFound, ShardUnavailable
from .index import BuildReport, IndexConfig, LocalIndex
from .storage import (ChunkRef, DocumentSummary, Hits, Scope, SentenceRow, SourceCount, Store, StoreStats,
                      TermStats, best_of)

SHARDS_FILE = "shards.json"
SHARD_BITS = 48  # below them, the shard's own id (a local store's ids stay under 2**48)
SHARD_MASK = (1 << SHARD_BITS) - 1
# Seconds a shard that failed is left out of searches before it is asked again: each question then waits
# for a dead shard at most once in that time, not once per search it makes.
RETRY_AFTER = 2.0
T = TypeVar("T")


def shard_of(doc_id: str, shards: int) -> int:
    """The shard that owns a document: its id is a hash already, so its leading digits spread evenly."""
    return int(doc_id[:8], 16) % shards


def _by_shard(ids: Sequence[int]) -> dict[int, tuple[list[int], list[int]]]:
    groups: dict[int, tuple[list[int], list[int]]] = {}
    for position, chunk_id in enumerate(ids):
        positions, inner = groups.setdefault(int(chunk_id) >> SHARD_BITS, ([], []))
        positions.append(position)
        inner.append(int(chunk_id) & SHARD_MASK)
    return groups


def _stats_or_none(shard: Store) -> StoreStats | None:
    # Every shard is asked, even one that failed lately: a remote one keeps its snapshot's statistics, so
    # they stay whole (and the version the same: no reload) while it is down.
    try:
        return shard.stats()
    except ShardUnavailable:
        return None


class ShardedStore:
    """Several Stores as one: searches fan out in parallel; ids carry the shard in their high bits.

    A shard that raises `ShardUnavailable` is left out of searches and statistics (for ``RETRY_AFTER``
    seconds, then asked again) and named by `unavailable`, so the answer is partial rather than failed.
    Reading chunks or documents that a shard holds still raises: they cannot come from another shard.
    """

    def __init__(self, shards: Sequence[Store], pool: ThreadPoolExecutor | None = None) -> None:
        self.shards = list(shards)
        self._pool = pool or ThreadPoolExecutor(max_workers=len(self.shards), thread_name_prefix="rag-shard")
        self._failed: dict[int, float] = {}  # shard -> when it last failed (time.monotonic())
        self._missed: dict[int, float] = {}  # shard -> when a search last went without it

    def _ask(self, shard: int, call: Callable[[Store], T]) -> T | None:
        now = time.monotonic()
        if now - self._failed.get(shard, -RETRY_AFTER) < RETRY_AFTER:
            self._missed[shard] = now
            return None
        try:
            found = call(self.shards[shard])
        except ShardUnavailable:
            self._failed[shard] = self._missed[shard] = time.monotonic()
            return None
        self._failed.pop(shard, None)
        return found

    def _fan_out(self, call: Callable[[Store], T]) -> list[T | None]:
        """Each shard's answer, None for those that gave none; ShardUnavailable when none did."""
        parts = list(self._pool.map(lambda shard: self._ask(shard, call), range(len(self.shards))))
        if all(p is None for p in parts):
            raise self._none_answered()
        return parts

    def _none_answered(self) -> ShardUnavailable:
        return ShardUnavailable(f"none of the {len(self.shards)} shards answered; try again when they are back")

    def unavailable(self, since: float) -> list[str]:
        return [f"shard-{shard:02d}" for shard, when in sorted(self._missed.items()) if when >= since]

    def _hits(self, parts: list[Hits | None], k: int) -> Hits:
        return best_of([Hits((i << SHARD_BITS) | p.ids, p.scores) for i, p in enumerate(parts) if p is not None], k)

    def stats(self) -> StoreStats:
        parts = [p for p in self._pool.map(_stats_or_none, self.shards) if p is not None]
        if not parts:
            raise self._none_answered()
        documents: dict[str, list[int]] = {}
        for part in parts:
            for count in part.sources:
                totals = documents.setdefault(count.source, [0, 0])
                totals[0] += count.documents
                totals[1] += count.chunks
        ranges = [p.date_range for p in parts if p.date_range]
        return StoreStats(
            "+".join(p.version for p in parts), sum(p.documents for p in parts), sum(p.chunks for p in parts),
            [SourceCount(name, *documents[name]) for name in sorted(documents)],
            (min(r[0] for r in ranges), max(r[1] for r in ranges)) if ranges else None,
        )

    def count(self, scope: Scope) -> int:
        return sum(n for n in self._fan_out(lambda s: s.count(scope)) if n is not None)

    def dense_search(self, query: np.ndarray, k: int, scope: Scope) -> Hits:
        return self._hits(self._fan_out(lambda s: s.dense_search(query, k, scope)), k)

    def term_stats(self, terms: Sequence[str]) -> TermStats:
        parts = [p for p in self._fan_out(lambda s: s.term_stats(terms)) if p is not None]
        total = parts[0]
        for part in parts[1:]:
            total = total + part
        return total

    def lexical_search(self, terms: Sequence[str], k: int, scope: Scope, stats: TermStats | None = None) -> Hits:
        if not terms:
            return Hits.empty()
        stats = stats or self.term_stats(sorted(set(terms)))
        return self._hits(self._fan_out(lambda s: s.lexical_search(terms, k, scope, stats)), k)

    def has_term_starting(self, prefix: str) -> bool:
        return any(self._fan_out(lambda s: s.has_term_starting(prefix)))

    def _gather(self, ids: Sequence[int], call: Callable[[Store, list[int]], list]) -> list:
        found: list = [None] * len(ids)
        for shard, (positions, inner) in _by_shard(ids).items():
            for position, item in zip(positions, call(self.shards[shard], inner)):
                found[position] = item
        return found

    def chunks(self, ids: Sequence[int]) -> list[ChunkRef]:
        return self._gather(ids, lambda s, inner: s.chunks(inner))

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        rows = self._gather(ids, lambda s, inner: list(s.vectors(inner)))
        return np.array(rows, dtype=np.float32).reshape(len(ids), -1) if rows else np.zeros((0, 0), np.float32)

    def sentence_vectors(self, ids: Sequence[int]) -> np.ndarray:
        rows = self._gather(ids, lambda s, inner: list(s.sentence_vectors(inner)))
        return np.array(rows, dtype=np.float32).reshape(len(ids), -1) if rows else np.zeros((0, 0), np.float32)

    def sentences(self, ids: Sequence[int]) -> dict[int, list[SentenceRow]]:
        found: dict[int, list[SentenceRow]] = {}
        for shard, (_, inner) in _by_shard(ids).items():
            base = shard << SHARD_BITS
            for chunk_id, parts in self.shards[shard].sentences(inner).items():
                found[base | chunk_id] = [s._replace(id=base | s.id) for s in parts]
        return found

    def excerpts(self, ids: Sequence[int]) -> list[Document]:
        return self._gather(ids, lambda s, inner: s.excerpts(inner))

    def document(self, doc_id: str) -> Document | None:
        return self.shards[shard_of(doc_id, len(self.shards))].document(doc_id)

    def documents(self, offset: int, limit: int) -> list[DocumentSummary]:
        page: list[DocumentSummary] = []
        for shard in self.shards:
            size = shard.stats().documents
            if offset >= size:
                offset -= size
                continue
            page += shard.documents(offset, limit - len(page))
            offset = 0
            if len(page) == limit:
                break
        return page


class ShardedIndex:
    """An index directory split into shards (created by `rag index --shards N`)."""

    def __init__(self, index_dir: Path, config: IndexConfig, index_kind: str = "auto", batch_size: int = 32) -> None:
        self.index_dir = Path(index_dir)
        try:
            count = int(json.loads((self.index_dir / SHARDS_FILE).read_text())["shards"])
        except (OSError, ValueError, KeyError, TypeError):
            raise IndexNotFound(f"{self.index_dir / SHARDS_FILE}: unreadable; it says how many shards the index has") from None
        self.parts = [LocalIndex(self.index_dir / f"shard-{i:02d}", config, index_kind, batch_size) for i in range(count)]
        self._pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="rag-shard")

    @staticmethod
    def create(index_dir: Path, shards: int) -> None:
        """Mark a new index directory as split into ``shards`` (refused where an index already is)."""
        index_dir = Path(index_dir)
        marker = index_dir / SHARDS_FILE
        if marker.exists():
            if json.loads(marker.read_text())["shards"] != shards:
                raise ValueError(f"{index_dir} already has {json.loads(marker.read_text())['shards']} shards")
            return
        if (index_dir / "CURRENT").exists() or (index_dir / "documents.sqlite").exists():
            raise ValueError(f"{index_dir} already holds an unsharded index; shard a new directory")
        index_dir.mkdir(parents=True, exist_ok=True)
        aside = marker.with_suffix(".tmp")
        aside.write_text(json.dumps({"shards": shards}))
        os.replace(aside, marker)

    def _split(self, documents: Iterable[Document]) -> list[list[Document]]:
        split: list[list[Document]] = [[] for _ in self.parts]
        for doc in documents:
            split[shard_of(doc.doc_id, len(self.parts))].append(doc)
        return split

    def current(self) -> str | None:
        versions = [p.current() for p in self.parts]
        return None if any(v is None for v in versions) else "+".join(versions)  # type: ignore[arg-type]

    def open(self) -> ShardedStore:
        return ShardedStore([p.open() for p in self.parts], self._pool)

    def close(self) -> None:
        for part in self.parts:
            part.close()

    @property
    def problem(self) -> str | None:
        problems = [p.problem for p in self.parts if p.problem]
        return "; ".join(problems) if problems else None

    def damage(self, store: ShardedStore) -> str | None:
        return next((found for part, shard in zip(self.parts, store.shards) if (found := part.damage(shard))), None)

    def sync(self, corpora: Mapping[str, Sequence[Document]], embedder: Embedder, progress: bool = False,
             rebuild: bool = False, force: bool = False) -> BuildReport:
        split = {origin: self._split(docs) for origin, docs in corpora.items()}
        return self._combine([part.sync({o: docs[i] for o, docs in split.items()}, embedder, progress, rebuild, force)
                              for i, part in enumerate(self.parts)])

    def put(self, documents: Sequence[Document], embedder: Embedder, origin: str = "api") -> BuildReport:
        # Each shard adds its own documents and drops those of its own that a new document's URL replaces.
        urls = [doc.url for doc in documents if doc.url]
        return self._combine([part.put(own, embedder, origin, urls) for part, own in zip(self.parts, self._split(documents))
                              if own or urls])

    def delete(self, doc_ids: Sequence[str], embedder: Embedder) -> int:
        owned: list[list[str]] = [[] for _ in self.parts]
        for doc_id in doc_ids:
            owned[shard_of(doc_id, len(self.parts))].append(doc_id)
        return sum(part.delete(ids, embedder) for part, ids in zip(self.parts, owned) if ids)

    def merge(self) -> bool:
        return any([part.merge() for part in self.parts])

    def is_stale(self, corpora: Mapping[str, Sequence[Document]]) -> bool:
        split = {origin: self._split(docs) for origin, docs in corpora.items()}
        return any(part.is_stale({o: docs[i] for o, docs in split.items()}) for i, part in enumerate(self.parts))

    def _combine(self, reports: list[BuildReport]) -> BuildReport:
        stats = self.open().stats()
        return BuildReport(self.index_dir, stats.documents, stats.chunks, sum(r.embedded for r in reports),
                           sum(r.seconds for r in reports), all(r.skipped for r in reports), stats.sources,
                           sum(r.added for r in reports), sum(r.removed for r in reports))
