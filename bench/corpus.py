"""The benchmark's data: a real subset of the crisis sources (or of the shipped corpus on a bare clone), and
synthetic index directories of any size.

Embedding 100k chunks takes hours on 2 cores, so large indexes are synthetic, written by the real
``build_index`` (same chunker, document store, segments, BM25 and on-disk format) with a stand-in embedder:

* documents are real sentences of all the crisis sources (without the team data: of ``corpus/`` and
  ``seeds/``), drawn at random (so every chunk is new text with the sources' vocabulary), with a real
  document's title, source and date;
* a chunk's vector is two random real chunk vectors (from the embedded subset) mixed, plus noise, so
  vectors keep the clusters of real embeddings; a sentence's vector is its chunk's, plus noise.

Texts and vectors are therefore unrelated, which costs nothing in timing and keeps the vector
distribution real enough for recall measurements.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

from rag.chunking import ChunkerConfig, chunk_spans
from rag.documents import Document, read_paths
from rag.embedding import MODEL_NAME, normalise
from rag.errors import CorruptIndex, IndexMismatch, IndexNotFound
from rag.index import CURRENT, FORMAT_VERSION, IndexConfig, build_index, open_index, read_manifest
from rag.segment import dense_text
from rag.settings import get_settings
from rag.sharded import SHARDS_FILE, ShardedIndex

ROOT = Path(__file__).resolve().parent.parent
TEAM_DATA = ROOT.parent / "shared" / "data"  # the team's data folder, beside a checkout
WH_BRIEFINGS = Path("crisis") / "wh_briefings" / "wh_2021-09_to_2022-03_crisis.jsonl"
SHIPPED = (ROOT / "corpus", ROOT / "seeds")  # what every clone has
QUESTION_SETS = (ROOT / "evals" / "wh_dev.jsonl", ROOT / "evals" / "seed.jsonl")
DATA_ENV = "RAG_BENCH_DATA"


@dataclass(frozen=True)
class Data:
    """Where the benchmark's real text comes from: the team's data folder when it is there (``--data``, else
    ``$RAG_BENCH_DATA``, else ``../shared/data``), else what the project ships (``corpus/``, ``seeds/``)."""

    folder: Path  # the team data folder looked for
    team: bool  # whether it holds the crisis sources

    @classmethod
    def locate(cls, folder: Path | None = None) -> "Data":
        folder = Path(folder or os.environ.get(DATA_ENV) or TEAM_DATA)
        return cls(folder, (folder / WH_BRIEFINGS).is_file())

    @property
    def label(self) -> str:
        return "team" if self.team else "shipped"

    def describe(self) -> str:
        if self.team:
            return f"team data at {self.folder}: White House crisis briefings, sentences of every crisis source"
        return f"shipped data ({self.folder} absent): the corpus/ article, sentences of corpus/ and seeds/"

    def real_subset(self, documents: int) -> list[Document]:
        """The first ``documents`` White House crisis briefings (the set the dev questions are about), or the
        shipped corpus (one article) without the team data."""
        path = self.folder / WH_BRIEFINGS if self.team else SHIPPED[0]
        return read_paths([path], get_settings().source_by_host)[:documents]

    @property
    def real_name(self) -> str:
        return WH_BRIEFINGS.name if self.team else "corpus/"

    @cached_property
    def sentence_documents(self) -> list[Document]:
        """The documents whose sentences make synthetic text."""
        paths = [self.folder / "crisis"] if self.team else [p for p in SHIPPED if p.exists()]
        return read_paths(paths, get_settings().source_by_host)

    @cached_property
    def sentences(self) -> list[str]:
        from rag.sentences import sentence_spans

        return list(dict.fromkeys(doc.text[s:e] for doc in self.sentence_documents for s, e in sentence_spans(doc.text)))

    def question_sets(self) -> list[Path]:
        """The question sets whose corpus is present (a team-data path counts only when the team data is used)."""
        return [path for path in QUESTION_SETS if all(self._present(p) for p in _set_corpus(path))]

    def questions(self) -> list[str]:
        found = []
        for path in self.question_sets():
            for line in path.read_text().splitlines():
                record = json.loads(line)
                if "question" in record:
                    found.append(record["question"])
        return found

    def _present(self, corpus: str) -> bool:
        path = (ROOT / corpus).resolve()
        try:
            inside = path.relative_to(TEAM_DATA.resolve())
        except ValueError:
            return path.exists()
        return self.team and (self.folder / inside).exists()


def _set_corpus(path: Path) -> list[str]:
    header = json.loads(path.read_text().splitlines()[0])
    return list(header.get("corpus", [])) if "question" not in header else []


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
        return normalise(self.pool[pick[0]] + 0.6 * self.pool[pick[1]] + noise)

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        return self.vectors(len(texts))

    def encode_with_sentences(self, texts, spans, batch_size: int = 32) -> tuple[np.ndarray, list[np.ndarray]]:
        passages = self.vectors(len(texts))
        sentences = []
        for passage, text_spans in zip(passages, spans):
            noise = self._rng.standard_normal((len(text_spans), self.dimension), dtype=np.float32) * 0.03
            sentences.append(normalise(passage + noise))
        return passages, sentences


def synthetic_documents(chunks: int, chunker: ChunkerConfig, data: Data, seed: int = 0) -> list[Document]:
    """Documents of random real sentences, ``chunks`` chunks in all (or a few more: the last one is whole)."""
    from rag.sentences import sentence_spans

    real = data.sentence_documents
    sentences = data.sentences
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


def new_document(words: int, data: Data, seed: int) -> Document:
    """One document of about ``words`` words of random real sentences, different for each seed (a write)."""
    rng = random.Random(f"new-{seed}")
    parts: list[str] = []
    count = 0
    while count < words:
        parts.append(rng.choice(data.sentences))
        count += len(parts[-1].split())
    model = rng.choice(data.sentence_documents)
    title = f"Benchmark write {seed}" + (f": {model.title}" if model.title else "")
    return Document(text=" ".join(parts), title=title[:900], source=model.source,
                    published=model.published, url=f"https://bench.invalid/write/{seed}")


def manifests(folder: Path) -> list[dict]:
    """The current manifest of an index directory, or of each of its shards (IndexNotFound or CorruptIndex)."""
    folder = Path(folder)
    if (folder / SHARDS_FILE).exists():
        count = int(json.loads((folder / SHARDS_FILE).read_text())["shards"])
        parts = [folder / f"shard-{i:02d}" for i in range(count)]
    else:
        parts = [folder]
    found = []
    for part in parts:
        try:
            name = os.readlink(part / CURRENT)
        except OSError:
            raise IndexNotFound(f"no index at {part}") from None
        found.append(read_manifest(part / name))
    return found


def index_config(folder: Path) -> IndexConfig:
    """What the index at ``folder`` was built with (read from its manifest), to open it."""
    manifest = manifests(folder)[0]
    return IndexConfig(manifest["model"], manifest["dimension"], ChunkerConfig(**manifest["chunker"]))


def open_store(folder: Path):
    """A snapshot (a Store) of the index at ``folder``, local or sharded."""
    return open_index(Path(folder), index_config(folder)).open()


def synthetic_generation(folder: Path, chunks: int, pool: np.ndarray, chunker: ChunkerConfig, data: Data,
                         model: str = MODEL_NAME, shards: int = 0) -> Path:
    """An index directory of about ``chunks`` synthetic chunks at ``folder`` (reused when this code would build
    the same), recorded as made by ``model`` (the service's embedder name: an index of another model would not
    open); split into ``shards`` when that is not 0. Returns ``folder``."""
    folder = Path(folder)
    config = IndexConfig(model, pool.shape[1], chunker)
    try:
        found = manifests(folder)
        stats = open_index(folder, config).open().stats()
        if (all(m.get("format") == FORMAT_VERSION and m.get("model") == model for m in found)
                and stats.chunks >= chunks and len(found) == max(shards, 1)):
            return folder
    except (IndexNotFound, CorruptIndex, IndexMismatch, OSError, ValueError, KeyError):
        pass
    shutil.rmtree(folder, ignore_errors=True)  # another format, size or split: written again from nothing
    if shards:
        ShardedIndex.create(folder, shards)
    started = time.perf_counter()
    embedder = StandInEmbedder(pool, name=model)
    report = build_index(folder, synthetic_documents(chunks, chunker, data), embedder, chunker)  # type: ignore[arg-type]
    print(f"  wrote {report.chunks} synthetic chunks in {time.perf_counter() - started:.0f} s -> {folder}", file=sys.stderr)
    return folder


def _live_segments(folder: Path):
    store = open_store(folder)
    for shard in getattr(store, "shards", [store]):
        yield from shard.segments


def generation_vectors(folder: Path) -> np.ndarray:
    """The vector of every live chunk of an index, segment after segment."""
    parts = []
    for live in _live_segments(folder):
        s = live.segment
        rows = np.arange(s.chunks_count) if live.live_chunks is None else np.flatnonzero(live.live_chunks)
        parts.append(s.vectors(rows))
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


def generation_texts(folder: Path) -> list[str]:
    """What the embedder saw for each live chunk of an index (title line + chunk text), as ``generation_vectors``."""
    from rag import store

    texts = []
    for live in _live_segments(folder):
        s = live.segment
        ordinals = np.flatnonzero(live.live_docs).tolist()
        documents = {}
        for lo in range(0, len(ordinals), 10_000):  # SQLite takes a bounded number of parameters
            documents.update(store.documents_of(s.connection, ordinals[lo : lo + 10_000]))
        texts += [dense_text(documents[d], documents[d].text[a:b])[0]
                  for d, _, a, b in s.chunks.tolist() if d in documents]
    return texts


def index_kind(folder: Path) -> str:
    """The FAISS kind of an index's largest segment (the one most of a search's time goes to)."""
    return max(_live_segments(folder), key=lambda live: live.chunks).segment.kind


def segment_count(folder: Path) -> int:
    return sum(len(m["segments"]) for m in manifests(folder))


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file() and not f.is_symlink())
