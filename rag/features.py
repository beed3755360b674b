"""What a reranker knows of each fused candidate: features (scores and matches) for a learned model over
them, and the passage's text for a model that reads it (a cross-encoder).

Only signals that exist alike for any question and any passage: the retrievers' scores and ranks, how
close the passage's best sentences come to the question, how much of the question's rare words the passage,
its best sentence and its title hold, how the passage stands among the other candidates of its document,
and whether a date or speaker the question names matches. No feature says how a training pair was mined,
so a model trained on reporters' questions cannot learn the mining instead of relevance.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .lexical import idf_weights, tokenize
from .segment import dense_text
from .speakers import names_speaker
from .storage import Hits, Store

FEATURES = (
    "fused", "fused_gap", "fused_rank", "dense", "dense_gap", "dense_rank", "bm25", "bm25_rank",
    "sentence_best", "sentence_gap", "sentence_second", "coverage", "sentence_coverage", "title_coverage",
    "doc_gap", "doc_candidates", "rank_in_doc", "dated", "speaker", "before_fused", "after_fused", "asks",
)


@dataclass(frozen=True)
class Candidates:
    """The fused best passages of one question, with a row of ``FEATURES`` each."""

    ids: np.ndarray
    scores: np.ndarray  # fused
    features: np.ndarray  # (len(ids), len(FEATURES)) float32
    texts: list[str]  # each passage as the embedder reads it: title, then the chunk


def candidate_features(store: Store, question: str, query: np.ndarray, ids: np.ndarray, fused: np.ndarray,
                       dense: Hits, lexical: Hits, windows: Sequence[tuple[dt.date, dt.date]],
                       speaker: str | None) -> Candidates:
    n = len(ids)
    keys = [int(i) for i in ids]
    refs = store.chunks(keys)
    excerpts = store.excerpts(keys)
    sentences = store.sentences(keys)
    vectors = store.vectors(keys)
    cosine = vectors @ query
    flat = [s for key in keys for s in sentences[key]]
    sentence_cosine = store.sentence_vectors([s.id for s in flat]) @ query if flat else np.zeros(0)

    texts = [e.text for e in excerpts]
    sentence_texts = [excerpts[i].text[s.start - refs[i].start : s.end - refs[i].start]
                      for i, key in enumerate(keys) for s in sentences[key]]
    tokens = iter(tokenize([question] + texts + [e.title for e in excerpts] + sentence_texts))
    terms = set(next(tokens))
    weights = idf_weights(terms, store.term_stats(sorted(terms)))
    total = sum(weights.values()) or 1.0

    def coverage(words: list[str]) -> float:
        return sum(weights[t] for t in terms & set(words)) / total

    chunk_cover = [coverage(next(tokens)) for _ in texts]
    title_cover = [coverage(next(tokens)) for _ in excerpts]
    rows = np.zeros((n, len(FEATURES)), dtype=np.float32)
    dense_rank = _ranks(dense.ids, dense.scores)
    bm25_rank = _ranks(lexical.ids, lexical.scores)
    fused_rank = _ranks(ids, fused)
    bm25_score = {int(i): float(s) for i, s in zip(lexical.ids, lexical.scores)}
    best_bm25 = float(lexical.scores[0]) if len(lexical.scores) else 1.0
    depth = max(len(dense.ids), len(lexical.ids), n, 1)
    doc_best: dict[str, float] = {}
    doc_seen: dict[str, int] = {}
    doc_count: dict[str, int] = {}
    for ref, score in zip(refs, fused):
        doc_best.setdefault(ref.doc_id, float(score))
        doc_count[ref.doc_id] = doc_count.get(ref.doc_id, 0) + 1
    # A reply follows the question it answers: the chunks either side of a candidate, when candidates too.
    placed = {(ref.doc_id, ref.index): float(score) for ref, score in zip(refs, fused)}
    top = float(fused[0]) or 1.0
    first = 0
    for i, (key, ref, score) in enumerate(zip(keys, refs, fused)):
        count = len(sentences[key])
        own = np.sort(sentence_cosine[first : first + count])[::-1] if count else np.zeros(1)
        sentence_cover = max((coverage(next(tokens)) for _ in range(count)), default=0.0)
        first += count
        rank_in_doc = doc_seen.get(ref.doc_id, 0)
        doc_seen[ref.doc_id] = rank_in_doc + 1
        published = dt.date.fromisoformat(ref.published).toordinal() if ref.published else -1
        rows[i] = (
            score, score - fused[0], fused_rank[key] / depth,
            cosine[i], cosine[i] - cosine.max(), dense_rank.get(key, depth) / depth,
            bm25_score.get(key, 0.0) / best_bm25 if best_bm25 else 0.0, bm25_rank.get(key, depth) / depth,
            own[0], own[0] - (sentence_cosine.max() if len(sentence_cosine) else 0.0), own[1] if len(own) > 1 else own[0],
            chunk_cover[i], sentence_cover, title_cover[i],
            score - doc_best[ref.doc_id], doc_count[ref.doc_id] / n, rank_in_doc,
            float(any(lo.toordinal() <= published <= hi.toordinal() for lo, hi in windows)),
            float(bool(speaker) and any(s.speaker and names_speaker(speaker, s.speaker) for s in sentences[key])),
            placed.get((ref.doc_id, ref.index - 1), 0.0) / top, placed.get((ref.doc_id, ref.index + 1), 0.0) / top,
            sum(text.rstrip().endswith("?") for text in sentence_texts[first - count : first]) / max(count, 1),
        )
    return Candidates(ids, fused, rows, [dense_text(e, e.text)[0] for e in excerpts])


def _ranks(ids: np.ndarray, scores: np.ndarray) -> dict[int, int]:
    """Each id's rank as the number of strictly higher scores: tied passages share a rank, so the features
    do not depend on how a store happened to order ties (one store and its shards order them differently)."""
    ordered = -np.sort(-np.asarray(scores, dtype=np.float64))
    higher = np.searchsorted(-ordered, -np.asarray(scores, dtype=np.float64), side="left")
    return {int(i): int(r) for i, r in zip(ids, higher)}
