"""Learning the abstention model (rag/abstention.py) from analyst questions written for training.

Every training question is asked through the served pipeline with the fixed rules alone; those the rules
already decline are left out (the model never sees them). Each other gives one example: the features the
model reads of its best passages, labelled by whether the question is answerable. A logistic regression
(classes weighted equally, an L2 penalty chosen by cross-validation over the questions) learns the odds that
the passages miss the answer; the threshold is the one that, in cross-validation, declines ``DECLINED`` of
the answerable questions. The validation questions, written apart, only check the result: a threshold set
on them to decline 2% of their own answerable questions traded 3 more of those for 1 more unanswerable one
(README, Relevance).

Smaller indexes get their own thresholds (``size_thresholds``): subsets of the training corpus of ``SIZES``
chunks, each holding the documents of some answerable training questions and other documents at random,
are indexed; at each the threshold is the one that declines ``DECLINED`` of the answerable questions whose
documents it holds, the rules' declines included.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from rag import Document, Engine
from rag.abstention import FEATURES, Abstention
from rag.chunking import chunk_spans
from rag.embedding import Embedder
from rag.retrieve import index_config
from rag.settings import Settings

from .runner import cached_index
from .sets import EvalSet

PENALTIES = (1.0, 0.1, 0.01, 0.001)
FOLDS = 5
DECLINED = 0.02  # of the answerable training questions, in cross-validation: the test sets' bound is 0.05
# The smallest index a model without measured sizes is applied to. Its features weigh words by IDF, which
# singles out rare words only in a collection of thousands of passages: in a small one ordinary words are as
# absent as an unknown name. At its own threshold, stop 23's model declined 5.4% of the answerable training
# questions at 5,000 chunks and 2.9% at 10,000 (README, Relevance).
MIN_CHUNKS = 10_000
SIZES = (500, 1_000, 2_000, 5_000, 10_000)  # chunks of the subsets the thresholds are measured on


@dataclass(frozen=True)
class Examples:
    features: np.ndarray  # (questions, FEATURES)
    unanswered: np.ndarray  # (questions,) bool
    questions: tuple[str, ...]
    declined_by_rules: dict[str, int]  # per label, questions the fixed rules declined (left out)


def examples(sets: list[tuple[EvalSet, Path]], embedder: Embedder, settings: Settings) -> Examples:
    rules = settings.model_copy(update={"abstention": "rule"})
    rows, labels, questions, declined = [], [], [], {"answerable": 0, "unanswerable": 0}
    for eval_set, index in sets:
        engine = Engine.open(index, settings=rules, embedder=embedder)
        for item in eval_set.items:
            if engine.ask(item.question, 5, "hybrid").abstained:
                declined["answerable" if item.answerable else "unanswerable"] += 1
                continue
            rows.append(engine.abstention_evidence(item.question).features)
            labels.append(not item.answerable)
            questions.append(item.question)
    return Examples(np.array(rows), np.array(labels, dtype=bool), tuple(questions), declined)


def _loss(params: np.ndarray, x: np.ndarray, y: np.ndarray, sample: np.ndarray, penalty: float):
    z = x @ params[:-1] + params[-1]
    p = 1.0 / (1.0 + np.exp(-z))
    eps = 1e-12
    loss = -(sample * (y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps))).sum() / sample.sum()
    g = sample * (p - y) / sample.sum()
    gradient = np.concatenate([x.T @ g + 2 * penalty * params[:-1], [g.sum()]])
    return loss + penalty * float(params[:-1] @ params[:-1]), gradient


def fit(data: Examples, penalty: float, threshold: float = 0.5) -> Abstention:
    mean = data.features.mean(axis=0)
    scale = data.features.std(axis=0)
    scale[scale == 0] = 1.0
    x = (data.features - mean) / scale
    y = data.unanswered.astype(np.float64)
    # Each class weighs as much as the other: there are far fewer unanswerable questions.
    sample = np.where(data.unanswered, 0.5 / max(y.sum(), 1), 0.5 / max(len(y) - y.sum(), 1))
    result = minimize(_loss, np.zeros(x.shape[1] + 1), args=(x, y, sample, penalty), jac=True, method="L-BFGS-B")
    return Abstention(result.x[:-1], float(result.x[-1]), mean, scale, threshold, MIN_CHUNKS)


def _subset(data: Examples, keep: np.ndarray) -> Examples:
    return Examples(data.features[keep], data.unanswered[keep],
                    tuple(q for q, k in zip(data.questions, keep) if k), data.declined_by_rules)


def folds(questions: tuple[str, ...], seed: int) -> np.ndarray:
    """Each question's fold, from its text: the folds (and so the penalty chosen) do not move with the
    order the sets are listed in."""
    return np.array([int.from_bytes(hashlib.blake2b(f"{seed}\0{q}".encode(), digest_size=8).digest(), "big") % FOLDS
                     for q in questions])


def cross_validated(data: Examples, penalty: float, seed: int) -> np.ndarray:
    """Each question's P(unanswered) from a model that did not learn from it."""
    fold = folds(data.questions, seed)
    held = np.zeros(len(fold))
    for k in range(FOLDS):
        held[fold == k] = fit(_subset(data, fold != k), penalty).unanswered(data.features[fold == k])
    return held


def choose(data: Examples, seed: int = 0) -> tuple[Abstention, dict[str, dict[str, float]]]:
    """The model whose cross-validated odds decline the most unanswerable questions at a threshold that
    declines ``DECLINED`` of the answerable ones; every penalty's figures."""
    figures, best = {}, None
    for penalty in PENALTIES:
        held = cross_validated(data, penalty, seed)
        threshold = float(np.quantile(held[~data.unanswered], 1 - DECLINED))
        caught = float((held[data.unanswered] > threshold).mean())
        figures[str(penalty)] = {"threshold": threshold, "unanswerable_declined": caught,
                                 "answerable_declined": float((held[~data.unanswered] > threshold).mean())}
        if best is None or caught > best[1]:
            best = (penalty, caught, threshold)
    penalty, _, threshold = best
    return fit(data, penalty, threshold), figures


def declined(model: Abstention | None, data: Examples) -> dict[str, float]:
    """Shares declined of the answerable and unanswerable questions of ``data``, the fixed rules' share included."""
    said = model.unanswered(data.features) > model.threshold if model else np.zeros(len(data.unanswered), bool)
    rules = data.declined_by_rules
    out = {}
    for label, mask in (("answerable", ~data.unanswered), ("unanswerable", data.unanswered)):
        total = int(mask.sum()) + rules[label]
        out[label] = (int(said[mask].sum()) + rules[label]) / total if total else 0.0
    return out


def subset(documents: list[Document], items: list, chunks: dict[str, int], target: int, seed: int) -> list[Document]:
    """About ``target`` chunks of ``documents``: those of answerable ``items``, in a seeded order, up to half of
    it, then others at random. An index that answers some questions and holds much else besides."""
    rng = random.Random(seed)
    chosen: set[str] = set()
    total = 0
    for item in rng.sample(items, len(items)):
        need = {d for t in item.targets for d in t.doc_ids} - chosen
        if item.answerable and total + sum(chunks[d] for d in need) <= target / 2:
            chosen |= need
            total += sum(chunks[d] for d in need)
    for document in rng.sample(documents, len(documents)):
        if total >= target:
            break
        if document.doc_id not in chosen and total + chunks[document.doc_id] <= target * 1.05:
            chosen.add(document.doc_id)
            total += chunks[document.doc_id]
    return [d for d in documents if d.doc_id in chosen]


def size_thresholds(model: Abstention, chunks: int, sets: list[EvalSet], documents: list[Document],
                    embedder: Embedder, settings: Settings, cache_dir: Path,
                    seed: int = 0) -> tuple[Abstention, list[dict]]:
    """``model`` with thresholds for indexes of ``SIZES`` chunks (``chunks``: the index it learned from, whose
    threshold it keeps), applied from the smallest; each size's figures. A smaller index never gets a lower
    threshold than a larger one."""
    items = [item for s in sets for item in s.items]
    chunker = index_config(settings, embedder).chunker
    counts = {d.doc_id: len(chunk_spans(d.text, chunker)) for d in documents}
    rules = settings.model_copy(update={"abstention": "rule"})
    measured, asked = [], []
    for target in SIZES:
        part = subset(documents, items, counts, target, seed)
        index = cached_index([Path(f"abstention-subset-{target}")], part, cache_dir, embedder, "abstention", settings)
        engine = Engine.open(index, settings=rules, embedder=embedder)
        held = {d.doc_id for d in part}
        found = {}
        for label, chosen in (("answerable", [i for i in items if i.answerable
                                              and all(d in held for t in i.targets for d in t.doc_ids)]),
                              ("unanswerable", [i for i in items if not i.answerable])):
            by_rules = np.array([engine.ask(i.question, 5, "hybrid").abstained for i in chosen], dtype=bool)
            odds = np.array([model.unanswered(engine.abstention_evidence(i.question).features) for i in chosen])
            found[label] = (by_rules, odds)
        by_rules, odds = found["answerable"]
        budget = int(DECLINED * len(odds)) - int(by_rules.sum())
        passed = np.sort(odds[~by_rules])[::-1]
        threshold = 1.0 if budget < 0 else float(passed[budget]) if budget < len(passed) else 0.0
        measured.append({"target": target, "chunks": engine.store.stats().chunks, "answerable": len(odds),
                         "threshold": threshold})
        asked.append(found)
    floor = model.threshold
    for row, found in reversed(list(zip(measured, asked))):
        row["threshold"] = floor = max(row["threshold"], floor)
        row["declined"] = {label: {"rules": float(by_rules.mean()),
                                   "learned": float((by_rules | (odds > floor)).mean())}
                           for label, (by_rules, odds) in found.items()}
    sizes = tuple((row["chunks"], row["threshold"]) for row in measured) + ((chunks, model.threshold),)
    return dataclasses.replace(model, min_chunks=sizes[0][0], sizes=sizes), measured
