"""Rerankers: a stage that reorders the fused best candidates. One signature, ``rank(question, candidates)
-> scores`` (higher is better), whatever the model behind it.

The learned one is a LightGBM LambdaMART model over `rag.features` (scores and matches, no text), trained
by ``python -m evals.tune`` on questions mined from the briefing transcripts and chosen on a validation
set of analyst questions; the model file ships in ``rag/reranker/`` with a manifest of its data and figures.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import RagError
from .features import FEATURES, Candidates

SHIPPED = Path(__file__).resolve().parent / "reranker" / "lambdamart.txt"


class Reranker(Protocol):
    def rank(self, question: str, candidates: Candidates) -> np.ndarray: ...


class LearnedReranker:
    """A LightGBM ranking model over ``FEATURES``, read from its text file."""

    def __init__(self, path: Path) -> None:
        import lightgbm  # only where a learned reranker is used

        self.path = Path(path)
        try:
            self.booster = lightgbm.Booster(model_file=str(self.path))
        except (lightgbm.basic.LightGBMError, OSError) as exc:
            raise RagError(f"{self.path}: not a LightGBM model ({exc}); set RAG_RERANKER=none to go without") from None
        manifest = self.path.with_suffix(".json")
        features = json.loads(manifest.read_text())["features"] if manifest.exists() else list(FEATURES)
        if tuple(features) != FEATURES:
            raise RagError(f"{self.path} was trained on other features ({len(features)}); retrain it with "
                           "`python -m evals.tune` or set RAG_RERANKER=none")

    def rank(self, question: str, candidates: Candidates) -> np.ndarray:
        return np.asarray(self.booster.predict(candidates.features, num_threads=1), dtype=np.float32)


@lru_cache(maxsize=4)
def load_reranker(name: str) -> Reranker | None:
    """``none``; ``learned`` (the shipped model, or none when it is absent); or a model file's path."""
    if name == "none":
        return None
    if name == "learned":
        return LearnedReranker(SHIPPED) if SHIPPED.exists() else None
    return LearnedReranker(Path(name))
