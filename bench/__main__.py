"""``python -m bench``: how fast the service answers, embeds, searches and ingests, beside Haystack.

Prints a table (progress goes to stderr); ``--json`` prints one JSON object instead. ``--full`` adds the
1M-chunk generation (slow to write: about as long as chunking 1M chunks). Generations are kept under
``--work`` and reused, so a second run only measures. Never a timed test: numbers depend on the machine
and its load, so compare ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from rag.chunking import ChunkerConfig, chunk_document
from rag.embedding import BACKENDS, MODEL_NAME, Embedder, bundled_model_path
from rag.index import build_index, dense_text
from rag.lexical import LexicalIndex
from rag.sentences import sentence_spans
from rag.settings import get_settings
from rag.vectors import KINDS, VectorIndex

from . import corpus, haystack_venv, service
from .stats import Timings, time_each

SIZES = {"10k": 10_000, "100k": 100_000}
FULL_SIZES = {**SIZES, "1M": 1_000_000}
CANDIDATES = 100  # hits taken from each retriever, as the service's default settings
# Haystack's pure-Python BM25 takes a large part of a second a question at 10k: a subset, asked once.
HAYSTACK_QUESTIONS = 40
HAYSTACK_TEXTS = 256  # real chunks Haystack embeds, for its embedding speed
EMBED_QUESTIONS = 50  # per backend and round: torch alone takes 10-300 ms a question, depending on the load


STARTED = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:5.0f} s] {message}", file=sys.stderr, flush=True)


def embedding(backend: str, questions: list[str], rounds: int) -> tuple[dict, dict[str, Embedder]]:
    """Query-embedding latency of each backend, and int8's cosine to fp32."""
    embedders = {name: Embedder(backend=name) for name in BACKENDS}
    latency = {name: time_each(lambda q: e.encode([q]), questions[:EMBED_QUESTIONS], rounds).p50
               for name, e in embedders.items()}
    fp32, int8 = embedders["torch"].encode(questions), embedders["onnx-int8"].encode(questions)
    cosine = np.sum(fp32 * int8, axis=1)
    return {"embed_query_p50_ms": latency[backend], "embed_query_p50_ms_by_backend": latency,
            "int8_cosine_vs_fp32": {"min": round(float(cosine.min()), 4), "mean": round(float(cosine.mean()), 4)},
            }, embedders


def ingestion(work: Path, documents: int, backend: str) -> tuple[dict, Path, list[str]]:
    """The real subset through ``build_index``, and the same chunks through the embedder alone (both cores)."""
    embedder = Embedder(backend=backend)
    chunker = _chunker()
    docs = corpus.real_subset(documents)
    shutil.rmtree(work / "real", ignore_errors=True)  # else unchanged chunks are reused, not embedded
    # Loading tiktoken's encoding (0.2 s, once a process) is a start-up cost, like loading the model.
    chunk_document("warm-up", "Warm up.", chunker)
    report = build_index(work / "real", docs, embedder, chunker)
    texts, spans = [], []
    for doc in docs:
        for chunk in chunk_document(doc.doc_id, doc.text, chunker):
            text, shift = dense_text(doc, chunk.text)
            texts.append(text)
            spans.append([(s - chunk.start + shift, e - chunk.start + shift)
                          for s, e in sentence_spans(doc.text, chunk.start, chunk.end)])
    started = time.perf_counter()
    for lo in range(0, len(texts), 128):  # the batches build_index hands the embedder
        embedder.encode_with_sentences(texts[lo : lo + 128], spans[lo : lo + 128], batch_size=32)
    embed_only = len(texts) / (time.perf_counter() - started)
    ingest = report.chunks / report.seconds
    return {"ingest_set": f"first {len(docs)} documents of {corpus.WH_CRISIS.name} ({report.chunks} chunks)",
            "ingest_chunks_per_s": round(ingest, 2), "embed_only_chunks_per_s": round(embed_only, 2),
            "ingest_efficiency": round(ingest / embed_only, 3)}, report.path, texts


def searches(generation: Path, queries: np.ndarray, questions: list[str]) -> dict:
    """In-process dense and BM25 search latency on one generation (one thread, the service's candidates)."""
    dense = VectorIndex.load(generation / "dense.faiss")
    lexical = LexicalIndex.load(generation / "bm25", dense.size)
    pairs = list(zip(queries, questions))
    dense_t = time_each(lambda p: dense.search(p[0], CANDIDATES), pairs, 3)
    bm25_t = time_each(lambda p: lexical.search(p[1], CANDIDATES), pairs, 3)
    both = Timings([a + b for a, b in zip(dense_t.seconds, bm25_t.seconds)])
    return {"dense_search_p50_ms": dense_t.p50, "bm25_search_p50_ms": bm25_t.p50, "search_p50_ms": both.p50}


def index_kinds(vectors: np.ndarray, queries: np.ndarray) -> dict[str, dict]:
    """Each FAISS kind over the same vectors: build time, bytes a vector, search p50, recall@10 against flat."""
    results: dict[str, dict] = {}
    exact: np.ndarray | None = None
    with tempfile.TemporaryDirectory(prefix="bench-kinds-") as tmp:
        for kind in (k for k in KINDS if k != "auto"):
            faiss.omp_set_num_threads(os.cpu_count() or 1)  # builds use every core; searches one
            started = time.perf_counter()
            built = VectorIndex.build(vectors, kind)
            build_s = time.perf_counter() - started
            path = Path(tmp) / f"{kind}.faiss"
            built.save(path)
            del built
            faiss.omp_set_num_threads(1)
            index = VectorIndex.load(path)
            found = index.search_many(queries, 10)[1]
            exact = found if exact is None else exact
            recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found.tolist(), exact.tolist())])
            results[kind] = {"build_s": round(build_s, 1), "bytes_per_chunk": round(path.stat().st_size / len(vectors)),
                             "search_p50_ms": time_each(lambda q: index.search(q, CANDIDATES), list(queries), 2).p50,
                             "recall_at_10_vs_flat": round(float(recall), 4)}
            log(f"  {kind}: {results[kind]}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--full", action="store_true", help="add the 1M-chunk generation (tens of minutes)")
    parser.add_argument("--backend", choices=BACKENDS, default="onnx", help="embedding backend of the service")
    parser.add_argument("--work", type=Path, default=Path(__file__).resolve().parent / ".work",
                        help="where generations are kept between runs")
    parser.add_argument("--documents", type=int, default=10, help="real documents ingested (White House crisis set)")
    parser.add_argument("--rounds", type=int, default=3, help="times each question is asked per measurement")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients for throughput")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the throughput run")
    parser.add_argument("--no-haystack", action="store_true", help="skip the Haystack comparison")
    args = parser.parse_args()
    sizes = FULL_SIZES if args.full else SIZES
    args.work.mkdir(parents=True, exist_ok=True)
    questions = corpus.questions()
    result: dict = {"machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                                "load_average": os.getloadavg()[0], "backend": args.backend,
                                "questions": len(questions), "rounds": args.rounds}}

    log("embedding backends")
    found, embedders = embedding(args.backend, questions, args.rounds)
    result.update(found)
    query_vectors = embedders[args.backend].encode(questions)
    model = embedders[args.backend].name  # int8 has its own name, so its generations are kept apart
    del embedders

    log(f"ingesting {args.documents} real documents")
    found, real_generation, real_texts = ingestion(args.work, args.documents, args.backend)
    result.update(found)
    pool = corpus.generation_vectors(real_generation)
    chunker = _chunker()

    generations = {}
    for label, chunks in sizes.items():
        log(f"synthetic generation of {label} chunks")
        folder = args.work / (f"synthetic-{label}" if model == MODEL_NAME else f"synthetic-{label}-{args.backend}")
        generations[label] = corpus.synthetic_generation(folder, chunks, pool, chunker, model)
    result["chunks"] = {label: _chunks(g) for label, g in generations.items()}
    # The kind the service loads (VectorIndex.load reads it from the file): ivf-sq8 above AUTO_FLAT_UP_TO.
    result["index_kind"] = {label: VectorIndex.load(g / "dense.faiss").kind for label, g in generations.items()}
    # Everything a generation holds (store, dense, sentence vectors, BM25), most of it memory-mapped.
    result["generation_bytes_per_chunk"] = {
        label: round(sum(f.stat().st_size for f in g.rglob("*") if f.is_file()) / result["chunks"][label])
        for label, g in generations.items()}

    result["ask_p50_ms"], result["ask_p99_ms"] = {}, {}
    asked: dict[str, Timings] = {}
    for label, generation in generations.items():
        log(f"HTTP /v1/ask at {label}")
        with service.server(generation.parent, args.backend) as (url, first_answer_s):
            timings = asked[label] = service.latencies(url, questions, args.rounds)
            result["ask_p50_ms"][label], result["ask_p99_ms"][label] = timings.p50, timings.p99
            if label == "100k":
                result["cold_start_s"] = round(first_answer_s, 2)
                log(f"throughput, {args.clients} clients")
                result["throughput_clients"] = args.clients
                result["throughput_qps"] = round(service.throughput(url, questions, args.clients, args.seconds), 1)

    log("in-process search at 100k")
    result.update(searches(generations["100k"], query_vectors, questions))
    largest = list(generations)[-1]
    log(f"index kinds at {largest}")
    vectors = corpus.generation_vectors(generations[largest])
    probe = np.vstack([query_vectors, corpus.StandInEmbedder(pool, seed=99).vectors(150)])
    result["index_kinds_at"] = largest
    result["index_kinds"] = index_kinds(vectors, probe)
    del vectors
    result["bytes_per_chunk"] = {k: v["bytes_per_chunk"] for k, v in result["index_kinds"].items()}
    result["recall_at_10_vs_flat"] = {k: v["recall_at_10_vs_flat"] for k, v in result["index_kinds"].items() if k != "flat"}

    if not args.no_haystack:
        log("Haystack (in its own venv)")
        synthetic = {"10k": (corpus.generation_texts(generations["10k"]), corpus.generation_vectors(generations["10k"]))}
        subset = questions[:HAYSTACK_QUESTIONS]
        result["haystack"] = haystack_venv.run(bundled_model_path(), subset, real_texts[:HAYSTACK_TEXTS], synthetic, 1)
        # Our latency on the same questions, from the 10k run (timings are in question order, round after round).
        ours = Timings([t for i, t in enumerate(asked["10k"].seconds) if i % len(questions) < len(subset)])
        result["speedup_vs_haystack"] = round(result["haystack"]["10k"]["ask_p50_ms"] / ours.p50, 2)

    result["overhead_ratio_100k"] = round(
        result["ask_p50_ms"]["100k"] / (result["embed_query_p50_ms"] + result["search_p50_ms"]), 2)
    print(json.dumps(result, indent=2) if args.json else table(result))


def _chunker() -> ChunkerConfig:
    settings = get_settings()
    return ChunkerConfig(settings.encoding, settings.chunk_tokens, settings.chunk_overlap)


def _chunks(generation: Path) -> int:
    return int(json.loads((generation / "manifest.json").read_text())["chunks"])


def table(r: dict) -> str:
    m = r["machine"]
    lines = [f"{m['cpus']} cores ({m['processor']}), load {m['load_average']:.1f} at start; service backend {m['backend']}; "
             f"{m['questions']} questions x {m['rounds']} rounds", ""]
    lines.append(f"{'HTTP POST /v1/ask, hybrid, 1 client':40} " + "".join(f"{k:>10}" for k in r["ask_p50_ms"]))
    lines.append(f"{'  chunks':40} " + "".join(f"{v:>10}" for v in r["chunks"].values()))
    lines.append(f"{'  FAISS index kind':40} " + "".join(f"{v:>10}" for v in r["index_kind"].values()))
    lines.append(f"{'  p50 ms':40} " + "".join(f"{v:>10.1f}" for v in r["ask_p50_ms"].values()))
    lines.append(f"{'  p99 ms':40} " + "".join(f"{v:>10.1f}" for v in r["ask_p99_ms"].values()))
    lines.append(f"{'  generation on disk, bytes/chunk':40} " + "".join(f"{v:>10}" for v in r["generation_bytes_per_chunk"].values()))
    lines.append("")
    lines.append("query embedding p50 ms: " + ", ".join(f"{k} {v:.2f}" for k, v in r["embed_query_p50_ms_by_backend"].items())
                 + f"; int8 cosine to fp32 min {r['int8_cosine_vs_fp32']['min']}, mean {r['int8_cosine_vs_fp32']['mean']}")
    lines.append(f"search p50 ms at 100k (1 thread, {CANDIDATES} candidates): dense {r['dense_search_p50_ms']:.2f}, "
                 f"BM25 {r['bm25_search_p50_ms']:.2f}, both {r['search_p50_ms']:.2f}")
    lines.append(f"cold start at 100k (process start to first answer): {r['cold_start_s']:.2f} s; "
                 f"throughput, {r['throughput_clients']} clients: {r['throughput_qps']:.1f} answers/s")
    lines.append(f"ingest ({r['ingest_set']}): {r['ingest_chunks_per_s']:.1f} chunks/s; "
                 f"embedding alone {r['embed_only_chunks_per_s']:.1f} chunks/s")
    lines.append("")
    lines.append(f"{'index kind at ' + r['index_kinds_at']:24}{'bytes/chunk':>12}{'search p50 ms':>15}{'recall@10':>11}{'build s':>9}")
    for kind, k in r["index_kinds"].items():
        lines.append(f"{kind:24}{k['bytes_per_chunk']:>12}{k['search_p50_ms']:>15.2f}{k['recall_at_10_vs_flat']:>11.3f}{k['build_s']:>9.1f}")
    if "haystack" in r:
        h = r["haystack"]
        lines.append("")
        lines.append(f"Haystack 2.x in-memory hybrid (in process, no HTTP): 10k p50 {h['10k']['ask_p50_ms']:.1f} ms, "
                     f"p99 {h['10k']['ask_p99_ms']:.1f} ms; real {h['real']['chunks']} chunks p50 {h['real']['ask_p50_ms']:.1f} ms; "
                     f"embedding {h['embed_chunks_per_s']:.1f} chunks/s")
    lines.append("")
    for name in ("overhead_ratio_100k", "speedup_vs_haystack", "ingest_efficiency", "cold_start_s"):
        if name in r:
            lines.append(f"{name:24}{r[name]:>10}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
