"""Rerankers: a stage that reorders the hybrid ranking's best candidates. One signature,
``rank(question, candidates) -> scores`` (higher is better), whatever the model behind it.

* ``LearnedReranker``: a LightGBM LambdaMART model over `rag.features` (scores and matches, no text).
  One ships, ``lambdamart`` (rag/weights/lambdamart.txt, `make reranker` retrains it): trained on 436
  analyst questions written for training over the crisis sources, chosen on the validation questions
  (its manifest beside it holds the figures). ``python -m evals.tune`` trains others.
* ``CrossEncoderReranker``: a cross-encoder read with transformers from a folder or a Hugging Face id
  (``cross-encoder/ms-marco-MiniLM-L-6-v2``, ``BAAI/bge-reranker-base``) on a machine that can fetch one;
  it reads the question and each passage (with its title) together.

``RAG_RERANKER`` names one (``lambdamart`` by default; ``none`` for the plain hybrid ranking);
``RAG_RERANK_DEPTH`` says how many candidates it reads.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import RagError
from .features import FEATURES, Candidates

MAX_TOKENS = 256  # question and passage together, as cross-encoders for passages are trained
SHIPPED = {"lambdamart": Path(__file__).resolve().parent / "weights" / "lambdamart.txt"}


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


class CrossEncoderReranker:
    """A sequence-classification transformer scoring (question, passage) pairs: its single logit, or the
    last class's where it has several (the "relevant" one, by the usual convention)."""

    def __init__(self, name: str) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(name)
            self.model = AutoModelForSequenceClassification.from_pretrained(name).eval()
        except (OSError, ValueError) as exc:
            raise RagError(f"reranker {name!r}: cannot be loaded as a cross-encoder ({str(exc).splitlines()[0]}); "
                           "name a model folder, a Hugging Face id this machine can fetch, a LightGBM file, "
                           "or none") from None
        self._torch = torch

    def rank(self, question: str, candidates: Candidates) -> np.ndarray:
        inputs = self.tokenizer([question] * len(candidates.texts), list(candidates.texts), truncation="only_second",
                                max_length=MAX_TOKENS, padding=True, return_tensors="pt")
        with self._torch.inference_mode():
            logits = self.model(**inputs).logits
        return logits[:, -1].float().numpy()


@lru_cache(maxsize=4)
def load_reranker(name: str) -> Reranker | None:
    """``none``; a shipped model's name (``lambdamart``); a LightGBM model file (``.txt``); or a
    cross-encoder's folder or Hugging Face id."""
    if name == "none":
        return None
    if name in SHIPPED:
        return LearnedReranker(SHIPPED[name])
    if name.endswith(".txt"):
        return LearnedReranker(Path(name))
    return CrossEncoderReranker(name)
