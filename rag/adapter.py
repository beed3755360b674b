"""A query adapter: a learned linear map on the question's vector, ``q' = normalise(q + A q)``.

The bundled model was trained on web questions; analysts ask about briefings and statements in another
voice. The adapter moves the question's vector, not the passages', so an index built without it stays valid
and nothing is embedded again: it changes the rankings and the sentence chosen; cosine thresholds
(abstention) still read the unmoved vector they were set on. One ships, ``default``
(rag/weights/query_adapter.npy, with its manifest): trained on the analyst questions written for training
(`make reranker` retrains it, then the reranker, which learns from the plain ranking's candidates and is
chosen with the adapter in front), for the bundled model only. ``RAG_QUERY_ADAPTER`` names
it, ``none``, or a ``.npy`` file that `python -m evals.tune` wrote; the default applies only where the
embedder is the model it was trained for, as another model's vectors live in another space.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .embedding import INT8_SUFFIX, normalise
from .errors import RagError

SHIPPED = Path(__file__).resolve().parent / "weights" / "query_adapter.npy"


@dataclass(frozen=True)
class QueryAdapter:
    matrix: np.ndarray  # (dimension, dimension), float32
    model: str  # the embedder's name it was trained for

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """Each row of ``vectors`` (question vectors) moved and normalised again."""
        return normalise(vectors + vectors @ self.matrix.T)

    def save(self, path: Path, manifest: dict) -> None:
        """The matrix as ``path`` (.npy) and ``manifest`` (what it was trained on, how it was chosen) beside it."""
        np.save(path, self.matrix.astype(np.float32))
        path.with_suffix(".json").write_text(json.dumps({"model": self.model, **manifest}, indent=1) + "\n")


def read_adapter(path: Path) -> QueryAdapter:
    try:
        matrix = np.load(path, allow_pickle=False)
        model = json.loads(path.with_suffix(".json").read_text())["model"]
    except (OSError, ValueError, KeyError) as exc:
        raise RagError(f"{path}: not a query adapter with its manifest beside it ({exc}); "
                       "set RAG_QUERY_ADAPTER=none to go without") from None
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise RagError(f"{path}: a query adapter is a square matrix, not {matrix.shape}")
    return QueryAdapter(matrix.astype(np.float32), model)


@lru_cache(maxsize=4)
def load_adapter(name: str, model: str, dimension: int) -> QueryAdapter | None:
    """The adapter ``name`` names (``default``, ``none`` or a .npy file) for an embedder called ``model``:
    None for ``none``, and for ``default`` under another model than the shipped one was trained for."""
    if name == "none":
        return None
    adapter = read_adapter(SHIPPED if name == "default" else Path(name))
    if adapter.model.removesuffix(INT8_SUFFIX) != model.removesuffix(INT8_SUFFIX):  # int8 approximates fp32
        if name == "default":
            return None
        raise RagError(f"{name}: a query adapter for {adapter.model}, not for {model}; retrain it with "
                       "`python -m evals.tune --adapter` or set RAG_QUERY_ADAPTER=none")
    if adapter.matrix.shape[0] != dimension:
        raise RagError(f"{name}: a query adapter for {adapter.matrix.shape[0]}-dimension vectors, not {dimension}")
    return adapter
