"""The benchmark's data: a real subset of the crisis sources, and synthetic index generations of any size.

Embedding 100k chunks takes hours on 2 cores, so large generations are synthetic, written by the real
``build_index`` (same chunker, store, BM25 and on-disk format) with a stand-in embedder:

* documents are real sentences of all the crisis sources, drawn at random (so every chunk is new text
  with the sources' vocabulary), with a real document's title, source and date;
* a chunk's vector is two random real chunk vectors (from the embedded subset) mixed, plus noise, so
  vectors keep the clusters of real embeddings; a sentence's vector is its chunk's, plus noise.

Texts and vectors are therefore unrelated, which costs nothing in timing and keeps the vector
distribution real enough for recall measurements.
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from rag.chunking import ChunkerConfig, chunk_spans
from rag.documents import Document, read_paths
from rag.embedding import MODEL_NAME
from rag.errors import CorruptIndex, IndexNotFound
from rag.index import FORMAT_VERSION, build_index, current_generation, read_manifest
from rag.settings import get_settings
from rag.vectors import VectorIndex, resolved_kind

ROOT = Path(__file__).resolve().parent.parent
CRISIS = ROOT.parent / "shared" / "data" / "crisis"
WH_CRISIS = CRISIS / "wh_briefings" / "wh_2021-09_to_2022-03_crisis.jsonl"
QUESTION_SETS = (ROOT / "evals" / "wh_dev.jsonl", ROOT / "evals" / "seed.jsonl")


def questions() -> list[str]:
    found = []
    for path in QUESTION_SETS:
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if "question" in record:
                found.append(record["question"])
    return found


def real_subset(documents: int) -> list[Document]:
    """The first ``documents`` White House crisis briefings (the set the dev questions are about)."""
    return read_paths([WH_CRISIS], get_settings().source_by_host)[:documents]


@dataclass
class StandInEmbedder:
    """Quacks like ``rag.embedding.Embedder`` for ``build_index``, returning synthetic vectors (see the module doc)."""

    pool: np.ndarray  # real chunk vectors
    seed: int = 0
    name: str = MODEL_NAME
    max_wordpieces: int = 256

    def __post_init__(self) -> None:
        self.dimension = self.pool.shape[1]
        self._rng = np.random.default_rng(self.seed)

    def vectors(self, count: int) -> np.ndarray:
        pick = self._rng.integers(0, len(self.pool), (2, count))
        noise = self._rng.standard_normal((count, self.dimension), dtype=np.float32) * (0.5 / np.sqrt(self.dimension))
        return _normalise(self.pool[pick[0]] + 0.6 * self.pool[pick[1]] + noise)

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        return self.vectors(len(texts))

    def encode_with_sentences(self, texts, spans, batch_size: int = 32) -> tuple[np.ndarray, list[np.ndarray]]:
        passages = self.vectors(len(texts))
        sentences = []
        for passage, text_spans in zip(passages, spans):
            noise = self._rng.standard_normal((len(text_spans), self.dimension), dtype=np.float32) * 0.03
            sentences.append(_normalise(passage + noise))
        return passages, sentences


def _normalise(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def synthetic_documents(chunks: int, chunker: ChunkerConfig, seed: int = 0) -> list[Document]:
    """Documents of random real sentences, ``chunks`` chunks in all (or a few more: the last one is whole)."""
    from rag.sentences import sentence_spans

    real = read_paths([CRISIS], get_settings().source_by_host)
    sentences = [doc.text[s:e] for doc in real for s, e in sentence_spans(doc.text)]
    lengths = [len(sentence_spans(doc.text)) for doc in real]
    rng = random.Random(seed)
    documents: list[Document] = []
    total = 0
    while total < chunks:
        model = rng.choice(real)
        text = " ".join(rng.choices(sentences, k=max(3, rng.choice(lengths))))
        documents.append(Document(text=text, title=model.title, source=model.source, published=model.published,
                                  url=f"https://bench.invalid/{seed}/{len(documents)}"))
        total += len(chunk_spans(text, chunker))  # chunked again by build_index: the price of an exact size
    return documents


def synthetic_generation(folder: Path, chunks: int, pool: np.ndarray, chunker: ChunkerConfig,
                         model: str = MODEL_NAME) -> Path:
    """An index of about ``chunks`` synthetic chunks at ``folder`` (reused when this code would build the same),
    recorded as made by ``model`` (the service's embedder name: an index of another model would not open)."""
    try:
        generation = current_generation(folder)
        manifest = read_manifest(generation)
        if (manifest.get("format") == FORMAT_VERSION and manifest.get("chunks", 0) >= chunks
                and manifest.get("model") == model
                and manifest.get("index_kind") == resolved_kind("auto", manifest["chunks"])):
            return generation
    except (IndexNotFound, CorruptIndex):
        pass
    started = time.perf_counter()
    embedder = StandInEmbedder(pool, name=model)
    report = build_index(folder, synthetic_documents(chunks, chunker), embedder, chunker)  # type: ignore[arg-type]
    print(f"  wrote {report.chunks} synthetic chunks in {time.perf_counter() - started:.0f} s -> {folder}", file=sys.stderr)
    return report.path


def generation_vectors(generation: Path) -> np.ndarray:
    index = VectorIndex.load(generation / "dense.faiss")
    return index.reconstruct(np.arange(index.size))


def generation_texts(generation: Path) -> list[str]:
    """What the embedder saw for each chunk row of a generation (title line + chunk text)."""
    from rag import store
    from rag.index import dense_text

    connection = store.open_readonly(generation / "store.sqlite")
    documents = store.all_documents(connection)
    chunks = store.chunk_columns(connection)
    connection.close()
    return [dense_text(documents[d], documents[d].text[s:e])[0] for d, _, s, e in chunks.tolist()]
