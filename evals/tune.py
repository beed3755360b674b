"""``python -m evals.tune``: train the learned reranker (rag/reranking.py) and choose it on analyst questions.

Two kinds of training questions, each optional:

1. Mined (``--questions N``): the reporters' questions and the answers that follow them in the White House
   briefings (rag/mining.py). The briefings are indexed with those questions blanked out, so that a mined
   question finds its answer as an analyst's would: by what the answer says, not by its own words standing
   next to it. Its candidates are labelled by where the answer is (2: the chunk where the answer starts;
   1: a chunk holding more of it; 0: any other, of that briefing or another).
2. Written (``--train SET``, repeatable): analyst questions written for training over documents no eval
   set uses (evals/tuning_train_*.jsonl); a candidate is relevant when it holds the evidence quote.

Each question is asked through the real hybrid pipeline and its best candidates, with the features a
question sees at query time, are the training rows. LightGBM LambdaMART models over a small grid, on each
kind of data and on both together, are validated on ``--validation`` sets (analyst questions written for
validation, never a test set; their questions pooled); the best by hit@3 (then MRR) is kept if it beats the
hybrid ranking without a reranker there, else nothing is written.

With ``--adapter train``, a query adapter (rag/adapter.py, evals/query_adapter.py) is learned from the
written questions first; the reranker still learns from the plain hybrid ranking's candidates, and is
validated (and checked on SciFact) as it will be served, after the adapter.

The evals/ test sets are never read here. Needs the team data (../shared/data/crisis).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag import Engine, build_index, read_paths
from rag.adapter import QueryAdapter
from rag.embedding import INT8_SUFFIX, Embedder
from rag.features import FEATURES
from rag.sentence_picker import RULE, SentencePicker
from rag.mining import mine_pairs, without_questions
from rag.retrieve import index_config
from rag.settings import Settings, get_settings

from . import abstention, query_adapter, sentence_picker
from .beir import BeirData, load_beir
from .metrics import span_pattern
from .runner import cached_index, judge, score_mode
from .sets import EvalSet, check_evidence, load_set

ROOT = Path(__file__).resolve().parent.parent
BRIEFINGS = ROOT.parent / "shared" / "data" / "crisis" / "wh_briefings" / "wh_2021-09_to_2022-03_crisis.jsonl"
ANSWER_WINDOW = 600  # characters of an answer turn whose chunks count as holding the answer
GRID = [
    {"num_leaves": 3, "n_estimators": 100, "learning_rate": 0.05, "min_child_samples": 20},
    {"num_leaves": 7, "n_estimators": 150, "learning_rate": 0.05, "min_child_samples": 50},
    {"num_leaves": 15, "n_estimators": 300, "learning_rate": 0.05, "min_child_samples": 50},
    {"num_leaves": 31, "n_estimators": 300, "learning_rate": 0.03, "min_child_samples": 100},
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def training_data(work: Path, embedder: Embedder, settings: Settings, questions: int,
                  seed: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    documents = read_paths([BRIEFINGS], settings.source_by_host)
    mined = [(without_questions(doc, pairs), pairs) for doc in documents for pairs in [mine_pairs(doc)]]
    blanked = [doc for doc, _ in mined]
    report = build_index(work / "mining-index", blanked, embedder, index_config(settings, embedder).chunker,
                         batch_size=settings.embed_batch_size)
    log(f"mining index: {report.documents} briefings, {report.chunks} chunks ({report.embedded} embedded)")
    pairs = [(doc.doc_id, pair) for doc, doc_pairs in mined for pair in doc_pairs]
    random.Random(seed).shuffle(pairs)
    engine = Engine.open(work / "mining-index", settings=settings.model_copy(update={"reranker": "none"}),
                         embedder=embedder)
    features, labels, groups = [], [], []
    started = time.perf_counter()
    for doc_id, pair in pairs[:questions]:
        candidates = engine.candidates(pair.question)
        window = (pair.answer_start, min(pair.answer_end, pair.answer_start + ANSWER_WINDOW))
        grades = [2 if ref.doc_id == doc_id and ref.start <= pair.answer_start < ref.end else
                  1 if ref.doc_id == doc_id and ref.start < window[1] and ref.end > window[0] else 0
                  for ref in engine.store.chunks(candidates.ids)]
        if not any(grades):  # the answer is not among the candidates: nothing to learn about ordering
            continue
        features.append(candidates.features)
        labels.extend(grades)
        groups.append(len(grades))
    log(f"{len(groups)} of {min(questions, len(pairs))} mined questions have their answer among the candidates "
        f"({time.perf_counter() - started:.0f} s)")
    return np.vstack(features), np.array(labels), groups


def labelled_data(sets: list[Path], embedder: Embedder, settings: Settings,
                  cache: Path) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Training rows from analyst questions written for training (``--train``), over their corpus's index:
    a candidate is relevant when it is from a cited document and holds the evidence quote, as the eval
    judges a hit."""
    features, labels, groups = [], [], []
    for path in sets:
        eval_set, index = validation_index(embedder, path, cache)
        engine = Engine.open(index, settings=settings.model_copy(update={"reranker": "none"}), embedder=embedder)
        kept = 0
        for item in eval_set.items:
            if not item.answerable:
                continue
            candidates = engine.candidates(item.question)
            options = [(span_pattern(evidence), set(doc_ids)) for target in item.targets
                       for doc_ids, evidence in target.options]
            keys = [int(i) for i in candidates.ids]
            grades = [int(any(ref.doc_id in docs and pattern.search(excerpt.text) for pattern, docs in options))
                      for ref, excerpt in zip(engine.store.chunks(keys), engine.store.excerpts(keys))]
            if not any(grades):
                continue
            features.append(candidates.features)
            labels.extend(grades)
            groups.append(len(grades))
            kept += 1
        log(f"{path.name}: {kept} of {len(eval_set.items)} questions have their answer among the candidates")
    return np.vstack(features), np.array(labels), groups


@dataclass(frozen=True)
class BeirCheck:
    """A BEIR dataset's train split, whose nDCG@10 a chosen model must not lower: a constraint beside the
    validation sets, so the default reranker does not trade another kind of corpus for this one. Never
    trained on (SciFact is CC BY-NC: a shipped model may learn from public-domain and CC BY texts only)."""

    data: BeirData
    index: Path


def beir_check(folder: Path, embedder: Embedder, cache: Path) -> BeirCheck:
    data = load_beir(folder, "train")
    return BeirCheck(data, cached_index([folder], data.documents, cache, embedder, f"beir-{folder.name}", get_settings()))


def beir_ndcg(model: Path | None, embedder: Embedder, settings: Settings, check: BeirCheck) -> float:
    """nDCG@10 of the hybrid mode over the BEIR train queries, reranked by ``model``."""
    from ranx import Qrels, Run, evaluate

    # A ranking is scored to its depth: nothing is declined (as evals.beir runs it).
    settings = settings.model_copy(update={"reranker": str(model) if model else "none",
                                           "abstain_below": -1.0, "unknown_name_abstain": -1.0,
                                           "abstention": "rule"})
    engine = Engine.open(check.index, settings=settings, embedder=embedder)
    runs = {}
    for query, text in check.data.queries.items():
        ranking = [b for p in engine.ask(text, 10, "hybrid").passages for b in check.data.beir_ids[p.doc_id]]
        if ranking:
            runs[query] = {doc: float(10 - rank) for rank, doc in enumerate(dict.fromkeys(ranking))}
    return float(evaluate(Qrels(check.data.qrels), Run(runs), "ndcg@10", make_comparable=True))


def _joined(*parts: tuple[np.ndarray, np.ndarray, list[int]]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    return (np.vstack([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), [g for p in parts for g in p[2]])


def validation_index(embedder: Embedder, validation: Path, cache: Path) -> tuple[EvalSet, Path]:
    """The validation set, its evidence checked, and the index of its corpus (read and synced once)."""
    eval_set = load_set(validation)
    settings = get_settings()
    documents = read_paths(eval_set.corpus_paths(), settings.source_by_host)
    check_evidence(eval_set, documents)
    return eval_set, cached_index(eval_set.corpus_paths(), documents, cache, embedder, "corpus", settings)


def validate(model: Path | None, embedder: Embedder, settings: Settings,
             validation: list[tuple[EvalSet, Path]]) -> dict:
    """The hybrid mode's figures over the questions of all the validation sets, reranked by ``model`` (None: no
    reranker): pooled, so that each question counts once whichever set holds it."""
    settings = settings.model_copy(update={"reranker": str(model) if model else "none"})
    items, outcomes = [], []
    for eval_set, index in validation:
        engine = Engine.open(index, settings=settings, embedder=embedder)
        sources = len(engine.store.stats().sources)
        items += eval_set.items
        outcomes += [judge(item, engine.ask(item.question, 10, "hybrid"), sources) for item in eval_set.items]
    scores = score_mode(items, outcomes, "hybrid")
    return {"hit@1": scores.hit[1], "hit@3": scores.hit[3], "hit@5": scores.hit[5], "hit@10": scores.hit[10],
            "mrr": scores.mrr, "sentence_hit@3": scores.sentence_hit[3], "latency_p50_ms": scores.latency_p50,
            "abstain_recall": scores.abstain_recall, "answerable_abstained": scores.answerable_abstained}


def train_adapter(args: argparse.Namespace, embedder: Embedder) -> str:
    """A query adapter trained on the ``--train`` sets (evals.query_adapter), written with its manifest to
    ``--adapter-out``; its path, for the reranker to be trained and validated with."""
    if not args.train:
        sys.exit("--adapter train needs --train SET: it learns from analyst questions written for training")
    started = time.perf_counter()
    training = query_adapter.questions([validation_index(embedder, path, args.cache_dir) for path in args.train],
                                       embedder)
    penalty, figures = query_adapter.choose(training, args.seed)
    matrix = query_adapter.fit(training, penalty)
    log(f"query adapter: {len(training)} questions, cross-validated MRR by penalty {figures}; chose {penalty} "
        f"({time.perf_counter() - started:.0f} s)")
    args.adapter_out.parent.mkdir(parents=True, exist_ok=True)
    # The adapter belongs to the model, whichever backend (fp32 or int8) embeds questions and passages.
    QueryAdapter(matrix, embedder.name.removesuffix(INT8_SUFFIX)).save(args.adapter_out, {
        "trained_on": [p.name for p in args.train], "questions": len(training), "penalty": penalty,
        "cross_validated_mrr": figures, "steps": query_adapter.STEPS, "seed": args.seed,
        "command": " ".join(["python -m evals.tune", *sys.argv[1:]]),
        "licence": "holds no text, only a matrix over the bundled model's vectors of the White House briefings "
                   "(public domain) and the kremlin.ru and president.gov.ua texts (CC BY 4.0)"})
    return str(args.adapter_out)


def train_sentence_picker(args: argparse.Namespace, embedder: Embedder, settings: Settings) -> None:
    """Sentence picker weights (evals.sentence_picker) from the ``--sentence-train`` sets (default: the ``--train``
    ones), written to ``--sentences-out``
    when they pick more evidence sentences on the validation sets than the hand rule does."""
    started = time.perf_counter()
    sets = args.sentence_train or args.train
    data = sentence_picker.examples([validation_index(embedder, path, args.cache_dir) for path in sets],
                                    embedder, settings)
    penalty, figures = sentence_picker.choose(data, args.seed)
    picker = sentence_picker.fit(data, penalty)
    held = sentence_picker.examples([validation_index(embedder, path, args.cache_dir) for path in args.validation],
                                    embedder, settings)
    rule, learned = sentence_picker.accuracy(held, SentencePicker.of(RULE)), sentence_picker.accuracy(held, picker)
    log(f"sentence picker: {len(data)} passages, cross-validated accuracy by penalty {figures}; chose {penalty}; "
        f"validation ({len(held)} passages) rule {rule:.3f}, learned {learned:.3f} "
        f"({time.perf_counter() - started:.0f} s)")
    if learned <= rule:
        log("the learned sentence picker does not beat the hand rule on the validation sets: nothing written")
        return
    args.sentences_out.parent.mkdir(parents=True, exist_ok=True)
    args.sentences_out.write_text(json.dumps({
        "weights": picker.as_dict(), "model": embedder.name, "trained_on": [p.name for p in sets],
        "passages": len(data), "penalty": penalty, "cross_validated_accuracy": figures,
        "validation_accuracy": {"rule": rule, "learned": learned, "passages": len(held)},
        "command": " ".join(["python -m evals.tune", *sys.argv[1:]]),
        "licence": "holds no text, only weights over numeric features of sentences of the White House briefings "
                   "(public domain) and the kremlin.ru and president.gov.ua texts (CC BY 4.0)"}, indent=1) + "\n")
    log(f"wrote {args.sentences_out}")


def train_abstention(args: argparse.Namespace, embedder: Embedder, settings: Settings) -> None:
    """The abstention model (evals.abstention) from the ``--abstention-train`` sets (answerable; default: the
    ``--train`` ones) and the ``--unanswerable`` ones, written to ``--abstention-out`` unless, on the
    ``--abstention-validation`` sets (default: the validation sets), it declines no more unanswerable questions
    than the fixed rules do, or over 5% of the answerable ones."""
    started = time.perf_counter()
    sets = (args.abstention_train or args.train) + args.unanswerable
    indexed = [validation_index(embedder, path, args.cache_dir) for path in sets]
    data = abstention.examples(indexed, embedder, settings)
    validation = args.abstention_validation or args.validation
    held = abstention.examples([validation_index(embedder, path, args.cache_dir) for path in validation],
                               embedder, settings)
    model, figures = abstention.choose(data, args.seed)
    by_size = []
    if args.abstention_sizes:
        (first, index), *_ = indexed
        chunks = Engine.open(index, settings=settings, embedder=embedder).store.stats().chunks
        documents = read_paths(first.corpus_paths(), settings.source_by_host)
        model, by_size = abstention.size_thresholds(model, chunks, [s for s, _ in indexed], documents, embedder,
                                                    settings, args.cache_dir, args.seed)
        log(f"abstention thresholds by index size: {by_size}")
    rule, learned = abstention.declined(None, held), abstention.declined(model, held)
    log(f"abstention: {len(data.unanswered)} questions past the rules ({int(data.unanswered.sum())} unanswerable; "
        f"the rules declined {data.declined_by_rules}); cross-validated by penalty {figures}; validation declined: "
        f"rules {rule}, learned {learned} ({time.perf_counter() - started:.0f} s)")
    if learned["unanswerable"] <= rule["unanswerable"] or learned["answerable"] > 0.05:
        log("the learned abstention does no better than the rules on the validation sets: nothing written")
        return
    args.abstention_out.parent.mkdir(parents=True, exist_ok=True)
    args.abstention_out.write_text(json.dumps({
        **model.as_dict(), "model": embedder.name, "reranker": settings.reranker,
        "trained_on": [p.name for p in sets],
        "questions": {"answerable": int((~data.unanswered).sum()), "unanswerable": int(data.unanswered.sum()),
                      "declined_by_rules": data.declined_by_rules},
        "cross_validated": figures, "declined_in_cross_validation": abstention.DECLINED, "by_size": by_size,
        "validation_sets": [p.name for p in validation], "validation_declined": {"rules": rule, "learned": learned},
        "command": " ".join(["python -m evals.tune", *sys.argv[1:]]),
        "licence": "holds no text, only weights over numeric features of questions and passages of the White House "
                   "briefings (public domain) and the kremlin.ru and president.gov.ua texts (CC BY 4.0)"}, indent=1) + "\n")
    log(f"wrote {args.abstention_out}")


def main() -> None:
    import lightgbm

    parser = argparse.ArgumentParser(prog="python -m evals.tune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=1500, help="mined questions to train on (0: none)")
    parser.add_argument("--train", type=Path, action="append", default=[],
                        help="a set of analyst questions written for training (repeatable), e.g. evals/tuning_train_wh.jsonl")
    parser.add_argument("--beir", type=Path, help="a BEIR dataset (e.g. ../shared/data/scifact) whose train "
                        "split's nDCG@10 a chosen model must not lower (a check; never trained on)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--validation", type=Path, action="append", default=[],
                        help="a set of analyst questions written for validation (repeatable; pooled; default: "
                        "evals/tuning_validation.jsonl)")
    parser.add_argument("--work", type=Path, default=ROOT / "artifacts" / "tune")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / "artifacts" / "eval-index")
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "reranker" / "lambdamart.txt",
                        help="where the chosen model goes (name it in RAG_RERANKER)")
    parser.add_argument("--only-data", action="store_true", help="mine and extract the training data, then stop")
    parser.add_argument("--adapter", default="none",
                        help="the query adapter the reranker is trained and validated with: `train` (a new one, "
                        "from the --train sets, written to --adapter-out first), `none`, `default` or a .npy file")
    parser.add_argument("--adapter-out", type=Path, default=ROOT / "artifacts" / "reranker" / "query_adapter.npy")
    parser.add_argument("--sentences", action="store_true",
                        help="also learn the sentence picker's weights (rag/sentence_picker.py) from the --train sets, "
                        "with the adapter and reranker as served, and write them to --sentences-out")
    parser.add_argument("--sentence-train", type=Path, action="append", default=[],
                        help="a set the sentence picker learns from, in place of the --train sets (repeatable)")
    parser.add_argument("--sentences-out", type=Path, default=ROOT / "artifacts" / "reranker" / "sentence_picker.json")
    parser.add_argument("--abstention", action="store_true",
                        help="also learn the abstention model (rag/abstention.py) from the --train sets and the "
                        "--unanswerable ones, with the reranker as served, and write it to --abstention-out")
    parser.add_argument("--unanswerable", type=Path, action="append", default=[],
                        help="a set of unanswerable questions written for training (repeatable)")
    parser.add_argument("--abstention-train", type=Path, action="append", default=[],
                        help="a set of answerable questions the abstention model learns from, in place of the "
                        "--train sets (repeatable)")
    parser.add_argument("--abstention-validation", type=Path, action="append", default=[],
                        help="a set whose questions (answerable and not) check the abstention model, in place "
                        "of --validation (repeatable)")
    parser.add_argument("--abstention-sizes", action="store_true",
                        help="also measure the abstention model's thresholds for smaller indexes, on subsets of the "
                        "training corpus (evals.abstention.SIZES; about 15 minutes of indexing)")
    parser.add_argument("--abstention-out", type=Path, default=ROOT / "artifacts" / "reranker" / "abstention.json")
    args = parser.parse_args()
    if not BRIEFINGS.exists():
        sys.exit(f"{BRIEFINGS}: not found; tuning needs the team data beside the repository")
    args.validation = args.validation or [ROOT / "evals" / "tuning_validation.jsonl"]
    if not args.questions and not args.train:
        sys.exit("nothing to train on: give --questions N (mined) or --train SET (written for training)")
    args.work.mkdir(parents=True, exist_ok=True)
    embedder = Embedder.configured(get_settings())
    started = time.perf_counter()
    adapter = train_adapter(args, embedder) if args.adapter == "train" else args.adapter
    settings = get_settings().model_copy(update={"query_adapter": adapter})  # what will be served
    # The reranker learns from the plain hybrid ranking's candidates, adapter or not: models trained on the
    # adapted ranking's features scored higher on the validation questions (hit@3 up to 0.603 against 0.587)
    # but lowered SciFact train nDCG@10 to 0.70-0.71 (0.726 without a model): they learn these sources.
    plain = settings.model_copy(update={"query_adapter": "none"})
    data: dict[str, tuple[np.ndarray, np.ndarray, list[int]]] = {}
    if args.questions:
        cached = args.work / f"training-{args.questions}-{args.seed}.npz"  # the features of the mined questions
        if cached.exists():
            saved = np.load(cached)
            data["mined"] = saved["x"], saved["y"], saved["groups"].tolist()
        else:
            data["mined"] = training_data(args.work, embedder, plain, args.questions, args.seed)
            np.savez(cached, x=data["mined"][0], y=data["mined"][1], groups=np.array(data["mined"][2]))
    if args.train:
        data["written"] = labelled_data(args.train, embedder, plain, args.cache_dir)
    if len(data) == 2:  # whether mined questions help or hurt beside written ones is itself chosen on validation
        data["mined+written"] = _joined(data["mined"], data["written"])
    check = beir_check(args.beir, embedder, args.cache_dir) if args.beir else None
    mined_s = time.perf_counter() - started
    if args.only_data:
        return
    validation = [validation_index(embedder, path, args.cache_dir) for path in args.validation]
    # Without adapter or reranker: the SciFact figure no model may lower; with the adapter alone: the validation
    # figures a model must beat (the adapter is served either way).
    baseline = validate(None, embedder, plain, validation)
    if check:
        baseline["beir_train_ndcg@10"] = beir_ndcg(None, embedder, plain, check)
    log(f"validation without adapter or reranker: {baseline}")
    if adapter != "none":
        alone = validate(None, embedder, settings, validation)
        if check:
            alone["beir_train_ndcg@10"] = beir_ndcg(None, embedder, settings, check)
        log(f"validation with the query adapter alone: {alone}")
    best = None
    for (name, (x, y, groups)), params in itertools.product(data.items(), GRID):
        started = time.perf_counter()
        model = lightgbm.LGBMRanker(objective="lambdarank", random_state=args.seed, n_jobs=2, verbose=-1, **params)
        model.fit(x, y, group=groups)
        path = args.work / f"candidate-{name}-{params['num_leaves']}-{params['n_estimators']}.txt"
        model.booster_.save_model(str(path))
        figures = validate(path, embedder, settings, validation)
        if check:
            figures["beir_train_ndcg@10"] = beir_ndcg(path, embedder, settings, check)
        log(f"{name}, {len(groups)} questions, {params}: trained in {time.perf_counter() - started:.1f} s; "
            f"validation {figures}")
        if check and figures["beir_train_ndcg@10"] < baseline["beir_train_ndcg@10"]:
            continue  # a model that ranks the BEIR queries worse than no model is not a default for any corpus
        if best is None or (figures["hit@3"], figures["mrr"]) > (best[1]["hit@3"], best[1]["mrr"]):
            best = (path, figures, params, name, len(groups))
    if best is None:
        log(f"every model lowers nDCG@10 on the {args.beir.name} train queries: nothing written")
        return
    path, figures, params, name, questions = best
    bar = alone if adapter != "none" else baseline
    if (figures["hit@3"], figures["mrr"]) <= (bar["hit@3"], bar["mrr"]):
        log("no model beats the hybrid ranking (after the adapter) on the validation sets: nothing written")
        return
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(path.read_text())
    if args.sentences:  # after the reranker: it picks sentences in the passages the served ranking shows
        train_sentence_picker(args, embedder, settings.model_copy(update={"reranker": str(args.out)}))
    if args.abstention:  # after the reranker: it reads the passages the served ranking puts first
        train_abstention(args, embedder, settings.model_copy(update={"reranker": str(args.out)}))
    args.out.with_suffix(".json").write_text(json.dumps({
        "features": list(FEATURES), "params": params, "trained_on": {"data": name, "questions": questions, "written": [p.name for p in args.train],
                                                   "mined_from": BRIEFINGS.name if args.questions else None},
        "checked_on": f"{args.beir.name} train queries (nDCG@10 not lowered)" if check else None,
        "query_adapter": adapter,
        "seed": args.seed, "command": " ".join(["python -m evals.tune", *sys.argv[1:]]),
        "licence": "holds no text, only trees over numeric features of the White House briefings (US federal "
                   "government works, public domain) and the kremlin.ru and president.gov.ua texts (CC BY 4.0)",
        "mining_and_features_s": round(mined_s, 1), "validation_sets": [p.name for p in args.validation],
        "validation": figures, "validation_without_reranker": baseline,
    }, indent=1) + "\n")
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
