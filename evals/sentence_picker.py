"""Learning the sentence picker's weights (rag/sentence_picker.py) from analyst questions written for training.

Each training question is asked through the served pipeline; every candidate passage that holds its evidence
quote gives one example: its sentences with the features the picker reads, the ones overlapping the quote
marked right (as the eval judges a sentence hit). The weights minimise a softmax loss over each passage's
sentences, with an L2 penalty toward the hand rule, chosen by cross-validation over the questions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from rag.embedding import Embedder
from rag.sentence_picker import RULE, SentencePicker
from rag.settings import Settings

from .sets import EvalSet, training_questions

PENALTIES = (1.0, 0.1, 0.01, 0.001)
FOLDS = 5
TEMPERATURE = 0.05  # the rule's scores of one passage's sentences lie within a few tenths: sharpen them


@dataclass(frozen=True)
class Example:
    question: int  # which training question (folds keep a question's passages together)
    features: np.ndarray  # (sentences, FEATURES)
    right: np.ndarray  # (sentences,) bool: overlaps the evidence quote
    headings: np.ndarray  # (sentences,) bool: never picked


def examples(sets: list[tuple[EvalSet, Path]], embedder: Embedder, settings: Settings) -> list[Example]:
    """One example per candidate passage holding a training question's evidence, with a choice to make
    (two sentences or more, some right and some not)."""
    found: list[Example] = []
    for asked, (engine, item, options) in enumerate(training_questions(sets, embedder, settings)):
        store = engine.store
        ids = [int(i) for i in engine.candidates(item.question).ids]
        spans = {}
        for row, ref, excerpt in zip(ids, store.chunks(ids), store.excerpts(ids)):
            found_spans = [(ref.start + m.start(), ref.start + m.end()) for pattern, docs in options
                           if ref.doc_id in docs for m in pattern.finditer(excerpt.text)]
            if found_spans:
                spans[row] = found_spans
        for row, (sentences, table) in zip(spans, engine.sentence_tables(item.question, list(spans))):
            right = np.array([any(s.start < hi and s.end > lo for lo, hi in spans[row]) for s in sentences])
            choosable = ~table.headings
            if right[choosable].any() and not right[choosable].all():
                found.append(Example(asked, table.features, right, table.headings))
    return found


def _loss(weights: np.ndarray, data: list[Example], penalty: float, rule: np.ndarray) -> tuple[float, np.ndarray]:
    total, gradient = 0.0, np.zeros_like(weights)
    for example in data:
        x = example.features[~example.headings].astype(np.float64)
        right = example.right[~example.headings]
        scores = x @ weights / TEMPERATURE
        scores -= scores.max()
        p = np.exp(scores)
        p_all = p / p.sum()
        p_right = np.where(right, p, 0.0) / p[right].sum()
        total += -np.log(p[right].sum() / p.sum())
        gradient += (p_all - p_right) @ x / TEMPERATURE
    n = len(data)
    return total / n + penalty * float(((weights - rule) ** 2).sum()), gradient / n + 2 * penalty * (weights - rule)


def fit(data: list[Example], penalty: float) -> SentencePicker:
    rule = SentencePicker.of(RULE).weights.astype(np.float64)
    result = minimize(_loss, rule, args=(data, penalty, rule), jac=True, method="L-BFGS-B",
                      options={"maxiter": 500})
    return SentencePicker(result.x.astype(np.float32))


def accuracy(data: list[Example], picker: SentencePicker) -> float:
    """Share of examples whose highest-scored sentence (headings aside) is a right one."""
    hits = []
    for example in data:
        scores = picker.scores(example.features)
        scores[example.headings] = -np.inf
        hits.append(bool(example.right[int(np.argmax(scores))]))
    return float(np.mean(hits))


def choose(data: list[Example], seed: int = 0) -> tuple[float, dict[str, float]]:
    """The penalty with the best cross-validated accuracy, and every penalty's (``rule``: the hand rule)."""
    questions = sorted({e.question for e in data})
    fold_of = dict(zip(questions, np.random.default_rng(seed).permutation(len(questions)) % FOLDS))
    figures = {"rule": accuracy(data, SentencePicker.of(RULE))}
    for penalty in PENALTIES:
        right = []
        for fold in range(FOLDS):
            fitted = fit([e for e in data if fold_of[e.question] != fold], penalty)
            held = [e for e in data if fold_of[e.question] == fold]
            right.append(accuracy(held, fitted) * len(held))
        figures[str(penalty)] = float(sum(right) / len(data))
    best = max(PENALTIES, key=lambda p: figures[str(p)])
    return best, figures
