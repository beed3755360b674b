"""Training the query adapter (rag/adapter.py) on analyst questions written for training.

Each question's candidates are the hybrid ranking's best (those the reranker reads) and the dense ranking's
best 100, from the index as it is (passage vectors are never changed); those holding the evidence quote
are its positives. ``A`` starts at zero (no change) and minimises, over the questions, the softmax
cross-entropy of the positives among the candidates under cosine similarity, plus ``penalty * |A|^2`` (it
stays near no change). The penalty is chosen by 5-fold cross-validation on the training questions, by the
mean reciprocal rank of the first positive in the dense order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.adapter import QueryAdapter
from rag.embedding import Embedder
from rag.settings import get_settings
from rag.storage import Scope

from .sets import EvalSet, training_questions

DENSE_CANDIDATES = 100
PENALTIES = (1.0, 0.3, 0.1, 0.03, 0.01)
FOLDS = 5
STEPS = 100
TEMPERATURE = 0.05  # cosines of a question's candidates sit within about 0.3 of each other: sharpen them


@dataclass(frozen=True)
class Question:
    vector: np.ndarray  # the question's vector, without an adapter
    candidates: np.ndarray  # (n, dimension) passage vectors
    relevant: np.ndarray  # (n,) bool


def questions(sets: list[tuple[EvalSet, Path]], embedder: Embedder) -> list[Question]:
    """The training questions whose evidence is among their candidates, over each set's index."""
    settings = get_settings().model_copy(update={"reranker": "none", "query_adapter": "none"})
    found = []
    for engine, item, options in training_questions(sets, embedder, settings):
        store = engine.store
        query = engine.embed_question(item.question)
        ids = [int(i) for i in engine.candidates(item.question).ids]
        ids += [i for i in map(int, store.dense_search(query, DENSE_CANDIDATES, Scope()).ids) if i not in ids]
        relevant = np.array([any(ref.doc_id in docs and pattern.search(excerpt.text) for pattern, docs in options)
                             for ref, excerpt in zip(store.chunks(ids), store.excerpts(ids))])
        if relevant.any():
            found.append(Question(query, store.vectors(ids).astype(np.float32), relevant))
    return found


def fit(training: list[Question], penalty: float, steps: int = STEPS) -> np.ndarray:
    """The matrix ``A``, by full-batch Adam from zero (deterministic on one machine)."""
    import torch

    width = max(len(q.candidates) for q in training)
    dimension = training[0].vector.shape[0]
    queries = torch.tensor(np.stack([q.vector for q in training]))
    passages = torch.zeros(len(training), width, dimension)
    real = torch.zeros(len(training), width, dtype=torch.bool)
    relevant = torch.zeros(len(training), width, dtype=torch.bool)
    for i, q in enumerate(training):
        passages[i, : len(q.candidates)] = torch.tensor(q.candidates)
        real[i, : len(q.candidates)] = True
        relevant[i, : len(q.candidates)] = torch.tensor(q.relevant)
    matrix = torch.zeros(dimension, dimension, requires_grad=True)
    optimiser = torch.optim.Adam([matrix], lr=1e-3)
    for _ in range(steps):
        optimiser.zero_grad()
        moved = queries + queries @ matrix.T
        moved = moved / moved.norm(dim=1, keepdim=True)
        scores = torch.einsum("qd,qnd->qn", moved, passages) / TEMPERATURE
        every = torch.logsumexp(scores.masked_fill(~real, float("-inf")), dim=1)
        right = torch.logsumexp(scores.masked_fill(~relevant, float("-inf")), dim=1)
        loss = (every - right).mean() + penalty * (matrix ** 2).sum()
        loss.backward()
        optimiser.step()
    return matrix.detach().numpy().astype(np.float32)


def mrr(held_out: list[Question], matrix: np.ndarray) -> float:
    """Mean reciprocal rank of each question's first relevant candidate, by cosine to the moved question."""
    adapter = QueryAdapter(matrix, "")
    ranks = []
    for q in held_out:
        order = np.argsort(-(q.candidates @ adapter.apply(q.vector)), kind="stable")
        ranks.append(1 / (1 + int(np.flatnonzero(q.relevant[order])[0])))
    return float(np.mean(ranks))


def choose(training: list[Question], seed: int = 0) -> tuple[float, dict[str, float]]:
    """The penalty with the best cross-validated MRR, and every penalty's (``none``: no adapter)."""
    folds = np.random.default_rng(seed).permutation(len(training)) % FOLDS
    figures = {"none": mrr(training, np.zeros((training[0].vector.shape[0],) * 2, np.float32))}
    for penalty in PENALTIES:
        scores = []
        for fold in range(FOLDS):
            fitted = fit([q for q, f in zip(training, folds) if f != fold], penalty)
            scores.append(mrr([q for q, f in zip(training, folds) if f == fold], fitted))
        figures[str(penalty)] = float(np.mean(scores))
    best = max(PENALTIES, key=lambda p: figures[str(p)])
    return best, figures
