"""``python -m bench``: how fast the service answers, embeds, searches, ingests and takes writes, beside Haystack.

Prints a table (progress goes to stderr); ``--json`` prints one JSON object instead. ``--full`` adds the
1M-chunk index (slow to write: about as long as chunking 1M chunks). Synthetic indexes are kept under
``--work`` and reused, so a second run only measures. Never a timed test: numbers depend on the machine
and its load, so compare ratios within one run.

Real text comes from the team data folder (``--data``, else ``$RAG_BENCH_DATA``, else ``../shared/data``)
when it is there, else from what the project ships (``corpus/``, ``seeds/``, ``evals/seed.jsonl``); the
output says which (``data``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

from rag.chunking import ChunkerConfig, chunk_document
from rag.documents import Document
from rag.embedding import BACKENDS, MODEL_NAME, Embedder, bundled_model_path, passage_backend
from rag.index import build_index
from rag.lexical import tokenize
from rag.segment import dense_text
from rag.sentences import sentence_spans
from rag.settings import get_settings
from rag.storage import Scope
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
SHARDS = 4  # the sharded index beside the single one at 100k
WRITE_WORDS = 3_000  # each document POSTed in the write measurement


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


def embed_inputs(docs: list[Document], chunker: ChunkerConfig) -> tuple[list[str], list[list[tuple[int, int]]]]:
    """The texts and sentence spans ``rag.segment.write_segment`` hands the embedder for these documents."""
    texts, spans = [], []
    for doc in docs:
        for chunk in chunk_document(doc.doc_id, doc.text, chunker):
            text, shift = dense_text(doc, chunk.text)
            texts.append(text)
            spans.append([(s - chunk.start + shift, e - chunk.start + shift)
                          for s, e in sentence_spans(doc.text, chunk.start, chunk.end)])
    return texts, spans


def embed_only(embedder: Embedder, texts: list[str], spans: list[list[tuple[int, int]]]) -> float:
    """Seconds the embedder alone takes over these chunks, in the batches write_segment makes (by length, 128)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    started = time.perf_counter()
    for lo in range(0, len(order), 128):
        batch = order[lo : lo + 128]
        embedder.encode_with_sentences([texts[i] for i in batch], [spans[i] for i in batch], batch_size=32)
    return time.perf_counter() - started


def ingestion(work: Path, documents: int, backend: str, data: corpus.Data) -> tuple[dict, Path, list[str]]:
    """The real subset through ``build_index``, and the same chunks through the embedder alone (both cores),
    passages embedded as `rag index` embeds them with ``backend`` for questions (rag.embedding.passage_backend)."""
    embedder = Embedder(backend=backend, passages=passage_backend(get_settings().model_copy(update={"embed_backend": backend})))
    chunker = _chunker()
    docs = data.real_subset(documents)
    shutil.rmtree(work / "real", ignore_errors=True)  # else unchanged chunks are reused, not embedded
    # Loading tiktoken's encoding (0.2 s, once a process) is a start-up cost, like loading the model.
    chunk_document("warm-up", "Warm up.", chunker)
    report = build_index(work / "real", docs, embedder, chunker)
    texts, spans = embed_inputs(docs, chunker)
    embed_rate = len(texts) / embed_only(embedder, texts, spans)
    ingest = report.chunks / report.seconds
    return {"ingest_set": f"first {len(docs)} documents of {data.real_name} ({report.chunks} chunks)",
            "ingest_passage_backend": embedder.passage_backend,
            "ingest_chunks_per_s": round(ingest, 2), "embed_only_chunks_per_s": round(embed_rate, 2),
            "ingest_efficiency": round(ingest / embed_rate, 3)}, work / "real", texts


def searches(index: Path, queries: np.ndarray, questions: list[str]) -> dict:
    """In-process dense and BM25 search latency through one index's Store (one thread, the service's
    candidates, every segment, no filter); BM25's time includes tokenizing the question."""
    store = corpus.open_store(index)
    everything = Scope()
    pairs = list(zip(queries, questions))
    dense_t = time_each(lambda p: store.dense_search(p[0], CANDIDATES, everything), pairs, 3)
    bm25_t = time_each(lambda p: store.lexical_search(tokenize([p[1]])[0], CANDIDATES, everything), pairs, 3)
    both = Timings([a + b for a, b in zip(dense_t.seconds, bm25_t.seconds)])
    return {"dense_search_p50_ms": dense_t.p50, "bm25_search_p50_ms": bm25_t.p50, "search_p50_ms": both.p50}


def writes(index: Path, backend: str, work: Path, data: corpus.Data, count: int) -> dict:
    """Writes through the HTTP service on a copy of ``index`` (the cached one is never changed): ``count``
    POSTs of a new document of ``WRITE_WORDS`` words each, every call's wall time beside the time the
    embedder alone takes over that document's chunks here (so the rest is the write's own overhead:
    chunking, storing, the segment's BM25 and FAISS files, fsyncs, the manifest switch, reopening the
    snapshot, HTTP); then ``count`` DELETEs of synthetic documents (tombstones on the large segment)."""
    embedder = Embedder(backend=backend)
    chunker = _chunker()
    key = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="writes-", dir=work) as tmp:
        copy = Path(tmp) / index.name
        shutil.copytree(index, copy, symlinks=True)
        ids = corpus.open_store(copy).segments[0].segment.doc_ids
        victims = [ids[i] for i in np.linspace(0, len(ids) - 1, count).astype(int)]
        post, embed, overhead, chunks = Timings(), Timings(), Timings(), []
        with service.server(copy, backend, key) as running:
            writer = service.Writer(running.url, key)
            for i in range(count + 1):  # the first, untimed, warms both sides up for documents this long
                doc = corpus.new_document(WRITE_WORDS, data, i)
                texts, spans = embed_inputs([doc], chunker)
                embed_s = embed_only(embedder, texts, spans)
                _settle(copy)  # a merge the previous write set off in the background has finished
                started = time.perf_counter()
                answer = writer.add({"text": doc.text, "title": doc.title, "source": doc.source, "url": doc.url,
                                     **({"published": doc.published} if doc.published else {})})
                post_s = time.perf_counter() - started
                if answer["embedded"] != len(texts):
                    log(f"  POST embedded {answer['embedded']} chunks, the bench {len(texts)}")
                if i:
                    post.seconds.append(post_s)
                    embed.seconds.append(embed_s)
                    overhead.seconds.append(post_s - embed_s)
                    chunks.append(len(texts))
            _settle(copy)
            segments = corpus.segment_count(copy)
            deleted = Timings()
            for doc_id in victims:
                _settle(copy)
                with deleted.measure():
                    writer.delete(doc_id)
            writer.close()
    return {"writes_via": f"HTTP POST/DELETE /v1/documents on a copy of the 100k index, {count} of each",
            "write_document_words": WRITE_WORDS, "write_document_chunks": int(np.median(chunks)),
            "post_p50_ms_100k": post.p50, "post_p99_ms_100k": post.p99, "post_embed_p50_ms_100k": embed.p50,
            "write_overhead_ms_100k": overhead.p50, "delete_p50_ms_100k": deleted.p50,
            "delete_p99_ms_100k": deleted.p99, "segments_after_writes_100k": segments}


def _settle(index: Path, quiet_s: float = 0.5, limit_s: float = 120) -> None:
    """Wait until no segment is being written at ``index`` and its CURRENT has not moved for ``quiet_s``."""
    deadline = time.perf_counter() + limit_s
    last, since = None, time.perf_counter()
    while time.perf_counter() < deadline:
        current = os.readlink(index / "CURRENT") if not any(index.glob(".building-*")) else None
        if current is None or current != last:
            last, since = current, time.perf_counter()
        elif time.perf_counter() - since >= quiet_s:
            return
        time.sleep(0.05)


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
            index = VectorIndex.read(path.read_bytes())
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
    parser.add_argument("--writes", type=int, default=15, help="documents POSTed, and deleted, at 100k (0: none)")
    parser.add_argument("--data", type=Path, default=None,
                        help=f"the team data folder (default ${corpus.DATA_ENV}, else ../shared/data); "
                        "without it, the shipped corpus/, seeds/ and evals/seed.jsonl are used")
    args = parser.parse_args()
    sizes = FULL_SIZES if args.full else SIZES
    args.work.mkdir(parents=True, exist_ok=True)
    data = corpus.Data.locate(args.data)
    log(f"data: {data.describe()}")
    questions = data.questions()
    result: dict = {"machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                                "load_average": os.getloadavg()[0], "backend": args.backend,
                                "questions": len(questions), "rounds": args.rounds},
                    "data": {"kind": data.label, "folder": str(data.folder), "description": data.describe(),
                             "question_sets": [p.name for p in data.question_sets()]}}

    log("embedding backends")
    found, embedders = embedding(args.backend, questions, args.rounds)
    result.update(found)
    query_vectors = embedders[args.backend].encode(questions)
    model = embedders[args.backend].name  # int8 has its own name, so its generations are kept apart
    del embedders

    log(f"ingesting {args.documents} real documents")
    found, real_index, real_texts = ingestion(args.work, args.documents, args.backend, data)
    result.update(found)
    pool = corpus.generation_vectors(real_index)
    chunker = _chunker()

    # Cached per backend's model name and per data: an index of another model would not open, and one of
    # other sentences is other text.
    suffix = ("" if model == MODEL_NAME else f"-{args.backend}") + ("" if data.team else "-shipped")
    generations = {}
    for label, chunks in sizes.items():
        log(f"synthetic index of {label} chunks")
        generations[label] = corpus.synthetic_generation(args.work / f"synthetic-{label}{suffix}", chunks, pool,
                                                         chunker, data, model)
    sharded = f"100k-{SHARDS}shards"
    log(f"synthetic index of 100k chunks in {SHARDS} shards")
    generations[sharded] = corpus.synthetic_generation(args.work / f"synthetic-{sharded}{suffix}", SIZES["100k"],
                                                       pool, chunker, data, model, shards=SHARDS)
    result["chunks"] = {label: _chunks(g) for label, g in generations.items()}
    # The kind the service searches most of the chunks with: ivf-sq8 above AUTO_FLAT_UP_TO chunks a segment.
    result["index_kind"] = {label: corpus.index_kind(g) for label, g in generations.items()}
    # Everything an index directory holds (document store, segments: their stores, dense and sentence
    # vectors, BM25); the service reads the segments whole into memory.
    result["generation_bytes_per_chunk"] = {label: round(corpus.folder_bytes(g) / result["chunks"][label])
                                            for label, g in generations.items()}
    result["segments"] = {label: corpus.segment_count(g) for label, g in generations.items()}

    result["ask_p50_ms"], result["ask_p99_ms"], result["server_rss_mb"] = {}, {}, {}
    asked: dict[str, Timings] = {}
    for label, generation in generations.items():
        log(f"HTTP /v1/ask at {label}")
        with service.server(generation, args.backend) as running:
            timings = asked[label] = service.latencies(running.url, questions, args.rounds)
            result["ask_p50_ms"][label], result["ask_p99_ms"][label] = timings.p50, timings.p99
            # What one machine (or one shard) holds to serve this many chunks: the model, every segment.
            result["server_rss_mb"][label] = running.rss_mb()
            if label == "100k":
                result["cold_start_s"] = round(running.first_answer_s, 2)
                log(f"throughput, {args.clients} clients")
                result["throughput_clients"] = args.clients
                result["throughput_qps"] = round(service.throughput(running.url, questions, args.clients,
                                                                    args.seconds), 1)

    result["ask_sharded_p50_ms_100k"] = result["ask_p50_ms"][sharded]
    result["ask_sharded_p99_ms_100k"] = result["ask_p99_ms"][sharded]
    default = get_settings().reranker  # what `rag serve` answers with: hybrid, then the default reranker
    log(f"HTTP /v1/ask at 100k, the default mode (reranker {default})")
    with service.server(generations["100k"], args.backend, reranker=default) as running:
        timings = service.latencies(running.url, questions, args.rounds)
        result["ask_default_p50_ms_100k"], result["ask_default_p99_ms_100k"] = timings.p50, timings.p99

    if args.writes:
        log(f"writes at 100k: {args.writes} POSTs of {WRITE_WORDS}-word documents, {args.writes} DELETEs")
        result.update(writes(generations["100k"], args.backend, args.work, data, args.writes))

    log("in-process search at 100k")
    result.update(searches(generations["100k"], query_vectors, questions))
    largest = list(sizes)[-1]
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
        try:
            result["haystack"] = haystack_venv.run(bundled_model_path(), subset, real_texts[:HAYSTACK_TEXTS], synthetic, 1)
        except haystack_venv.Unavailable as exc:
            log(f"Haystack comparison skipped: {exc}")
            result["haystack_skipped"] = str(exc)
        else:
            # Our latency on the same questions, from the 10k run (timings are in question order, round after round).
            ours = Timings([t for i, t in enumerate(asked["10k"].seconds) if i % len(questions) < len(subset)])
            result["speedup_vs_haystack"] = round(result["haystack"]["10k"]["ask_p50_ms"] / ours.p50, 2)
            # Our whole build (chunking, embedding chunks and sentences, writing the index) against Haystack's
            # embedding alone of the same chunks.
            result["speedup_ingest_vs_haystack"] = round(
                result["ingest_chunks_per_s"] / result["haystack"]["embed_chunks_per_s"], 2)

    result["overhead_ratio_100k"] = round(
        result["ask_p50_ms"]["100k"] / (result["embed_query_p50_ms"] + result["search_p50_ms"]), 2)
    print(json.dumps(result, indent=2) if args.json else table(result))


def _chunker() -> ChunkerConfig:
    settings = get_settings()
    return ChunkerConfig(settings.encoding, settings.chunk_tokens, settings.chunk_overlap)


def _chunks(index: Path) -> int:
    return corpus.open_store(index).stats().chunks


def table(r: dict) -> str:
    m = r["machine"]
    lines = [f"{m['cpus']} cores ({m['processor']}), load {m['load_average']:.1f} at start; service backend {m['backend']}; "
             f"{m['questions']} questions x {m['rounds']} rounds",
             f"data: {r['data']['description']}; questions of {', '.join(r['data']['question_sets'])}", ""]
    w = max(10, *(len(k) + 2 for k in r["ask_p50_ms"]))  # column width
    lines.append(f"{'HTTP POST /v1/ask, hybrid alone, 1 client':40} " + "".join(f"{k:>{w}}" for k in r["ask_p50_ms"]))
    lines.append(f"{'  chunks':40} " + "".join(f"{v:>{w}}" for v in r["chunks"].values()))
    lines.append(f"{'  FAISS index kind':40} " + "".join(f"{v:>{w}}" for v in r["index_kind"].values()))
    lines.append(f"{'  p50 ms':40} " + "".join(f"{v:>{w}.1f}" for v in r["ask_p50_ms"].values()))
    lines.append(f"{'  p99 ms':40} " + "".join(f"{v:>{w}.1f}" for v in r["ask_p99_ms"].values()))
    lines.append(f"{'  index on disk, bytes/chunk':40} " + "".join(f"{v:>{w}}" for v in r["generation_bytes_per_chunk"].values()))
    lines.append(f"{'  segments (all shards)':40} " + "".join(f"{v:>{w}}" for v in r["segments"].values()))
    lines.append(f"{'  server resident memory, MB':40} " + "".join(f"{v:>{w}.0f}" for v in r["server_rss_mb"].values()))
    lines.append(f"HTTP POST /v1/ask at 100k, the default mode (hybrid, then the default reranker): "
                 f"p50 {r['ask_default_p50_ms_100k']:.1f} ms, p99 {r['ask_default_p99_ms_100k']:.1f} ms")
    lines.append("")
    lines.append("query embedding p50 ms: " + ", ".join(f"{k} {v:.2f}" for k, v in r["embed_query_p50_ms_by_backend"].items())
                 + f"; int8 cosine to fp32 min {r['int8_cosine_vs_fp32']['min']}, mean {r['int8_cosine_vs_fp32']['mean']}")
    lines.append(f"search p50 ms at 100k (1 thread, {CANDIDATES} candidates): dense {r['dense_search_p50_ms']:.2f}, "
                 f"BM25 {r['bm25_search_p50_ms']:.2f}, both {r['search_p50_ms']:.2f}")
    lines.append(f"cold start at 100k (process start to first answer): {r['cold_start_s']:.2f} s; "
                 f"throughput, {r['throughput_clients']} clients: {r['throughput_qps']:.1f} answers/s")
    lines.append(f"ingest ({r['ingest_set']}): {r['ingest_chunks_per_s']:.1f} chunks/s; "
                 f"embedding alone {r['embed_only_chunks_per_s']:.1f} chunks/s")
    if "post_p50_ms_100k" in r:
        lines.append(f"writes at 100k ({r['writes_via']}; {r['write_document_words']} words, "
                     f"{r['write_document_chunks']} chunks a document):")
        lines.append(f"  POST p50 {r['post_p50_ms_100k']:.1f} ms (p99 {r['post_p99_ms_100k']:.1f}), of which embedding "
                     f"its chunks alone p50 {r['post_embed_p50_ms_100k']:.1f} ms; overhead p50 {r['write_overhead_ms_100k']:.1f} ms; "
                     f"DELETE p50 {r['delete_p50_ms_100k']:.1f} ms (p99 {r['delete_p99_ms_100k']:.1f}); "
                     f"{r['segments_after_writes_100k']} segments after the POSTs")
    lines.append("")
    lines.append(f"{'index kind at ' + r['index_kinds_at']:24}{'bytes/chunk':>12}{'search p50 ms':>15}{'recall@10':>11}{'build s':>9}")
    for kind, k in r["index_kinds"].items():
        lines.append(f"{kind:24}{k['bytes_per_chunk']:>12}{k['search_p50_ms']:>15.2f}{k['recall_at_10_vs_flat']:>11.3f}{k['build_s']:>9.1f}")
    if "haystack_skipped" in r:
        lines.append("")
        lines.append(f"Haystack comparison skipped: {r['haystack_skipped']}")
    if "haystack" in r:
        h = r["haystack"]
        lines.append("")
        lines.append(f"Haystack 2.x in-memory hybrid (in process, no HTTP): 10k p50 {h['10k']['ask_p50_ms']:.1f} ms, "
                     f"p99 {h['10k']['ask_p99_ms']:.1f} ms; real {h['real']['chunks']} chunks p50 {h['real']['ask_p50_ms']:.1f} ms; "
                     f"embedding {h['embed_chunks_per_s']:.1f} chunks/s")
    lines.append("")
    for name in ("overhead_ratio_100k", "speedup_vs_haystack", "speedup_ingest_vs_haystack", "ingest_efficiency",
                 "cold_start_s", "write_overhead_ms_100k"):
        if name in r:
            lines.append(f"{name:24}{r[name]:>10}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
