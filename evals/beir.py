"""Running a BEIR-layout dataset (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) through ``Engine.ask``.

Our document ids are hashes of the text while BEIR's are its own ``_id``s, so the loader keeps the
mapping; BEIR documents with the same text become one indexed document that stands for all their ids.
Abstention is switched off, so every query gets a full ranking; the ranking metrics come from ranx.
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from rag import MAX_TOP_K, Document, Engine, RagError
from rag.embedding import Embedder
from rag.settings import get_settings

from . import metrics
from .runner import MODES, cached_index

# BEIR reports recall@100 over documents; Engine.ask returns at most MAX_TOP_K passages, and several may share a document.
DEPTH = min(100, MAX_TOP_K)
CURVE_KS = tuple(range(1, DEPTH + 1))


@dataclass(frozen=True)
class BeirData:
    documents: list[Document]
    beir_ids: dict[str, list[str]]  # our doc_id -> the BEIR _ids with that text
    queries: dict[str, str]  # only the queries that have judgements in the split
    qrels: dict[str, dict[str, int]]  # query id -> BEIR doc id -> relevance grade


@dataclass(frozen=True)
class BeirScores:
    mode: str
    ndcg: float  # nDCG@10
    recall: float  # recall@DEPTH
    mrr: float  # MRR@10
    recall_curve: dict[int, float]  # k -> recall@k, for the plot
    latency_p50: float
    latency_p95: float


@dataclass(frozen=True)
class BeirResult:
    name: str
    split: str
    documents: int
    queries: int
    index_dir: Path
    scores: dict[str, BeirScores]
    runs: dict[str, dict[str, dict[str, float]]]  # mode -> query id -> BEIR doc id -> score


def load_beir(folder: Path, split: str) -> BeirData:
    folder = Path(folder)
    for name in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv"):
        if not (folder / name).exists():
            raise RagError(f"{folder} is not a BEIR dataset with a {split} split: {name} is missing")
    documents: dict[str, Document] = {}
    beir_ids: dict[str, list[str]] = {}
    for record in _jsonl(folder / "corpus.jsonl"):
        title, text = record.get("title") or "", record.get("text") or ""
        # A few BEIR corpora have documents that are only a title; the title is then the text.
        doc = Document(text=text if text.strip() else title, title=title, extra={"beir_id": record["_id"]})
        documents.setdefault(doc.doc_id, doc)
        beir_ids.setdefault(doc.doc_id, []).append(str(record["_id"]))
    qrels: dict[str, dict[str, int]] = {}
    with open(folder / "qrels" / f"{split}.tsv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    texts = {str(r["_id"]): r["text"] for r in _jsonl(folder / "queries.jsonl")}
    missing = sorted(set(qrels) - set(texts))
    if missing:
        raise RagError(f"{folder}: qrels name queries not in queries.jsonl (e.g. {missing[0]})")
    return BeirData(list(documents.values()), beir_ids, {q: texts[q] for q in qrels}, qrels)


def _jsonl(path: Path):
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def run_beir(folder: Path, split: str, cache_dir: Path, modes: Sequence[str] = MODES,
             embedder: Embedder | None = None) -> BeirResult:
    from ranx import Qrels, Run, evaluate  # slow to import (numba); only BEIR runs need it

    folder = Path(folder)
    settings = get_settings()
    data = load_beir(folder, split)
    embedder = embedder or Embedder.configured(settings)
    index_dir = cached_index([folder], data.documents, cache_dir, embedder, f"beir-{folder.name}", settings)
    # A ranking is scored to its depth: nothing is declined.
    never_decline = settings.model_copy(update={"abstain_below": -1.0, "unknown_name_abstain": -1.0,
                                                "abstention": "rule"})
    engine = Engine.open(index_dir, settings=never_decline, embedder=embedder)
    runs: dict[str, dict[str, dict[str, float]]] = {mode: {} for mode in modes}
    latencies: dict[str, list[float]] = {mode: [] for mode in modes}
    bar = tqdm(total=len(data.queries) * len(modes), desc=f"beir {folder.name}", unit="q", disable=not sys.stderr.isatty())
    for query_id, text in data.queries.items():
        for mode in modes:
            answer = engine.ask(text, DEPTH, mode)
            ranking = [beir for p in answer.passages for beir in data.beir_ids[p.doc_id]]
            if ranking:  # ranx takes no empty rankings; make_comparable counts a missing one as all misses
                # Scores from the rank, not the mode's own score: ties would let ranx reorder the list.
                runs[mode][query_id] = {doc: float(DEPTH - rank) for rank, doc in enumerate(dict.fromkeys(ranking))}
            latencies[mode].append(answer.took_ms)
            bar.update()
    bar.close()
    qrels = Qrels(data.qrels)
    scores = {}
    for mode in modes:
        found = evaluate(qrels, Run(runs[mode]), ["ndcg@10", f"recall@{DEPTH}", "mrr@10"], make_comparable=True)
        rankings = {q: list(run) for q, run in runs[mode].items()}
        curve = {k: metrics.mean([metrics.recall(rankings.get(q, []), rel, k) for q, rel in data.qrels.items()]) for k in CURVE_KS}
        scores[mode] = BeirScores(
            mode, float(found["ndcg@10"]), float(found[f"recall@{DEPTH}"]), float(found["mrr@10"]), curve,
            metrics.percentile(latencies[mode], 50), metrics.percentile(latencies[mode], 95),
        )
    return BeirResult(folder.name, split, len(data.documents), len(data.queries), index_dir, scores, runs)
