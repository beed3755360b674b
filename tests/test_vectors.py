"""The FAISS index kinds: exact or near-exact search, masks, reconstruction, memory-mapped loading."""

from concurrent.futures import ThreadPoolExecutor

import faiss
import numpy as np
import pytest

from rag import vectors
from rag.vectors import VectorIndex

DIMENSION = 32


def clustered(count: int, seed: int = 0) -> np.ndarray:
    """Unit vectors around 50 centres, like sentence embeddings (which are far from uniform)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((50, DIMENSION))
    points = centres[rng.integers(0, 50, count)] + 0.4 * rng.standard_normal((count, DIMENSION))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    return clustered(6000), clustered(40, seed=1)


def exact_top(data_vectors, query, k, rows=None):
    rows = np.arange(len(data_vectors)) if rows is None else rows
    return rows[np.argsort(-(data_vectors[rows] @ query), kind="stable")[:k]]


@pytest.mark.parametrize("kind", ["flat", "sq8", "ivf-sq8", "hnsw"])
def test_each_kind_finds_the_exact_neighbours_after_a_save_and_mapped_load(tmp_path, data, kind):
    points, queries = data
    VectorIndex.build(points, kind).save(tmp_path / "dense.faiss")
    index = VectorIndex.read((tmp_path / "dense.faiss").read_bytes())
    assert (index.kind, index.size, index.dimension) == (kind, len(points), DIMENSION)
    found = [set(index.search(q, 10)[0].tolist()) for q in queries]
    recall = np.mean([len(f & set(exact_top(points, q, 10).tolist())) / 10 for f, q in zip(found, queries)])
    assert recall >= (1.0 if kind == "flat" else 0.9)
    rows, scores = index.search(queries[0], 10)
    assert rows.dtype == np.int64 and np.all(np.diff(scores) <= 1e-6)
    assert np.allclose(index.reconstruct(rows) @ queries[0], scores, atol=0.02)


@pytest.mark.parametrize("kind", ["flat", "sq8", "ivf-sq8", "hnsw"])
@pytest.mark.parametrize("exact_subset_rows", [0, vectors.EXACT_SUBSET_ROWS])
def test_a_mask_keeps_results_inside_it(monkeypatch, data, kind, exact_subset_rows):
    """Both ways a masked search runs: faiss with a bitmap selector, and (HNSW) exact scoring of the kept rows."""
    monkeypatch.setattr(vectors, "EXACT_SUBSET_ROWS", exact_subset_rows)
    points, queries = data
    index = VectorIndex.build(points, kind)
    mask = np.zeros(len(points), dtype=bool)
    mask[np.random.default_rng(2).choice(len(points), 300, replace=False)] = True
    kept = np.flatnonzero(mask)
    hits = []
    for query in queries:
        rows, _ = index.search(query, 10, mask)
        assert mask[rows].all() and len(rows) > 0
        hits.append(len(set(rows.tolist()) & set(exact_top(points, query, 10, kept).tolist())) / 10)
    assert np.mean(hits) >= 0.9


def test_reconstruct_returns_the_stored_vectors(data):
    points, _ = data
    rows = [5, 0, 4321]
    assert np.array_equal(VectorIndex.build(points, "flat").reconstruct(rows), points[rows])
    for kind in ("sq8", "ivf-sq8", "hnsw"):
        decoded = VectorIndex.build(points, kind).reconstruct(rows)
        assert decoded.shape == (3, DIMENSION) and np.all(np.sum(decoded * points[rows], axis=1) > 0.99)
    assert VectorIndex.build(points, "flat").reconstruct([]).shape == (0, DIMENSION)


def test_auto_is_exact_for_small_corpora_and_compact_for_large(monkeypatch, data):
    points, _ = data
    assert VectorIndex.build(points).kind == "flat"
    monkeypatch.setattr(vectors, "AUTO_FLAT_UP_TO", 1000)
    assert VectorIndex.build(points).kind == "ivf-sq8"


def test_an_index_written_by_plain_faiss_loads_as_flat(tmp_path, data):
    points, queries = data
    flat = faiss.IndexFlatIP(DIMENSION)
    flat.add(points)
    faiss.write_index(flat, str(tmp_path / "dense.faiss"))
    index = VectorIndex.read((tmp_path / "dense.faiss").read_bytes())
    assert index.kind == "flat"
    assert index.search(queries[0], 5)[0].tolist() == exact_top(points, queries[0], 5).tolist()


def test_ivf_sizes_grow_with_the_corpus():
    assert vectors.ivf_lists(100) == 1
    assert vectors.ivf_lists(100_000) == 256 and vectors.ivf_lists(1_000_000) == 1024


def test_a_search_from_another_thread_runs_faiss_on_one_thread(data):
    """OpenMP keeps the thread count per thread, and the HTTP service searches from worker threads."""
    points, queries = data
    index = VectorIndex.build(points, "flat")

    def search_then_count_threads() -> int:
        index.search(queries[0], 10)
        return faiss.omp_get_max_threads()

    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(search_then_count_threads).result() == 1
