"""Running an eval set through ``Engine.ask`` in every mode and scoring what comes back.

A question counts as answered at rank r when the r-th passage comes from one of its documents and
contains its evidence quote (whitespace-normalised). It counts as a *sentence hit* at rank r when, in
addition, the passage's highlighted ``sentence`` overlaps an occurrence of the quote: the sentence contains
the quote, or the quote straddles the sentence's edge. Sentence hits measure what the user sees first.

A "what does each side say" question names evidence per source. Its hits count any side's evidence; it
is *covered* when every side's evidence is in the top 5, and covered when grouped when every side's
group (``group_by="source"``) holds it. A grouped answer is also judged per group: a group listed for a
source the question names must hold that source's evidence (sources it does not name are not judged).

Every figure except latency is deterministic: the index, the model and the ranking are.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from rag import Answer, Document, Engine, Passage, build_index, read_paths
from rag.embedding import Embedder
from rag.retrieve import index_config
from rag.settings import Settings, get_settings

from . import metrics
from .sets import EvalSet, Item, Target, check_evidence

MODES = ("bm25", "dense", "hybrid")  # what runs by default; rerank too when named (it is slow)
TOP_K = 10
HIT_KS = (1, 3, 5, 10)
SENTENCE_KS = (1, 5)
RECALL_KS = (5, 10)
SIDES_K = 5  # perspective coverage and the distinct-source ratio look at what a reader sees first


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
    distinct_sources: float | None  # distinct sources in the top 5 over as many as could be there
    hit_speaker: str | None  # speaker of the first sentence hit, for items whose set names one
    sides_covered: tuple[bool, ...] = ()  # per perspective: its evidence is in the top 5
    sides_grouped: tuple[bool, ...] = ()  # per perspective: its source's group holds its evidence
    groups_judged: int = 0  # groups listed for a source the question names
    groups_holding: int = 0  # ... that hold that source's evidence
    grouped_took_ms: float | None = None


@dataclass(frozen=True)
class ModeScores:
    mode: str
    hit: dict[int, float]  # k -> hit@k by evidence span, for k = 1..TOP_K
    sentence_hit: dict[int, float]
    recall: dict[int, float]  # k -> mean recall@k of relevant documents
    mrr: float  # MRR@10 by document
    ndcg: float  # nDCG@10 by document
    distinct_source_ratio: float
    perspective_coverage: float | None  # None: the set has no perspective questions
    perspective_coverage_grouped: float | None
    grouped_precision: float | None  # share of judged groups that hold their source's evidence
    speaker_accuracy: float | None  # of sentence hits that name a speaker, share naming the one the set names
    speaker_named: float | None  # share of sentence hits, for items whose set names a speaker, that name one
    abstain_precision: float | None
    abstain_recall: float | None
    answerable_abstained: float  # share of answerable questions the engine declined
    latency_p50: float
    latency_p95: float
    grouped_latency_p50: float | None
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

    The folder is keyed by the corpus paths: sets over the same corpus share one index, and
    sets over different corpora do not evict each other's.
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
    embedder = embedder or Embedder.configured(settings)
    index_dir = cached_index(eval_set.corpus_paths(), documents, cache_dir, embedder, "corpus", settings)
    engine = Engine.open(index_dir, embedder=embedder)
    source_count = len(engine.store.stats().sources)
    for mode in modes:  # the first query pays one-off costs (tokenizer, page cache); keep it out of latency
        engine.ask(eval_set.items[0].question, TOP_K, mode)
    outcomes = []
    bar = tqdm(total=len(eval_set.items) * len(modes), desc=f"eval {eval_set.name}", unit="q",
               disable=not sys.stderr.isatty())
    # Modes take turns on each question, so a slow patch of the machine does not favour one of them.
    for item in eval_set.items:
        for mode in modes:
            searched = item.searched(engine.name_rarity)
            grouped = engine.ask(searched, TOP_K, mode, group_by="source") if item.perspectives else None
            outcomes.append(judge(item, engine.ask(searched, TOP_K, mode), source_count, grouped))
            bar.update()
    bar.close()
    scores = {mode: score_mode(eval_set.items, [o for o in outcomes if o.mode == mode], mode) for mode in modes}
    return SetResult(eval_set, index_dir, len(documents), scores, outcomes)


def judge(item: Item, answer: Answer, source_count: int = 1, grouped: Answer | None = None) -> Outcome:
    passages = answer.passages
    found = [_evidence_spans(target, passages) for target in item.targets]
    # Per passage, where any target's quote occurs in it (document offsets).
    spans = [[span for per_target in found for span in per_target[i]] for i in range(len(passages))]
    span_rank = metrics.first_rank(bool(s) for s in spans) if item.answerable else None
    sentence_rank = metrics.first_rank(any(lo < p.sentence_end and hi > p.sentence_start for lo, hi in s)
                                       for p, s in zip(passages, spans)) if item.answerable else None
    top = passages[:SIDES_K]
    outcome = Outcome(
        item_id=item.id, mode=answer.mode, abstained=answer.abstained, span_rank=span_rank,
        sentence_rank=sentence_rank, doc_ranking=tuple(dict.fromkeys(p.doc_id for p in passages)),
        top_sentence=passages[0].sentence if passages else "",
        max_similarity=max((p.similarity for p in passages), default=None), took_ms=answer.took_ms,
        distinct_sources=len({p.source for p in top}) / min(SIDES_K, source_count) if top else None,
        hit_speaker=passages[sentence_rank - 1].speaker if sentence_rank and item.speaker is not None else None,
        sides_covered=tuple(any(per_passage[:SIDES_K]) for per_passage in found) if item.perspectives else (),
    )
    if grouped is None:
        return outcome
    by_citation = {p.citation: p for p in grouped.passages}
    groups = {g.source: [by_citation[c] for c in g.citations] for g in grouped.groups}
    sides = tuple(any(_evidence_spans(t, groups.get(t.source, []))) for t in item.targets)
    judged = [t for t in item.targets if t.source in groups]
    return replace(outcome, sides_grouped=sides, groups_judged=len(judged),
                   groups_holding=sum(any(_evidence_spans(t, groups[t.source])) for t in judged),
                   grouped_took_ms=grouped.took_ms)


def _evidence_spans(target: Target, passages: Sequence[Passage]) -> list[list[tuple[int, int]]]:
    """Per passage, the document offsets where one of the target's quotes occurs in it (none for other documents)."""
    options = [(metrics.span_pattern(evidence), set(doc_ids)) for doc_ids, evidence in target.options]
    return [[(p.char_start + m.start(), p.char_start + m.end())
             for pattern, relevant in options if p.doc_id in relevant for m in pattern.finditer(p.text)]
            for p in passages]


def score_mode(items: Sequence[Item], outcomes: Sequence[Outcome], mode: str) -> ModeScores:
    """Averages over the answerable items (ranking) and over all items (abstention, latency)."""
    by_id = {o.item_id: o for o in outcomes}
    answerable = [(item, by_id[item.id]) for item in items if item.answerable]
    spans = [o.span_rank for _, o in answerable]
    sentences = [o.sentence_rank for _, o in answerable]
    precision, recall = metrics.abstention([by_id[i.id].abstained for i in items], [not i.answerable for i in items])
    tags = sorted({tag for item, _ in answerable for tag in item.tags})
    latencies = [o.took_ms for o in outcomes]
    sides = [(i, o) for i, o in answerable if i.perspectives]
    spoken = [(i, o) for i, o in answerable if i.speaker is not None and o.sentence_rank and o.sentence_rank <= SIDES_K]
    named = [(i, o) for i, o in spoken if o.hit_speaker]
    grouped = [o.grouped_took_ms for _, o in sides if o.grouped_took_ms is not None]
    judged = sum(o.groups_judged for _, o in sides)
    return ModeScores(
        mode=mode,
        hit={k: metrics.hit_rate(spans, k) for k in range(1, TOP_K + 1)},
        sentence_hit={k: metrics.hit_rate(sentences, k) for k in range(1, TOP_K + 1)},
        recall={k: metrics.mean([metrics.recall(o.doc_ranking, i.relevant_docs, k) for i, o in answerable]) for k in RECALL_KS},
        mrr=metrics.mean([metrics.reciprocal_rank(o.doc_ranking, i.relevant_docs, 10) for i, o in answerable]),
        ndcg=metrics.mean([metrics.ndcg(o.doc_ranking, i.relevant_docs, 10) for i, o in answerable]),
        distinct_source_ratio=metrics.mean([o.distinct_sources for _, o in answerable if o.distinct_sources is not None]),
        perspective_coverage=metrics.mean([float(all(o.sides_covered)) for _, o in sides]) if sides else None,
        perspective_coverage_grouped=metrics.mean([float(all(o.sides_grouped)) for _, o in sides]) if sides else None,
        grouped_precision=sum(o.groups_holding for _, o in sides) / judged if judged else None,
        speaker_accuracy=metrics.mean([float(o.hit_speaker == i.speaker) for i, o in named]) if named else None,
        speaker_named=len(named) / len(spoken) if spoken else None,
        abstain_precision=precision,
        abstain_recall=recall,
        answerable_abstained=metrics.mean([1.0 if o.abstained else 0.0 for _, o in answerable]),
        latency_p50=metrics.percentile(latencies, 50),
        latency_p95=metrics.percentile(latencies, 95),
        grouped_latency_p50=metrics.percentile(grouped, 50) if grouped else None,
        hit_by_tag={tag: metrics.hit_rate([o.span_rank for i, o in answerable if tag in i.tags], 5) for tag in tags},
    )
