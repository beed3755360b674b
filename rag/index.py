"""The on-disk index: generations of (SQLite store, FAISS vectors, BM25, sentence vectors) behind a manifest.

Layout of an index directory::

    DIR/CURRENT -> gen-20260125T101500-1a2b3c   (a symlink, switched atomically by rename)
    DIR/gen-.../manifest.json                  model, chunker, corpus fingerprint, file checksums
    DIR/gen-.../store.sqlite  dense.faiss  sentences.npy  bm25/

A build writes a new generation aside (``.building-*``), then renames it into place and switches
``CURRENT``; a crash at any point leaves the previous generation in use. Vectors of chunks whose text
is unchanged are copied from the previous generation instead of being embedded again.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import faiss
import numpy as np
from tqdm import tqdm

from . import store
from .chunking import ChunkerConfig, chunk_document
from .documents import Document
from .embedding import Embedder
from .errors import CorruptIndex, IndexMismatch, IndexNotFound
from .lexical import LexicalIndex
from .vectors import VectorIndex, resolved_kind
from .sentences import sentence_spans
from .speakers import speaker_at, speaker_turns

FORMAT_VERSION = 6  # bump when what is stored changes meaning (BM25 tokens, tables)
CURRENT = "CURRENT"


@dataclass(frozen=True)
class IndexConfig:
    """What the stored vectors and chunks depend on; an index built with another config cannot be queried."""

    model: str
    dimension: int
    chunker: ChunkerConfig

    def describe(self) -> str:
        c = self.chunker
        return f"model {self.model} ({self.dimension}d), chunks of {c.max_tokens} {c.encoding} tokens, overlap {c.overlap}"


@dataclass(frozen=True)
class BuildReport:
    path: Path
    documents: int
    chunks: int
    embedded: int  # chunks embedded in this build; the rest were reused
    seconds: float
    skipped: bool = False  # nothing changed, so no new generation was written
    sources: list[store.SourceCount] = field(default_factory=list)  # documents and chunks per source


def dense_text(doc: Document, chunk_text: str) -> tuple[str, int]:
    """What the embedder sees for a chunk, and where the chunk starts in it.

    The title rides along because the cue that picks a passage often sits there, not in the chunk.
    """
    prefix = f"{doc.title}\n" if doc.title else ""
    return prefix + chunk_text, len(prefix)


def lexical_text(doc: Document, chunk_text: str) -> str:
    """What BM25 sees: title, source and the date in words ("10 January 2022"), then the chunk."""
    parts = [doc.title, doc.source, _date_words(doc.published), chunk_text]
    return "\n".join(p for p in parts if p)


def _date_words(published: str) -> str:
    try:
        day = dt.date.fromisoformat(published)
    except ValueError:
        return ""
    return f"{day.day} {day:%B %Y}"


def corpus_fingerprint(documents: Sequence[Document], config: IndexConfig) -> str:
    digest = hashlib.sha256(json.dumps([FORMAT_VERSION, asdict(config)], sort_keys=True).encode())
    for doc in sorted(documents, key=lambda d: d.doc_id):
        meta = doc.metadata()
        meta.pop("path")
        digest.update(doc.doc_id.encode())
        digest.update(json.dumps(meta, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def current_generation(index_dir: Path) -> Path:
    """The folder of the index generation in use, or IndexNotFound."""
    link = Path(index_dir) / CURRENT
    if not link.exists():
        raise IndexNotFound(f"no index at {index_dir}: build one with `rag index --index {index_dir}`")
    return link.resolve()


def read_manifest(generation: Path) -> dict:
    try:
        return json.loads((generation / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CorruptIndex(f"{generation}: manifest unreadable ({exc}); rebuild with `rag index`") from None


def check_config(manifest: dict, config: IndexConfig, where: Path) -> None:
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexMismatch(
            f"the index at {where} is in format {manifest.get('format')}, this version reads format "
            f"{FORMAT_VERSION}: rebuild it with `rag index --index {where}` (unchanged text is not embedded again)"
        )
    built = IndexConfig(manifest["model"], manifest["dimension"], ChunkerConfig(**manifest["chunker"]))
    if built != config:
        raise IndexMismatch(
            f"the index at {where} was built with {built.describe()}, but this run uses {config.describe()}: "
            f"rebuild it with `rag index --index {where}` (or set the RAG_* settings it was built with)"
        )


def is_stale(index_dir: Path, documents: Sequence[Document], config: IndexConfig) -> bool:
    """True when the index is missing, built with another config, or from other documents."""
    try:
        manifest = read_manifest(current_generation(index_dir))
    except (IndexNotFound, CorruptIndex):
        return True
    return manifest.get("fingerprint") != corpus_fingerprint(documents, config)


def verify_files(generation: Path, manifest: dict) -> None:
    for name, expected in manifest["files"].items():
        path = generation / name
        if not path.exists() or _sha256(path) != expected:
            raise CorruptIndex(f"{path} is missing or does not match its checksum; rebuild with `rag index`")


@contextmanager
def _build_lock(index_dir: Path) -> Iterator[None]:
    # One writer at a time; readers never take it (they read whole generations that no one writes to).
    with open(index_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def build_index(
    index_dir: Path,
    documents: Sequence[Document],
    embedder: Embedder,
    chunker: ChunkerConfig,
    batch_size: int = 32,
    progress: bool = False,
    force: bool = False,
    index_kind: str = "auto",
) -> BuildReport:
    """Index ``documents`` into a new generation under ``index_dir`` and make it current.

    Unchanged chunks reuse the previous generation's vectors; with nothing changed at all (same
    fingerprint and FAISS kind) and ``force`` false, no generation is written.
    """
    started = time.perf_counter()
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    config = IndexConfig(embedder.name, embedder.dimension, chunker)
    fingerprint = corpus_fingerprint(documents, config)
    with _build_lock(index_dir):
        _remove_abandoned_builds(index_dir)
        previous = _reusable_generation(index_dir, config)
        manifest = read_manifest(previous) if previous else {}
        # Same documents and the same FAISS kind: nothing to write. Another kind asked for (RAG_INDEX_KIND,
        # or auto crossing its size threshold) rebuilds, reusing every vector.
        if (previous and not force and manifest.get("fingerprint") == fingerprint
                and manifest.get("index_kind") == resolved_kind(index_kind, manifest.get("chunks", 0))):
            return BuildReport(previous, manifest["documents"], manifest["chunks"], 0,
                               time.perf_counter() - started, skipped=True, sources=_source_counts(previous))
        building = index_dir / f".building-{uuid.uuid4().hex[:8]}"
        building.mkdir()
        embedded, chunk_count, kind = _write_generation(
            building, documents, embedder, chunker, batch_size, previous, progress, index_kind
        )
        manifest = {
            "format": FORMAT_VERSION,
            **asdict(config),
            "fingerprint": fingerprint,
            "documents": len(documents),
            "chunks": chunk_count,
            "faiss_version": faiss.__version__,
            "index_kind": kind,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "files": {p.relative_to(building).as_posix(): _sha256(p) for p in sorted(building.rglob("*")) if p.is_file()},
        }
        _write_atomic(building / "manifest.json", json.dumps(manifest, indent=2))
        generation = index_dir / f"gen-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        building.rename(generation)
        _switch_current(index_dir, generation)
        _remove_old_generations(index_dir, keep={generation.name, previous.name if previous else ""})
    return BuildReport(generation, len(documents), chunk_count, embedded, time.perf_counter() - started,
                       sources=_source_counts(generation))


def _source_counts(generation: Path) -> list[store.SourceCount]:
    connection = store.open_readonly(generation / "store.sqlite")
    try:
        return store.source_counts(connection)
    finally:
        connection.close()


def update_index(
    index_dir: Path,
    embedder: Embedder,
    chunker: ChunkerConfig,
    add: Sequence[Document] = (),
    remove: Sequence[str] = (),
    batch_size: int = 32,
    index_kind: str = "auto",
) -> BuildReport:
    """Add or replace documents and remove others (by id) in the current index, as a new generation.

    A new document with the same non-empty ``url`` as an indexed one replaces it. Only new text is embedded.
    """
    index_dir = Path(index_dir)
    try:
        generation = current_generation(index_dir)
        connection = store.open_readonly(generation / "store.sqlite")
        existing = store.all_documents(connection)
        connection.close()
    except IndexNotFound:
        existing = []
    replaced_urls = {doc.url for doc in add if doc.url}
    dropped = set(remove)
    kept = [d for d in existing if d.doc_id not in dropped and d.url not in replaced_urls]
    merged = {d.doc_id: d for d in kept}
    for doc in add:
        merged[doc.doc_id] = doc
    return build_index(index_dir, list(merged.values()), embedder, chunker, batch_size=batch_size, index_kind=index_kind)


def _write_generation(folder, documents, embedder, chunker, batch_size, previous, progress, index_kind) -> tuple[int, int, str]:
    connection = store.create(folder / "store.sqlite")
    dense_texts: list[str] = []
    lexical_texts: list[str] = []
    sentence_offsets: list[list[tuple[int, int]]] = []  # per chunk, relative to its dense text
    chunk_rows, sentence_rows = [], []
    for ordinal, doc in enumerate(documents):
        store.insert_document(connection, ordinal, doc)
        turns = speaker_turns(doc.text)
        for chunk in chunk_document(doc.doc_id, doc.text, chunker):
            row = len(dense_texts)
            text, shift = dense_text(doc, chunk.text)
            spans = sentence_spans(doc.text, chunk.start, chunk.end)
            dense_texts.append(text)
            lexical_texts.append(lexical_text(doc, chunk.text))
            sentence_offsets.append([(s - chunk.start + shift, e - chunk.start + shift) for s, e in spans])
            key = hashlib.sha1(f"{embedder.name}\0{text}".encode()).hexdigest()
            chunk_rows.append((row, ordinal, chunk.index, chunk.start, chunk.end, key))
            first = len(sentence_rows)
            # A label can start mid-sentence ("... met. * * * Vladimir Putin: Colleagues"); the sentence is
            # the words of the turn it ends in.
            sentence_rows.extend(
                (first + i, row, s, e, store.text_hash(doc.text[s:e]), speaker_at(turns, e - 1))
                for i, (s, e) in enumerate(spans)
            )
    store.insert_chunks(connection, chunk_rows)
    store.insert_sentences(connection, sentence_rows)
    connection.commit()
    connection.close()

    vectors = np.zeros((len(dense_texts), embedder.dimension), dtype=np.float32)
    sentence_vectors = np.zeros((len(sentence_rows), embedder.dimension), dtype=np.float16)
    first_sentence = np.cumsum([0] + [len(s) for s in sentence_offsets])
    todo = _reuse_vectors(previous, chunk_rows, first_sentence, vectors, sentence_vectors)
    todo.sort(key=lambda row: len(dense_texts[row]))  # similar lengths per batch: less padding
    bar = tqdm(total=len(todo), unit="chunk", desc="embedding", disable=not progress, smoothing=0.1)
    for lo in range(0, len(todo), batch_size * 4):
        batch = todo[lo : lo + batch_size * 4]
        passage, per_sentence = embedder.encode_with_sentences(
            [dense_texts[r] for r in batch], [sentence_offsets[r] for r in batch], batch_size=batch_size
        )
        vectors[batch] = passage
        for row, sentence in zip(batch, per_sentence):
            sentence_vectors[first_sentence[row] : first_sentence[row + 1]] = sentence
        bar.update(len(batch))
    bar.close()

    # Training and building use both cores; queries run faiss on one (see VectorIndex.search).
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    try:
        dense = VectorIndex.build(vectors, index_kind)
        dense.save(folder / "dense.faiss")
    finally:
        faiss.omp_set_num_threads(1)
    np.save(folder / "sentences.npy", sentence_vectors)
    LexicalIndex.build(lexical_texts).save(folder / "bm25")
    _fsync_tree(folder)
    return len(todo), len(dense_texts), dense.kind


def _reuse_vectors(previous, chunk_rows, first_sentence, vectors, sentence_vectors) -> list[int]:
    """Copy vectors for chunks the previous generation already embedded; return the rows still to embed.

    A chunk's key hashes the model name and the exact text embedded, so a match is the same vector
    whatever else changed (chunker, format); its sentence vectors are reused only if it has as many.
    """
    if previous is None:
        return [row[0] for row in chunk_rows]
    old_connection = store.open_readonly(previous / "store.sqlite")
    old_rows = store.rows_by_embed_key(old_connection)
    old_sentences = dict(
        (chunk, (first, count)) for chunk, first, count in
        old_connection.execute("SELECT chunk_row, MIN(row), COUNT(*) FROM sentences GROUP BY chunk_row")
    )
    old_connection.close()
    old_dense = VectorIndex.load(previous / "dense.faiss")
    old_sentence_vectors = np.load(previous / "sentences.npy", mmap_mode="r")
    todo, reused, sources = [], [], []
    for row, *_, key in chunk_rows:
        old = old_rows.get(key)
        first, count = old_sentences.get(old, (0, -1))
        if old is None or count != first_sentence[row + 1] - first_sentence[row]:
            todo.append(row)
            continue
        reused.append(row)
        sources.append(old)
        sentence_vectors[first_sentence[row] : first_sentence[row + 1]] = old_sentence_vectors[first : first + count]
    vectors[reused] = old_dense.reconstruct(sources)  # one call: a call per chunk costs more than its decoding
    return todo


def _reusable_generation(index_dir: Path, config: IndexConfig) -> Path | None:
    """The current generation, if its vectors came from the same model and its files are intact."""
    try:
        generation = current_generation(index_dir)
        manifest = read_manifest(generation)
        if (manifest.get("model"), manifest.get("dimension")) != (config.model, config.dimension):
            return None
        verify_files(generation, manifest)
    except (IndexNotFound, CorruptIndex):
        return None
    return generation


def _switch_current(index_dir: Path, generation: Path) -> None:
    link = index_dir / f".{CURRENT}-{uuid.uuid4().hex[:6]}"
    os.symlink(generation.name, link)
    os.replace(link, index_dir / CURRENT)  # rename is atomic: readers see the old or the new, never neither
    _fsync_dir(index_dir)


def _remove_old_generations(index_dir: Path, keep: set[str]) -> None:
    # The one before the current stays, so a reader that opened it just before the switch keeps working.
    for old in index_dir.glob("gen-*"):
        if old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)


def _remove_abandoned_builds(index_dir: Path) -> None:
    # Only called under the build lock, so any .building-* left is from a build that died.
    for stale in index_dir.glob(".building-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _write_atomic(path: Path, content: str) -> None:
    aside = path.with_name(path.name + ".tmp")
    with open(aside, "w") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(aside, path)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class LoadedIndex:
    """One generation opened for reading: everything a query needs, held until the engine lets it go."""

    def __init__(self, generation: Path, config: IndexConfig, verify: bool = True) -> None:
        manifest = read_manifest(generation)
        check_config(manifest, config, generation.parent)
        if verify:
            verify_files(generation, manifest)
        self.generation = generation
        self.manifest = manifest
        self.connection = store.open_readonly(generation / "store.sqlite")
        self.dense = VectorIndex.load(generation / "dense.faiss")
        self.lexical = LexicalIndex.load(generation / "bm25", manifest["chunks"])
        self.sentence_vectors = np.load(generation / "sentences.npy", mmap_mode="r")
        self.doc_ids, self.doc_sources, self.doc_published = store.document_columns(self.connection)
        self.chunks = store.chunk_columns(self.connection)  # (doc_ordinal, idx, start, end) per row
        self.sources = store.source_counts(self.connection)  # here, not per /readyz: a GROUP BY over every chunk
        self._source_masks: dict[str, np.ndarray] = {}
        # Published dates as day numbers (-1 when undated), so date windows compare in numpy.
        self._published_days = np.array(
            [dt.date.fromisoformat(d).toordinal() if d else -1 for d in self.doc_published], dtype=np.int64
        )
        dated = [d for d in self.doc_published if d]
        # First and last published date, or None when no document is dated; once here, not per question
        # (a scan of every document's date: about a millisecond at 100k chunks).
        self.date_range: tuple[dt.date, dt.date] | None = (
            (dt.date.fromisoformat(min(dated)), dt.date.fromisoformat(max(dated))) if dated else None
        )

    @property
    def size(self) -> int:
        return self.dense.size

    def published_mask(self, windows: list[tuple[dt.date, dt.date]]) -> np.ndarray | None:
        """Which chunk rows come from documents published inside any of ``windows`` (None for no windows)."""
        if not windows:
            return None
        days = self._published_days
        docs = np.zeros(len(days), dtype=bool)
        for lo, hi in windows:
            docs |= (days >= lo.toordinal()) & (days <= hi.toordinal())
        return docs[self.chunks[:, 0]]

    def source_mask(self, source: str) -> np.ndarray:
        """Which chunk rows come from documents of ``source`` (computed once per source)."""
        if source not in self._source_masks:
            docs = np.array([s == source for s in self.doc_sources], dtype=bool)
            self._source_masks[source] = docs[self.chunks[:, 0]] if len(docs) else np.zeros(0, dtype=bool)
        return self._source_masks[source]

    def close(self) -> None:
        self.connection.close()
