"""Whether the best passages found answer the question, or the answer should decline.

Fixed rules decline first (rag.retrieve): a question only about months after the newest source, no passage
within ``RAG_ABSTAIN_BELOW`` cosine, a name no source mentions with no passage close. What passes them is
often still unanswered: a question about a later event or a detail the sources never give finds passages on
the same topic, as close in cosine as the passages that do answer. What tells them apart is what the
passages lack: the question's rarest words, its names, a year after the sources. A logistic model over
those reads the ranking's best ``HEAD`` passages and declines when the odds that they miss the answer pass
the threshold for the index's size: in a smaller index fewer words are rare, so its odds run higher for
answerable questions too, and the threshold rises (measured on subsets of the index it learned from).

The shipped weights (rag/weights/abstention.json, ``RAG_ABSTENTION=default``) are learned by
``python -m evals.tune --abstention`` (evals/abstention.py) from analyst questions written for training,
answerable and not; the threshold declines 2% of the answerable ones in cross-validation. ``rule`` keeps
the fixed rules alone. The model reads the hybrid ranking only, which it was trained on.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import RagError
from .lexical import ASKING, idf, idf_weights, tokenize, unknown
from .names import names
from .storage import Store

FEATURES = (
    "similarity",  # cosine of the question's own vector to the best passage
    "second_similarity",  # to the second best
    "coverage",  # share of the question's IDF weight among the best passage's words (title included)
    "coverage_head",  # among the words of all HEAD passages
    "rare_missing",  # share of the question's 3 rarest words that no HEAD passage holds
    "unknown_terms",  # share of the question's IDF weight in words no chunk holds
    "missing_idf",  # IDF of the rarest question word no HEAD passage holds, over that of a word no chunk holds
    "unknown_names",  # names the question gives that no source mentions
    "names_missing",  # share of the question's names no HEAD passage holds
    "later_year",  # the question names a year after the newest source's
)
HEAD = 5
SHIPPED = Path(__file__).resolve().parent / "weights" / "abstention.json"
_YEAR = re.compile(r"\b((?:19|20)\d\d)\b")


@dataclass(frozen=True)
class Evidence:
    """What the abstention model reads of one question and its best passages."""

    features: np.ndarray  # (len(FEATURES),) float32
    missing: list[str]  # the question's words no best passage holds, rarest first: why it declines


@dataclass(frozen=True)
class Abstention:
    """A logistic model over standardised ``FEATURES``: declines when P(unanswered) exceeds the threshold for
    the index's size (``threshold_at``)."""

    weights: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray
    threshold: float  # for the index it learned from, and larger ones
    min_chunks: int  # the model applies to indexes this large: see ``threshold_at``
    # (chunks, threshold) ascending, measured on subsets of the index it learned from, that index last
    sizes: tuple[tuple[int, float], ...] = ()

    def threshold_at(self, chunks: int) -> float | None:
        """The threshold for an index of ``chunks``: between measured sizes, interpolated in log(chunks);
        None below ``min_chunks``, where IDF cannot single out rare words (in a 20-chunk article "tanks" and
        "border" are as absent as a name it never mentions) and the fixed rules alone decide."""
        if chunks < self.min_chunks:
            return None
        below = [(n, t) for n, t in self.sizes if n <= chunks]
        above = [(n, t) for n, t in self.sizes if n > chunks]
        if not above:
            return self.threshold
        if not below:
            return above[0][1]
        (n0, t0), (n1, t1) = below[-1], above[0]
        return t0 + (t1 - t0) * math.log(chunks / n0) / math.log(n1 / n0)

    def unanswered(self, features: np.ndarray) -> np.ndarray:
        """P(the passages do not answer), for one row of ``FEATURES`` or a matrix of them."""
        z = ((features - self.mean) / self.scale) @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def declines(self, evidence: Evidence, chunks: int) -> bool:
        threshold = self.threshold_at(chunks)
        return threshold is not None and bool(self.unanswered(evidence.features) > threshold)

    def as_dict(self) -> dict:
        return {"features": list(FEATURES), "weights": [round(float(w), 6) for w in self.weights],
                "bias": round(self.bias, 6), "mean": [round(float(m), 6) for m in self.mean],
                "scale": [round(float(s), 6) for s in self.scale], "threshold": round(self.threshold, 6),
                "min_chunks": self.min_chunks, "sizes": [[n, round(t, 6)] for n, t in self.sizes]}

    @classmethod
    def from_dict(cls, data: dict) -> "Abstention":
        if data["features"] != list(FEATURES):
            raise ValueError(f"trained on other features ({len(data['features'])})")
        return cls(np.array(data["weights"], dtype=np.float64), float(data["bias"]),
                   np.array(data["mean"], dtype=np.float64), np.array(data["scale"], dtype=np.float64),
                   float(data["threshold"]), int(data["min_chunks"]),
                   tuple((int(n), float(t)) for n, t in data.get("sizes", [])))


def evidence(store: Store, question: str, own: np.ndarray, rows: np.ndarray) -> Evidence:
    """The features of ``question`` (``own``: its unadapted vector) against the ranking ``rows``' first ``HEAD``."""
    keys = [int(r) for r in rows[:HEAD]]
    similarity = np.sort(store.vectors(keys) @ own)[::-1] if keys else np.zeros(0)
    excerpts = store.excerpts(keys)
    tokens = tokenize([question] + [f"{e.title} {e.text}" for e in excerpts])
    terms = set(tokens[0]) - ASKING
    stats = store.term_stats(sorted(terms))
    weights = idf_weights(terms, stats)
    total = sum(weights.values()) or 1.0
    passages = [set(t) for t in tokens[1:]] or [set()]
    held = set().union(*passages)
    words = re.findall(r"[\w'’-]+", question)
    stems = tokenize(words)
    # Rarest first; among equally rare words, names before other words, then the question's order.
    place = {s[0]: (not w[0].isupper(), i) for i, (w, s) in reversed(list(enumerate(zip(words, stems)))) if s}
    rarest = sorted(terms, key=lambda t: (-weights[t], place.get(t, (True, len(words)))))
    missing_terms = [t for t in rarest if t not in held]
    asked = names(question)
    name_terms = [set(t) for t in tokenize(asked)]
    last = store.stats().date_range
    features = np.array([
        similarity[0] if len(similarity) else 0.0,
        similarity[1] if len(similarity) > 1 else 0.0,
        sum(weights[t] for t in terms & passages[0]) / total,
        sum(weights[t] for t in terms & held) / total,
        sum(t not in held for t in rarest[:3]) / max(min(len(rarest), 3), 1),
        sum(weights[t] for t in terms if not stats.frequencies.get(t, 0)) / total,
        (weights[missing_terms[0]] if missing_terms else 0.0) / idf(0, stats.chunks),
        len(unknown(store, asked)),
        sum(bool(t) and not (t & held) for t in name_terms) / max(len(asked), 1),
        float(bool(last) and any(int(y) > last[1].year for y in _YEAR.findall(question))),
    ], dtype=np.float64)
    order = {t: i for i, t in enumerate(missing_terms)}
    said = {w: order[s[0]] for w, s in zip(words, stems) if s and s[0] in order}  # each word once, its stem's place
    return Evidence(features, sorted(said, key=said.__getitem__))


@lru_cache(maxsize=4)
def load_abstention(name: str) -> Abstention | None:
    """``default`` (the shipped model), ``rule`` (the fixed rules alone: None) or a .json file that
    ``python -m evals.tune --abstention`` wrote."""
    if name == "rule":
        return None
    path = SHIPPED if name == "default" else Path(name)
    try:
        return Abstention.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RagError(f"{path}: not an abstention model ({exc}); set RAG_ABSTENTION=rule to go without") from None
