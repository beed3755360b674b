"""The dense index: building, saving, loading and searching FAISS indexes of several kinds.

Vectors are L2-normalised, so inner product is cosine. Kinds, measured on 2 cores with all-MiniLM-L6-v2
vectors (``python -m bench`` measures them again):

* ``flat``: exact; 1,536 bytes a vector; one thread scans 100k vectors in about 5 ms, 1M in about 50 ms.
* ``sq8``: every vector in 8 bits a dimension: 384 bytes, recall@10 about 0.99 of flat, scan time like flat.
* ``ivf-sq8``: those codes in ``nlist`` clusters, of which a query scans ``nprobe``: about 400 bytes a
  vector, recall@10 above 0.97 of flat, a few milliseconds at 1M.
* ``hnsw``: an HNSW32 graph over flat vectors: about 1 ms at 1M but about 1.8 KB a vector, and long to build.
* ``auto``: flat up to ``AUTO_FLAT_UP_TO`` vectors, ivf-sq8 beyond. One thread scans 50k flat vectors in
  about 3 ms; beyond that the scan outweighs the rest of an answer (100k: 5-7 ms of a 15 ms answer), while
  ivf-sq8 searches 100k in under 1 ms at recall@10 0.98-0.99.

Row ``i`` of the index is the ``i``-th vector added, for every kind.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

KINDS = ("flat", "sq8", "ivf-sq8", "hnsw", "auto")
AUTO_FLAT_UP_TO = 50_000
HNSW_NEIGHBOURS = 32
HNSW_EF_SEARCH = 128
IVF_TRAIN_PER_LIST = 64  # k-means on 64 vectors a cluster is enough; more only slows training
# An HNSW walk finds few or none of a small subset, so a filter that keeps this few rows is searched
# exactly over the kept rows' vectors. IVF needs no such path: it scans more lists in proportion to what
# the filter removes (all of them for a small subset), which at 100k finds the same rows 8-17x faster.
EXACT_SUBSET_ROWS = 20_000


def resolved_kind(kind: str, size: int) -> str:
    """The kind an index of ``size`` vectors is built as when ``kind`` is asked for (``auto`` resolved)."""
    if kind not in KINDS:
        raise ValueError(f"index kind: must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "auto":
        return "flat" if size <= AUTO_FLAT_UP_TO else "ivf-sq8"
    return kind


def ivf_lists(size: int) -> int:
    """Clusters for an IVF index of ``size`` vectors: about sqrt(size), so a list holds about sqrt(size)."""
    return max(1, min(size // IVF_TRAIN_PER_LIST, 2 ** round(math.log2(max(1.0, math.sqrt(size))))))


def ivf_probes(lists: int) -> int:
    """Clusters a query scans: 3 sqrt(lists) (48 of 256, 96 of 1024) keeps recall@10 near SQ8's own, about 0.97+."""
    return min(lists, math.ceil(3 * math.sqrt(lists)))


@dataclass
class VectorIndex:
    """A FAISS index of one kind, searched one query at a time (with an optional row mask) or in batches."""

    index: faiss.Index
    kind: str

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str = "auto", seed: int = 0) -> "VectorIndex":
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        size, dimension = vectors.shape
        kind = resolved_kind(kind, size)
        index = _empty(kind, dimension, size)
        if kind == "ivf-sq8":
            # k-means needs a sample, not all vectors; SQ8 alone trains per-dimension ranges, cheap on all.
            sample = min(size, IVF_TRAIN_PER_LIST * index.nlist)
            index.train(vectors[np.random.default_rng(seed).choice(size, sample, replace=False)])
        elif not index.is_trained:
            index.train(vectors)
        index.add(vectors)
        if kind == "ivf-sq8":
            index.make_direct_map()  # for reconstruct(); 8 bytes a vector
        return cls(index, kind)

    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    @classmethod
    def read(cls, data: bytes) -> "VectorIndex":
        """An index from the bytes of its file, held in memory: a segment hashes the bytes it loads, so what
        is served is what was checked, and a file damaged or truncated on disk later cannot reach (or, as
        a mapped file would, kill with SIGBUS) the process that loaded it."""
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        return cls(index, _kind_of(index))

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    def search(self, query: np.ndarray, k: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Rows (int64) and cosines of the best ``k`` vectors for one query, within ``mask`` (bool per row) if given."""
        _one_faiss_thread()
        if mask is not None and self.kind == "hnsw" and mask.sum() <= EXACT_SUBSET_ROWS:
            rows = np.flatnonzero(mask)
            scores = self.reconstruct(rows) @ query
            best = np.argsort(-scores, kind="stable")[:k]
            return rows[best], scores[best]
        scores, rows = self.search_many(query[None, :], k, mask)
        keep = rows[0] >= 0
        return rows[0][keep], scores[0][keep]

    def search_many(self, queries: np.ndarray, k: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) arrays of shape (len(queries), k), as faiss returns them (row -1 where none was found)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if mask is None:
            return self.index.search(queries, k, params=self._parameters(1.0))
        bits = np.packbits(mask, bitorder="little")  # must outlive the search: faiss keeps a raw pointer
        selector = faiss.IDSelectorBitmap(bits.size, faiss.swig_ptr(bits))  # size in bytes
        return self.index.search(queries, k, params=self._parameters(max(float(mask.mean()), 1e-9), selector))

    def _parameters(self, share: float, selector: faiss.IDSelector | None = None) -> faiss.SearchParameters:
        # With a filter, widen the search in proportion to what it removes, so about as many kept
        # vectors are scored as without one. (Passing sel= to the constructor keeps it referenced.)
        if self.kind == "ivf-sq8":
            nprobe = min(self.index.nlist, math.ceil(self.index.nprobe / share))
            return faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)
        if self.kind == "hnsw":
            return faiss.SearchParametersHNSW(sel=selector, efSearch=math.ceil(HNSW_EF_SEARCH / share))
        return faiss.SearchParameters(sel=selector)

    def reconstruct(self, rows: np.ndarray | list[int]) -> np.ndarray:
        """The stored vectors of ``rows`` (decoded, so approximate for quantised kinds), float32 (len(rows), d)."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return np.zeros((0, self.dimension), np.float32)
        return self.index.reconstruct_batch(rows)


_threads = threading.local()


def _one_faiss_thread() -> None:
    """One query runs 2-3x slower split over threads, and scores differ in the last bits. faiss takes its
    thread count from OpenMP, which keeps it per thread: set in the thread that searches (the HTTP service
    asks from worker threads, where it would default to every core), once, as the call costs 0.1 ms."""
    if not getattr(_threads, "single", False):
        faiss.omp_set_num_threads(1)
        _threads.single = True


def _empty(kind: str, dimension: int, size: int) -> faiss.Index:
    ip = faiss.METRIC_INNER_PRODUCT
    if kind == "flat":
        return faiss.IndexFlatIP(dimension)
    if kind == "sq8":
        return faiss.IndexScalarQuantizer(dimension, faiss.ScalarQuantizer.QT_8bit, ip)
    if kind == "hnsw":
        return faiss.IndexHNSWFlat(dimension, HNSW_NEIGHBOURS, ip)
    lists = ivf_lists(size)
    index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(dimension), dimension, lists, faiss.ScalarQuantizer.QT_8bit, ip)
    index.nprobe = ivf_probes(lists)
    return index


def _kind_of(index: faiss.Index) -> str:
    for cls, kind in ((faiss.IndexFlat, "flat"), (faiss.IndexScalarQuantizer, "sq8"),
                      (faiss.IndexIVFScalarQuantizer, "ivf-sq8"), (faiss.IndexHNSW, "hnsw")):
        if isinstance(index, cls):
            return kind
    raise ValueError(f"unsupported FAISS index type {type(index).__name__}")
