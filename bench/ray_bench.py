"""``python -m bench.ray_bench`` (``make bench-ray``): indexing and serving on a Ray cluster started on this
machine (a head that takes no work, plus worker nodes of one CPU each), beside the local mode. Needs the
ray extra. Prints one JSON object (progress goes to stderr).

* Ingestion: the same documents (real sentences, as bench.corpus draws them) indexed locally (the model
  on every core) and through Ray with 1 and with 2 worker nodes (one model and one CPU each); chunks/s of
  each (the best of ``--repeats`` builds) and the 1 -> 2 ratio, and each Ray build checked against the
  local one (chunk ids, vectors).
* Serving: a synthetic sharded index of ``--chunks`` chunks (bench.corpus), its shards read in process
  (threads) and through shard actors on the 2 worker nodes: `Engine.ask` p50/p99 both ways, the fan-out
  overhead (the difference of the p50s, and of one dense search), whether every question's top 10 is
  the same both ways, each shard actor's resident memory and the index's bytes on disk per chunk.

Worker nodes here share the machine's cores, so 2 nodes on 2 cores measure what a second node adds when
each node has one core: the cost model in the README scales it to real nodes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
import ray
from ray.cluster_utils import Cluster

from rag import Engine, build_index
from rag.documents import Document
from rag.embedding import Embedder
from rag.index import LocalIndex
from rag.ray_cluster import RayEmbedder, serving_engine
from rag.retrieve import index_config
from rag.settings import get_settings
from rag.sharded import ShardedIndex
from rag.storage import Scope

from . import corpus
from .__main__ import embed_inputs
from .stats import Timings, rss_mb, time_each

SHARDS = 2
CANDIDATES = 100  # hits a dense search takes, as the service's default settings


def log(message: str) -> None:
    print(f"[ray bench] {message}", file=sys.stderr, flush=True)


@contextmanager
def cluster(worker_nodes: int) -> Iterator[str]:
    """A local Ray cluster: a head without CPUs (so all work lands on workers) and ``worker_nodes`` nodes of
    one CPU each; yields its address, connected."""
    started = time.perf_counter()
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        for _ in range(worker_nodes):
            nodes.add_node(num_cpus=1)
        nodes.wait_for_nodes()
        ray.init(address=nodes.address, logging_level="warning")
        log(f"cluster of {worker_nodes} worker nodes up in {time.perf_counter() - started:.1f} s")
        yield nodes.address
    finally:
        ray.shutdown()
        nodes.shutdown()


def ingest(folder: Path, documents: list[Document], embedder, chunker, repeats: int, batch_size: int = 32) -> dict:
    """The best of ``repeats`` builds from nothing (on a shared machine, the one least slowed by the rest)."""
    rates = []
    for _ in range(repeats):
        shutil.rmtree(folder, ignore_errors=True)  # else unchanged chunks are reused, not embedded
        ShardedIndex.create(folder, SHARDS)
        report = build_index(folder, documents, embedder, chunker, batch_size)
        rates.append(round(report.chunks / report.seconds, 2))
    return {"chunks": report.chunks, "chunks_per_s": max(rates), "each_run_chunks_per_s": rates}


def ray_ingest(folder: Path, documents: list[Document], backend: str, chunker, nodes: int, local: Path,
               repeats: int) -> dict:
    started = time.perf_counter()
    workers = RayEmbedder(backend=backend, workers=nodes)
    try:
        ray.get([w.describe.remote() for w in workers.workers])  # every model loaded before the clock starts
        start_s = time.perf_counter() - started
        found = ingest(folder, documents, workers, chunker, repeats, workers.index_batch_size)
    finally:
        workers.close()
    return {**found, "workers_start_s": round(start_s, 2), **same_build(folder, local, workers)}


def same_build(ours: Path, theirs: Path, embedder) -> dict:
    """Whether two sharded indexes hold the same chunks (ids and offsets), and how far apart their vectors are."""
    config = index_config(get_settings(), embedder)
    same, worst = True, 0.0
    for shard in range(SHARDS):
        stores = [LocalIndex(path / f"shard-{shard:02d}", config).open() for path in (ours, theirs)]
        found = []
        for store in stores:
            ids = store.dense_search(np.ones(embedder.dimension, np.float32), store.stats().chunks, Scope()).ids
            refs = store.chunks(ids)
            found.append({(c.doc_id, c.index, c.start, c.end): v for c, v in zip(refs, store.vectors(ids))})
        same &= found[0].keys() == found[1].keys()
        worst = max([worst] + [float(np.abs(v - found[1][k]).max()) for k, v in found[0].items() if k in found[1]])
    return {"same_chunk_ids": same, "max_vector_difference": worst}


def traffic(documents: list[Document], chunker, dimension: int) -> dict:
    """Bytes a chunk costs on the network in a Ray build: its text and sentence offsets out, its vector and
    its sentences' vectors (float32) back."""
    texts, spans = embed_inputs(documents, chunker)
    text_bytes = sum(len(t.encode()) for t in texts) / len(texts)
    sentences = sum(len(s) for s in spans) / len(spans)
    back = 4 * dimension * (1 + sentences)
    return {"text_bytes_per_chunk": round(text_bytes), "sentences_per_chunk": round(sentences, 2),
            "bytes_per_chunk": round(text_bytes + 16 * sentences + back)}


def asking(engine: Engine, questions: list[str], rounds: int) -> tuple[Timings, list[list[str]]]:
    tops = [[p.chunk_id for p in engine.ask(q, top_k=10).passages] for q in questions]
    return time_each(lambda q: engine.ask(q), questions, rounds), tops


def serving(address: str, index: Path, embedder: Embedder, questions: list[str], rounds: int) -> dict:
    settings = get_settings()
    local = Engine.open(index, settings=settings, embedder=embedder)
    remote = serving_engine(address, settings, index, shards=SHARDS, embedder=embedder)
    try:
        found: dict = {}
        for label, engine in (("local", local), ("ray", remote)):
            log(f"asking {len(questions)} questions x {rounds}, shards read {label}")
            timings, found[f"top10_{label}"] = asking(engine, questions, rounds)
            found[f"ask_p50_ms_{label}"], found[f"ask_p99_ms_{label}"] = timings.p50, timings.p99
            queries = embedder.encode(questions)
            dense = time_each(lambda q: engine.store.dense_search(q, CANDIDATES, Scope()), list(queries), rounds)
            found[f"dense_search_p50_ms_{label}"] = dense.p50
        same = sum(a == b for a, b in zip(found.pop("top10_local"), found.pop("top10_ray")))
        found["same_top10"] = f"{same}/{len(questions)}"
        found["fan_out_overhead_ms"] = round(found["ask_p50_ms_ray"] - found["ask_p50_ms_local"], 2)
        dense_overhead = found["dense_search_p50_ms_ray"] - found["dense_search_p50_ms_local"]
        found["dense_search_overhead_ms"] = round(dense_overhead, 2)
        found["shard_actor_rss_mb"] = [ray.get(actor.__ray_call__.remote(_rss_mb)) for actor in remote.index.actors]
        return found
    finally:
        remote.index.close()


def _rss_mb(_actor) -> float:
    """The resident memory of the process this runs in (a shard actor's), in MB."""
    return rss_mb()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ray_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("torch", "onnx", "onnx-int8"), default="onnx")
    parser.add_argument("--work", type=Path, default=Path(__file__).resolve().parent / ".work",
                        help="where indexes are kept (the synthetic one is reused between runs)")
    parser.add_argument("--ingest-chunks", type=int, default=400, help="chunks of real sentences to ingest")
    parser.add_argument("--chunks", type=int, default=100_000, help="chunks of the synthetic index served")
    parser.add_argument("--rounds", type=int, default=1, help="times each question is asked per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="ingestion runs per setting (the best is kept)")
    parser.add_argument("--data", type=Path, default=None,
                        help=f"the team data folder (default ${corpus.DATA_ENV}, else ../shared/data)")
    args = parser.parse_args()
    work = args.work / "ray"
    work.mkdir(parents=True, exist_ok=True)
    data = corpus.Data.locate(args.data)
    log(f"data: {data.describe()}")
    embedder = Embedder(backend=args.backend)
    chunker = index_config(get_settings(), embedder).chunker
    documents = corpus.synthetic_documents(args.ingest_chunks, chunker, data, seed=7)
    questions = data.questions()
    result: dict = {"machine": {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()[0],
                                "backend": args.backend, "ray": ray.__version__},
                    "data": data.describe(), "questions": len(questions),
                    "traffic": traffic(documents, chunker, embedder.dimension)}

    log(f"ingesting {len(documents)} documents locally")
    local = work / "ingest-local"
    result["ingest_local"] = ingest(local, documents, embedder, chunker, args.repeats)
    for nodes in (1, 2):
        with cluster(nodes) as address:
            log(f"ingesting through Ray, {nodes} worker node(s)")
            result[f"ingest_ray_{nodes}_nodes"] = ray_ingest(work / f"ingest-ray-{nodes}", documents, args.backend,
                                                              chunker, nodes, local, args.repeats)
            if nodes == 2:
                pool = corpus.generation_vectors(local)
                log(f"synthetic index of {args.chunks} chunks in {SHARDS} shards")
                index = corpus.synthetic_generation(work / f"synthetic-{args.chunks}-{SHARDS}shards-{data.label}",
                                                    args.chunks, pool, chunker, data, embedder.name, shards=SHARDS)
                result["serving_chunks"] = corpus.open_store(index).stats().chunks
                result["index_bytes_per_chunk"] = round(corpus.folder_bytes(index) / result["serving_chunks"])
                result["serving"] = serving(address, index, embedder, questions, args.rounds)
    one, two = (result[f"ingest_ray_{n}_nodes"]["chunks_per_s"] for n in (1, 2))
    result["ingest_speedup_1_to_2_nodes"] = round(two / one, 2)
    result["machine"]["load_average_at_end"] = os.getloadavg()[0]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
