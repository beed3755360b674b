"""Running an eval set through ``Engine.ask`` in every mode and scoring what comes back.

A question counts as answered at rank r when the r-th passage comes from one of its documents and
contains its evidence quote (whitespace-normalised). It counts as a *sentence hit* at rank r when, in
addition, the passage's highlighted ``sentence`` overlaps an occurrence of the quote: the sentence contains
the quote, or the quote straddles the sentence's edge. Sentence hits measure what the user sees first.

Every figure except latency is deterministic: the index, the model and the ranking are.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from rag import Answer, Document, Engine, build_index, read_paths
from rag.embedding import Embedder
from rag.retrieve import index_config
from rag.settings import Settings, get_settings

from . import metrics
from .sets import EvalSet, Item, check_evidence

MODES = ("bm25", "dense", "hybrid")
TOP_K = 10
HIT_KS = (1, 3, 5, 10)
SENTENCE_KS = (1, 5)
RECALL_KS = (5, 10)


@dataclass(frozen=True)
class Outcome:
    """What one mode returned for one question, reduced to what the metrics need."""

    item_id: str
    mode: str
    abstained: bool
    span_rank: int | None  # first passage from a relevant document that contains the evidence
    sentence_rank: int | None  # first such passage whose highlighted sentence overlaps the evidence
    doc_ranking: tuple[str, ...]  # distinct documents, in the order their first passage came
    top_sentence: str
    max_similarity: float | None  # what abstention compares with its threshold; None when it abstained
    took_ms: float


@dataclass(frozen=True)
class ModeScores:
    mode: str
    hit: dict[int, float]  # k -> hit@k by evidence span, for k = 1..TOP_K
    sentence_hit: dict[int, float]
    recall: dict[int, float]  # k -> mean recall@k of relevant documents
    mrr: float  # MRR@10 by document
    ndcg: float  # nDCG@10 by document
    abstain_precision: float | None
    abstain_recall: float | None
    answerable_abstained: float  # share of answerable questions the engine declined
    latency_p50: float
    latency_p95: float
    hit_by_tag: dict[str, float] = field(default_factory=dict)  # tag -> hit@5


@dataclass(frozen=True)
class SetResult:
    eval_set: EvalSet
    index_dir: Path
    documents: int
    scores: dict[str, ModeScores]
    outcomes: list[Outcome]


def cached_index(paths: Sequence[Path], documents: Sequence[Document], cache_dir: Path, embedder: Embedder,
                 label: str, settings: Settings | None = None) -> Path:
    """Build (or reuse: unchanged documents skip the build) an index of ``documents`` under ``cache_dir``.

    The folder is keyed by the corpus paths, so different sets do not evict each other's index.
    """
    settings = settings or get_settings()
    key = hashlib.sha256("\0".join(str(p.resolve()) for p in paths).encode()).hexdigest()[:12]
    index_dir = Path(cache_dir) / f"{label}-{key}"
    build_index(index_dir, documents, embedder, index_config(settings, embedder).chunker,
                batch_size=settings.embed_batch_size, progress=sys.stderr.isatty(), index_kind=settings.index_kind)
    return index_dir


def run_set(eval_set: EvalSet, cache_dir: Path, modes: Sequence[str] = MODES,
            embedder: Embedder | None = None) -> SetResult:
    """Index the set's corpus aside, ask every question in every mode, and score each mode."""
    settings = get_settings()
    documents = read_paths(eval_set.corpus_paths(), settings.source_by_host)
    check_evidence(eval_set, documents)
    embedder = embedder or Embedder(settings.model_path, backend=settings.embed_backend)
    index_dir = cached_index(eval_set.corpus_paths(), documents, cache_dir, embedder, eval_set.name, settings)
    engine = Engine.open(index_dir, embedder=embedder)
    for mode in modes:  # the first query pays one-off costs (tokenizer, page cache); keep it out of latency
        engine.ask(eval_set.items[0].question, TOP_K, mode)
    outcomes = []
    bar = tqdm(total=len(eval_set.items) * len(modes), desc=f"eval {eval_set.name}", unit="q",
               disable=not sys.stderr.isatty())
    # Modes take turns on each question, so a slow patch of the machine does not favour one of them.
    for item in eval_set.items:
        for mode in modes:
            outcomes.append(judge(item, engine.ask(item.question, TOP_K, mode)))
            bar.update()
    bar.close()
    scores = {mode: score_mode(eval_set.items, [o for o in outcomes if o.mode == mode], mode) for mode in modes}
    return SetResult(eval_set, index_dir, len(documents), scores, outcomes)


def judge(item: Item, answer: Answer) -> Outcome:
    passages = answer.passages
    span_rank = sentence_rank = None
    if item.answerable:
        pattern, relevant = metrics.span_pattern(item.evidence), set(item.doc_ids)
        # Where the quote occurs in each passage, as document offsets (none for passages of other documents).
        found = [[(p.char_start + m.start(), p.char_start + m.end()) for m in pattern.finditer(p.text)]
                 if p.doc_id in relevant else [] for p in passages]
        span_rank = metrics.first_rank(bool(spans) for spans in found)
        sentence_rank = metrics.first_rank(any(lo < p.sentence_end and hi > p.sentence_start for lo, hi in spans)
                                           for p, spans in zip(passages, found))
    return Outcome(
        item_id=item.id, mode=answer.mode, abstained=answer.abstained, span_rank=span_rank,
        sentence_rank=sentence_rank, doc_ranking=tuple(dict.fromkeys(p.doc_id for p in passages)),
        top_sentence=passages[0].sentence if passages else "",
        max_similarity=max((p.similarity for p in passages), default=None), took_ms=answer.took_ms,
    )


def score_mode(items: Sequence[Item], outcomes: Sequence[Outcome], mode: str) -> ModeScores:
    """Averages over the answerable items (ranking) and over all items (abstention, latency)."""
    by_id = {o.item_id: o for o in outcomes}
    answerable = [(item, by_id[item.id]) for item in items if item.answerable]
    spans = [o.span_rank for _, o in answerable]
    sentences = [o.sentence_rank for _, o in answerable]
    precision, recall = metrics.abstention([by_id[i.id].abstained for i in items], [not i.answerable for i in items])
    tags = sorted({tag for item, _ in answerable for tag in item.tags})
    latencies = [o.took_ms for o in outcomes]
    return ModeScores(
        mode=mode,
        hit={k: metrics.hit_rate(spans, k) for k in range(1, TOP_K + 1)},
        sentence_hit={k: metrics.hit_rate(sentences, k) for k in range(1, TOP_K + 1)},
        recall={k: metrics.mean([metrics.recall(o.doc_ranking, i.doc_ids, k) for i, o in answerable]) for k in RECALL_KS},
        mrr=metrics.mean([metrics.reciprocal_rank(o.doc_ranking, i.doc_ids, 10) for i, o in answerable]),
        ndcg=metrics.mean([metrics.ndcg(o.doc_ranking, i.doc_ids, 10) for i, o in answerable]),
        abstain_precision=precision,
        abstain_recall=recall,
        answerable_abstained=metrics.mean([1.0 if o.abstained else 0.0 for _, o in answerable]),
        latency_p50=metrics.percentile(latencies, 50),
        latency_p95=metrics.percentile(latencies, 95),
        hit_by_tag={tag: metrics.hit_rate([o.span_rank for i, o in answerable if tag in i.tags], 5) for tag in tags},
    )
