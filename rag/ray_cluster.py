"""Ray (an optional extra, ``pip install -e ".[ray]"``): indexing's model runs on a pool of actors across the
cluster, and a sharded index's shards are served by actors, one per shard, spread over its nodes.

Ingestion: `RayEmbedder` stands in for the `Embedder` in the usual write path (`LocalIndex.sync`, which
chunks and writes the segments here), and ships batches of its texts to the `EmbedWorker`s that hold the
model. A text's vectors do not depend on the batch it is embedded in, so the index is a local build's:
same document and chunk ids, same vectors. Embedding is where indexing spends 97% of its time; reading,
chunking and writing stay on the machine that owns the index directory.

Serving: a `ShardActor` opens one shard's `LocalIndex` from its files (again when Ray restarts it after a
crash) and answers Store calls; `RayShardStore` is the Store that calls it, so the usual `ShardedStore`
fans questions out to the actors and merges their hits with global BM25 statistics. Writes go through the
`ShardedIndex` of the serving process (each document to the shard that owns it), on a file system the
actors share; the actors open the new manifest when the next snapshot asks for it.

Only `rag index --ray` and `rag serve --ray` import this module: a local install never imports Ray.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import ray
from ray.util import ActorPool
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from .documents import Document
from .embedding import Embedder
from .errors import IndexNotFound, RagError, ShardUnavailable
from .index import IndexConfig, LocalIndex, embedder_for
from .local_store import LocalStore
from .retrieve import Engine, index_config
from .settings import Settings
from .sharded import SHARDS_FILE, ShardedIndex, ShardedStore
from .storage import ChunkRef, DocumentSummary, Hits, Scope, SentenceRow, StoreStats, TermStats

SHARD_TIMEOUT = 5.0  # seconds a shard may take to answer one call before the question goes on without it
SNAPSHOTS_KEPT = 3  # manifests a shard actor keeps open: requests in flight across a write keep theirs
# What a call to an actor that died or is restarting raises (a bug in the call raises as itself).
UNANSWERED = (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError, ray.exceptions.GetTimeoutError)


def connect(address: str) -> None:
    """Join the Ray cluster at ``address``; "auto" joins the one this machine runs, or starts one."""
    if ray.is_initialized():
        return
    try:
        ray.init(address=address, logging_level="warning")
    except ConnectionError as exc:
        if address != "auto":
            raise RagError(f"no Ray cluster at {address} ({exc}); start one with `ray start --head`") from None
        ray.init(logging_level="warning", include_dashboard=False)


# Ingestion


@ray.remote(max_restarts=-1, max_task_retries=-1)  # a batch is a pure function of its texts: safe to redo
class EmbedWorker:
    """The model, loaded once, on one worker."""

    def __init__(self, model_path: Path | None, backend: str, threads: int) -> None:
        self.embedder = Embedder(model_path, backend=backend, threads=threads)

    def describe(self) -> tuple[str, int]:
        return self.embedder.name, self.embedder.dimension

    def encode_with_sentences(self, texts: list[str], spans: list[list[tuple[int, int]]],
                              batch_size: int) -> tuple[np.ndarray, list[np.ndarray]]:
        return self.embedder.encode_with_sentences(texts, spans, batch_size)


class RayEmbedder:
    """What the write path asks of an `Embedder` (name, dimension, encode_with_sentences), with the model
    (``backend``: the passage backend, rag.embedding.passage_backend)
    run by ``workers`` EmbedWorker actors (default: one per CPU of the cluster) spread over its nodes, each
    embedding ``batch_size`` texts at a time.

    Open the index with ``index_batch_size``: the write path hands the embedder 4 of the index's batches at
    a time and waits for them, which would keep at most 4 workers busy; so it hands over 4 for each.
    """

    def __init__(self, model_path: Path | None = None, backend: str = "onnx", workers: int | None = None,
                 cpus_per_worker: int = 1, batch_size: int = 32) -> None:
        workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)) // cpus_per_worker)
        self.workers = [EmbedWorker.options(num_cpus=cpus_per_worker, scheduling_strategy="SPREAD")
                        .remote(model_path, backend, cpus_per_worker) for _ in range(workers)]
        self.name, self.dimension = ray.get(self.workers[0].describe.remote())
        self.batch_size = batch_size
        self._pool = ActorPool(self.workers)

    @property
    def index_batch_size(self) -> int:
        return self.batch_size * len(self.workers)

    def encode_with_sentences(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]],
                              batch_size: int = 32) -> tuple[np.ndarray, list[np.ndarray]]:
        # In this embedder's batches, not the index's (see index_batch_size), longest first as Embedder pads
        # least; each goes to the next idle worker. A text's vectors do not depend on its batch: measured,
        # the same bits with onnx, within 2e-7 with torch (onnx-int8 embeds a text at a time for this).
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        batches = [order[lo : lo + self.batch_size] for lo in range(0, len(order), self.batch_size)]
        results = self._pool.map(
            lambda worker, batch: worker.encode_with_sentences.remote(
                [texts[i] for i in batch], [list(spans[i]) for i in batch], self.batch_size),
            batches)
        passages = np.zeros((len(texts), self.dimension), dtype=np.float32)
        per_text: list[np.ndarray] = [np.zeros((0, self.dimension), np.float32)] * len(texts)
        for batch, (vectors, sentences) in zip(batches, results):
            passages[batch] = vectors
            for i, sentence_vectors in zip(batch, sentences):
                per_text[i] = sentence_vectors
        return passages, per_text

    def close(self) -> None:
        """Free the workers' CPUs and memory (they would otherwise live as long as this driver)."""
        for worker in self.workers:
            ray.kill(worker)


# Serving


@ray.remote(num_cpus=0, max_restarts=-1, max_concurrency=8)  # threads: a shard serves many questions at once
class ShardActor:
    """One shard of a sharded index, opened from its files; Ray restarts it (from them) when it dies."""

    def __init__(self, shard_dir: str, config: IndexConfig, index_kind: str) -> None:
        self.index = LocalIndex(Path(shard_dir), config, index_kind)
        self._stores: dict[str, LocalStore] = {}
        self._lock = threading.Lock()

    def open(self) -> tuple[str, str | None]:
        """Open the shard's current state (or, where it is damaged, the last intact one): its manifest's
        name, and why it is not the current one (LocalIndex.problem)."""
        with self._lock:
            return self._keep(self.index.open()).version, self.index.problem

    def call(self, version: str, method: str, *args: Any) -> Any:
        """``method`` of the Store protocol, on the snapshot of manifest ``version``."""
        return getattr(self._snapshot(version), method)(*args)

    def damage(self, version: str) -> str | None:
        """What is damaged on disk of the snapshot ``version`` and the manifests beside it (LocalIndex.damage)."""
        return self.index.damage(self._snapshot(version))

    def _snapshot(self, version: str) -> LocalStore:
        with self._lock:
            if version in self._stores:
                return self._stores[version]
            store = self.index.open()  # after a restart, or the first call after a write
            if store.version != version:  # ids mean something only in their own snapshot
                raise ShardUnavailable(f"{self.index.index_dir} moved on from {version} to {store.version}")
            return self._keep(store)

    def _keep(self, store: LocalStore) -> LocalStore:
        if store.version not in self._stores:
            self._stores = dict(list(self._stores.items())[-(SNAPSHOTS_KEPT - 1):])
            self._stores[store.version] = store
        return self._stores[store.version]


class RayShardStore:
    """The Store of one shard's snapshot (manifest ``version``), read by calls to its `ShardActor`."""

    def __init__(self, actor: Any, name: str, version: str, timeout: float = SHARD_TIMEOUT) -> None:
        self.actor, self.name, self.version, self.timeout = actor, name, version, timeout
        self._stats: StoreStats | None = None

    def _call(self, method: str, *args: Any) -> Any:
        return self._get(self.actor.call.remote(self.version, method, *args))

    def _get(self, pending: ray.ObjectRef) -> Any:
        try:
            return ray.get(pending, timeout=self.timeout)
        except UNANSWERED as exc:
            raise ShardUnavailable(f"{self.name} did not answer: {type(exc).__name__}") from None

    def damage(self) -> str | None:
        return self._get(self.actor.damage.remote(self.version))

    def stats(self) -> StoreStats:
        if self._stats is None:  # a snapshot's never change, and every question asks for them
            self._stats = self._call("stats")
        return self._stats

    def count(self, scope: Scope) -> int:
        return self._call("count", scope)

    def dense_search(self, query: np.ndarray, k: int, scope: Scope) -> Hits:
        return self._call("dense_search", query, k, scope)

    def term_stats(self, terms: Sequence[str]) -> TermStats:
        return self._call("term_stats", list(terms))

    def lexical_search(self, terms: Sequence[str], k: int, scope: Scope, stats: TermStats | None = None) -> Hits:
        return self._call("lexical_search", list(terms), k, scope, stats)

    def has_term_starting(self, prefix: str) -> bool:
        return self._call("has_term_starting", prefix)

    def chunks(self, ids: Sequence[int]) -> list[ChunkRef]:
        return self._call("chunks", list(ids))

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        return self._call("vectors", list(ids))

    def sentences(self, ids: Sequence[int]) -> dict[int, list[SentenceRow]]:
        return self._call("sentences", list(ids))

    def sentence_vectors(self, ids: Sequence[int]) -> np.ndarray:
        return self._call("sentence_vectors", list(ids))

    def excerpts(self, ids: Sequence[int]) -> list[Document]:
        return self._call("excerpts", list(ids))

    def document(self, doc_id: str) -> Document | None:
        return self._call("document", doc_id)

    def documents(self, offset: int, limit: int) -> list[DocumentSummary]:
        return self._call("documents", offset, limit)

    def unavailable(self, since: float) -> list[str]:
        return []  # a call that fails raises ShardUnavailable; the ShardedStore above keeps the record


class RayShardedIndex(ShardedIndex):
    """A sharded index whose snapshots are read through one `ShardActor` per shard; writes are the
    `ShardedIndex`'s own, from this process."""

    def __init__(self, index_dir: Path, config: IndexConfig, index_kind: str = "auto", batch_size: int = 32,
                 timeout: float = SHARD_TIMEOUT) -> None:
        super().__init__(index_dir, config, index_kind, batch_size)
        self.timeout = timeout
        self._problems: list[str] = []  # the actors' LocalIndex.problem at the last open
        nodes = _nodes()
        # Placed round the nodes by hand: neither SPREAD nor a soft node affinity spreads actors that reserve
        # no CPU (measured on Ray 2.60: both shards often landed on one node). Hard, so Ray restarts a shard on
        # its own node; a shard whose node is lost stays down (partial answers) until the service restarts.
        self.actors = [
            ShardActor.options(scheduling_strategy=NodeAffinitySchedulingStrategy(nodes[i % len(nodes)], soft=False))
            .remote(str(part.index_dir.resolve()), config, index_kind) for i, part in enumerate(self.parts)]

    def open(self) -> ShardedStore:
        """Each actor opens its shard's current state; a shard whose actor does not answer is read, once it
        is back, at the manifest its files name now."""
        pending = [actor.open.remote() for actor in self.actors]
        versions, self._problems = [], []
        for part, opened in zip(self.parts, pending):
            try:
                version, problem = ray.get(opened, timeout=self.timeout)
            except UNANSWERED:
                version, problem = part.current(), None
                if version is None:
                    raise IndexNotFound(f"no index at {part.index_dir}: build one with `rag index`") from None
            versions.append(version)
            self._problems += [problem] if problem else []
        return ShardedStore([RayShardStore(actor, f"shard-{i:02d}", version, self.timeout)
                             for i, (actor, version) in enumerate(zip(self.actors, versions))], self._pool)

    @property
    def problem(self) -> str | None:
        return "; ".join(self._problems) or None

    def damage(self, store: ShardedStore) -> str | None:
        for shard in store.shards:
            try:
                found = shard.damage()
            except ShardUnavailable:  # down is not damaged; the searches report it
                continue
            if found:
                return found
        return None

    def close(self) -> None:
        """Close the shards' document stores, and end their actors."""
        super().close()
        for actor in self.actors:
            ray.kill(actor, no_restart=True)


def _nodes() -> list[str]:
    """The ids of the cluster's live nodes that offer CPUs (all live nodes where none does)."""
    alive = sorted((n for n in ray.nodes() if n["Alive"]), key=lambda n: n["NodeID"])
    return [n["NodeID"] for n in [n for n in alive if n["Resources"].get("CPU", 0) > 0] or alive]


def serving_engine(address: str, settings: Settings, index_dir: Path | None = None, shards: int | None = None,
                   embedder: Embedder | None = None) -> Engine:
    """An Engine over the sharded index at ``index_dir`` whose shards are served by actors on the cluster."""
    connect(address)
    index_dir = Path(index_dir or settings.index_dir)
    if not (index_dir / SHARDS_FILE).exists():
        raise RagError(f"{index_dir} is not sharded: serve on Ray an index built with `rag index --shards N`")
    embedder = embedder or embedder_for(index_dir, settings)
    index = RayShardedIndex(index_dir, index_config(settings, embedder), settings.index_kind, settings.embed_batch_size)
    if shards is not None and shards != len(index.parts):
        index.close()
        raise RagError(f"{index_dir} has {len(index.parts)} shards, not {shards}")
    return Engine.open(index_dir, settings=settings, embedder=embedder, index=index)
