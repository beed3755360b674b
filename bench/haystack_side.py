"""The same questions through a Haystack 2.x hybrid pipeline; run by ``bench`` inside ``bench/.venv-haystack``.

Reads a folder written by the benchmark (chunk texts, their vectors, the questions, the model path) and
prints one JSON object. It imports nothing from this project: that venv has Haystack, not the project.

Pipeline: SentenceTransformersTextEmbedder -> InMemoryEmbeddingRetriever, and InMemoryBM25Retriever,
joined by DocumentJoiner with reciprocal rank fusion: the hybrid mode of ``rag.Engine.ask``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
from haystack import Document, Pipeline  # noqa: E402
from haystack.components.joiners import DocumentJoiner  # noqa: E402
from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever  # noqa: E402
from haystack.document_stores.in_memory import InMemoryDocumentStore  # noqa: E402
from haystack_integrations.components.embedders.sentence_transformers import (  # noqa: E402
    SentenceTransformersDocumentEmbedder,
    SentenceTransformersTextEmbedder,
)

CANDIDATES = 100  # as rag's default
TOP_K = 5


def pipeline(store: InMemoryDocumentStore, model: str) -> Pipeline:
    hybrid = Pipeline()
    hybrid.add_component("text_embedder", SentenceTransformersTextEmbedder(model=model, normalize_embeddings=True,
                                                                           progress_bar=False))
    hybrid.add_component("embedding_retriever", InMemoryEmbeddingRetriever(store, top_k=CANDIDATES))
    hybrid.add_component("bm25_retriever", InMemoryBM25Retriever(store, top_k=CANDIDATES))
    hybrid.add_component("joiner", DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=TOP_K))
    hybrid.connect("text_embedder.embedding", "embedding_retriever.query_embedding")
    hybrid.connect("embedding_retriever", "joiner")
    hybrid.connect("bm25_retriever", "joiner")
    hybrid.warm_up()
    return hybrid


def ask_timings(hybrid: Pipeline, questions: list[str], rounds: int) -> dict:
    def ask(question: str) -> None:
        hybrid.run({"text_embedder": {"text": question}, "bm25_retriever": {"query": question}})

    ask(questions[0])  # loads lazily initialised parts
    seconds = []
    for _ in range(rounds):
        for question in questions:
            started = time.perf_counter()
            ask(question)
            seconds.append(time.perf_counter() - started)
    return {"ask_p50_ms": round(float(np.percentile(seconds, 50)) * 1000, 3),
            "ask_p99_ms": round(float(np.percentile(seconds, 99)) * 1000, 3)}


def main(folder: Path) -> dict:
    spec = json.loads((folder / "spec.json").read_text())
    model, questions, rounds = spec["model"], spec["questions"], spec["rounds"]
    result: dict = {}

    # The real subset: Haystack embeds the same chunk texts with the same model.
    texts = json.loads((folder / "real.json").read_text())
    embedder = SentenceTransformersDocumentEmbedder(model=model, normalize_embeddings=True, progress_bar=False)
    embedder.warm_up()
    started = time.perf_counter()
    documents = embedder.run([Document(id=str(i), content=t) for i, t in enumerate(texts)])["documents"]
    result["embed_chunks_per_s"] = round(len(texts) / (time.perf_counter() - started), 2)
    store = InMemoryDocumentStore(embedding_similarity_function="dot_product")
    store.write_documents(documents)
    result["real"] = {"chunks": len(texts), **ask_timings(pipeline(store, model), questions, rounds)}

    # The synthetic generations: the benchmark's own vectors, so no embedding here.
    for name in spec["synthetic"]:
        texts = json.loads((folder / f"{name}.json").read_text())
        vectors = np.load(folder / f"{name}.npy")
        store = InMemoryDocumentStore(embedding_similarity_function="dot_product")
        started = time.perf_counter()
        # Ids by row: Haystack's default id hashes the content, and some chunks repeat (boilerplate).
        store.write_documents([Document(id=str(i), content=t, embedding=v.tolist())
                               for i, (t, v) in enumerate(zip(texts, vectors))])
        result[name] = {"chunks": len(texts), "load_s": round(time.perf_counter() - started, 2),
                        **ask_timings(pipeline(store, model), questions, rounds)}
    return result


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
