"""Retrieval metrics over one question's ranking, and their averages over a set.

Rankings are lists of ids, best first; ranks are 1-based. Each function is checked against hand-computed
examples in tests/test_eval_metrics.py, and the ranking metrics against ranx.
"""

from __future__ import annotations

import math
import re
from typing import Collection, Iterable, Mapping, Sequence

import numpy as np


def span_pattern(span: str) -> re.Pattern[str]:
    """A pattern for ``span`` that ignores how whitespace is laid out (line breaks, double spaces)."""
    return re.compile(r"\s+".join(re.escape(word) for word in span.split()))


def first_rank(flags: Iterable[bool]) -> int | None:
    """The 1-based rank of the first true flag, or None when there is none."""
    return next((rank for rank, flag in enumerate(flags, 1) if flag), None)


def hit_rate(ranks: Sequence[int | None], k: int) -> float:
    """Share of questions whose first hit is within the top ``k`` (hit@k)."""
    return mean([1.0 if rank is not None and rank <= k else 0.0 for rank in ranks])


def _relevance(relevant: Collection[str] | Mapping[str, int]) -> Mapping[str, int]:
    return relevant if isinstance(relevant, Mapping) else {doc: 1 for doc in relevant}


def reciprocal_rank(ranking: Sequence[str], relevant: Collection[str] | Mapping[str, int], k: int) -> float:
    gains = _relevance(relevant)
    rank = first_rank(gains.get(doc, 0) > 0 for doc in ranking[:k])
    return 1.0 / rank if rank else 0.0


def recall(ranking: Sequence[str], relevant: Collection[str] | Mapping[str, int], k: int) -> float:
    """Share of the relevant documents found in the top ``k``."""
    wanted = {doc for doc, gain in _relevance(relevant).items() if gain > 0}
    return len(wanted.intersection(ranking[:k])) / len(wanted) if wanted else 0.0


def ndcg(ranking: Sequence[str], relevant: Collection[str] | Mapping[str, int], k: int) -> float:
    """nDCG@k with linear gains (the relevance grade itself), as ranx and trec_eval compute it."""
    gains = _relevance(relevant)
    dcg = sum(gains.get(doc, 0) / math.log2(rank + 1) for rank, doc in enumerate(ranking[:k], 1))
    ideal = sorted((g for g in gains.values() if g > 0), reverse=True)[:k]
    idcg = sum(gain / math.log2(rank + 1) for rank, gain in enumerate(ideal, 1))
    return dcg / idcg if idcg else 0.0


def abstention(abstained: Sequence[bool], unanswerable: Sequence[bool]) -> tuple[float | None, float | None]:
    """Precision and recall of abstaining as a detector of unanswerable questions (None when undefined)."""
    caught = sum(a and u for a, u in zip(abstained, unanswerable))
    precision = caught / sum(abstained) if any(abstained) else None
    recall_ = caught / sum(unanswerable) if any(unanswerable) else None
    return precision, recall_


def mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linearly interpolated; 0 for no values."""
    return float(np.percentile(values, q)) if len(values) else 0.0
