"""Segments: immutable slices of the index, as in Lucene. A write adds one; deletes are tombstones kept
beside it; a merge folds several into one.

A segment folder holds everything a search over its documents needs, so it never changes once written::

    seg-XXXX/segment.json    chunk and document counts, FAISS kind, checksums of every file below
    seg-XXXX/store.sqlite    its documents (text and metadata), chunks and sentence spans (rag.store)
    seg-XXXX/dense.faiss     chunk vectors (rag.vectors); vectors.npy beside it when the kind is lossy
    seg-XXXX/sentences.npy   a vector per sentence (float16)
    seg-XXXX/lexical/        BM25 postings (rag.lexical.Postings)
    seg-XXXX/dead-N.npy      tombstones: the ordinals of its deleted documents, as of manifest N

Documents keep their own text here, not only in the document store: a passage's offsets must refer to
the text that was chunked, even while a newer version of the document is being indexed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import faiss
import numpy as np
from tqdm import tqdm

from . import store
from .chunking import ChunkerConfig, chunk_document
from .docstore import digest
from .documents import Document
from .embedding import Embedder
from .errors import CorruptIndex
from .lexical import Postings, tokenize
from .sentences import sentence_spans
from .speakers import speaker_at, speaker_turns
from .storage import Scope
from .vectors import VectorIndex

META = "segment.json"


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


def write_segment(folder: Path, documents: Sequence[Document], embedder: Embedder, chunker: ChunkerConfig,
                  reuse: Sequence["Segment"] = (), batch_size: int = 32, progress: bool = False,
                  index_kind: str = "auto") -> int:
    """Chunk, embed and index ``documents`` into a new segment folder; returns how many chunks were
    embedded (the others' vectors were copied from ``reuse``, where the same text was embedded before)."""
    folder.mkdir(parents=True)
    connection = store.create(folder / "store.sqlite")
    dense_texts: list[str] = []
    lexical_texts: list[str] = []
    sentence_offsets: list[list[tuple[int, int]]] = []  # per chunk, relative to its dense text
    chunk_rows, sentence_rows = [], []
    for ordinal, doc in enumerate(tqdm(documents, unit="doc", desc="chunking", disable=not progress)):
        store.insert_document(connection, ordinal, doc, digest(doc))
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
    todo = _reuse_vectors(reuse, chunk_rows, first_sentence, vectors, sentence_vectors)
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
    _finish(folder, vectors, sentence_vectors, Postings.build(tokenize(lexical_texts)), len(documents), index_kind)
    return len(todo)


def merge_segments(folder: Path, parts: Sequence[tuple["Segment", np.ndarray]], index_kind: str = "auto") -> None:
    """Write one segment holding the live documents of ``parts`` (each a segment and its dead document
    ordinals), in order; vectors and postings are copied, nothing is embedded or tokenized again."""
    folder.mkdir(parents=True)
    connection = store.create(folder / "store.sqlite")
    vectors, sentence_vectors, postings_parts = [], [], []
    documents = chunks = sentences = 0
    for segment, dead in parts:
        live_docs = np.ones(segment.documents, dtype=bool)
        live_docs[dead] = False
        kept_docs = np.flatnonzero(live_docs)
        new_ordinal = np.full(segment.documents, -1, dtype=np.int64)
        new_ordinal[kept_docs] = documents + np.arange(len(kept_docs))
        kept_chunks = live_docs[segment.chunk_doc] if segment.chunks_count else np.zeros(0, dtype=bool)
        new_row = np.full(segment.chunks_count, -1, dtype=np.int64)
        new_row[kept_chunks] = np.arange(int(kept_chunks.sum()))  # rows within the merged part
        old = segment.connection
        for ordinal, doc in store.documents_of(old, kept_docs.tolist()):
            store.insert_document(connection, int(new_ordinal[ordinal]), doc, segment.doc_digests[ordinal])
        rows = old.execute('SELECT row, doc_ordinal, idx, start, "end", embed_key FROM chunks ORDER BY row').fetchall()
        store.insert_chunks(connection, [(chunks + int(new_row[r]), int(new_ordinal[d]), i, s, e, k)
                                         for r, d, i, s, e, k in rows if new_row[r] >= 0])
        sentence_rows = old.execute('SELECT row, chunk_row, start, "end", hash, speaker FROM sentences ORDER BY row').fetchall()
        kept_sentences = [r for r in sentence_rows if new_row[r[1]] >= 0]
        store.insert_sentences(connection, [(sentences + i, chunks + int(new_row[c]), s, e, h, sp)
                                            for i, (_, c, s, e, h, sp) in enumerate(kept_sentences)])
        vectors.append(segment.vectors(np.flatnonzero(kept_chunks)))
        sentence_vectors.append(np.asarray(segment.sentence_vectors[[r[0] for r in kept_sentences]], dtype=np.float16)
                                .reshape(-1, segment.dimension))
        postings_parts.append((segment.postings, np.where(new_row >= 0, new_row + chunks, -1)))
        documents += len(kept_docs)
        chunks += int(kept_chunks.sum())
        sentences += len(kept_sentences)
    connection.commit()
    connection.close()
    dimension = parts[0][0].dimension
    _finish(folder, np.concatenate(vectors) if vectors else np.zeros((0, dimension), np.float32),
            np.concatenate(sentence_vectors) if sentence_vectors else np.zeros((0, dimension), np.float16),
            Postings.merge(postings_parts, chunks), documents, index_kind)


def _finish(folder: Path, vectors: np.ndarray, sentence_vectors: np.ndarray, postings: Postings,
            documents: int, index_kind: str) -> None:
    # Training and building use both cores; queries run faiss on one (see VectorIndex.search).
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    try:
        dense = VectorIndex.build(vectors, index_kind)
        dense.save(folder / "dense.faiss")
    finally:
        faiss.omp_set_num_threads(1)
    if dense.kind != "flat":  # a lossy kind cannot give back the vectors a merge must copy
        np.save(folder / "vectors.npy", vectors)
    np.save(folder / "sentences.npy", sentence_vectors)
    postings.save(folder / "lexical")
    files = {p.relative_to(folder).as_posix(): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}
    meta = {"documents": documents, "chunks": len(vectors), "dimension": int(vectors.shape[1]),
            "index_kind": dense.kind, "files": files}
    write_durably(folder / META, json.dumps(meta, indent=1).encode())
    fsync_tree(folder)


def _reuse_vectors(reuse: Sequence["Segment"], chunk_rows, first_sentence, vectors, sentence_vectors) -> list[int]:
    """Copy vectors for chunks an earlier segment already embedded; return the rows still to embed.

    A chunk's key hashes the model name and the exact text embedded, so a match is the same vector
    whatever else changed (chunker, format); its sentence vectors are reused only if it has as many.
    """
    todo = [row[0] for row in chunk_rows]
    for segment in reuse:
        if not todo:
            break
        keys = segment.embed_keys
        ranges = segment.sentence_ranges
        found, sources = [], []
        still = []
        for row in todo:
            old = keys.get(chunk_rows[row][5])
            first, count = ranges.get(old, (0, -1))
            if old is None or count != first_sentence[row + 1] - first_sentence[row]:
                still.append(row)
                continue
            found.append(row)
            sources.append(old)
            sentence_vectors[first_sentence[row] : first_sentence[row + 1]] = segment.sentence_vectors[first : first + count]
        if found:
            vectors[found] = segment.vectors(np.array(sources))  # one call: a call per chunk costs more than decoding
        todo = still
    return todo


class Segment:
    """One segment opened for reading. Every file is read whole, checked against its checksum and held in
    memory, never mapped: what a search reads is what was verified, and damage done to the files later
    (truncation, a flipped byte) cannot change an answer or kill the process; `damage` finds it."""

    def __init__(self, folder: Path, meta_sha256: str | None = None) -> None:
        self.folder = folder
        self.name = folder.name
        try:
            raw = (folder / META).read_bytes()
            if meta_sha256 is not None and hashlib.sha256(raw).hexdigest() != meta_sha256:
                raise ValueError("it does not match the checksum its manifest records")
            meta = json.loads(raw)
            self.files: dict[str, str] = dict(meta["files"])
            self.documents = int(meta["documents"])
            self.chunks_count = int(meta["chunks"])
            self.dimension = int(meta["dimension"])
            self.kind = str(meta["index_kind"])
        except (OSError, ValueError, KeyError, TypeError) as exc:  # UnicodeDecodeError is a ValueError
            raise CorruptIndex(f"{folder / META}: unreadable ({exc}); rebuild with `rag index --rebuild`") from None
        self.meta_sha256 = hashlib.sha256(raw).hexdigest()
        try:
            self.connection = store.open_in_memory(self._read("store.sqlite"))
            self.dense = VectorIndex.read(self._read("dense.faiss"))
            vectors = self._read("vectors.npy") if "vectors.npy" in self.files else None
            self._vectors = np.load(io.BytesIO(vectors)) if vectors is not None else None
            self.sentence_vectors = np.load(io.BytesIO(self._read("sentences.npy")))
            self.postings = Postings.load(lambda name: self._read(f"lexical/{name}"))
            self._load_columns()
        except CorruptIndex:
            raise
        except Exception as exc:  # checksums match but the content cannot be read: written by another version
            raise CorruptIndex(f"{folder}: unreadable ({type(exc).__name__}: {exc}); rebuild with "
                               "`rag index --rebuild`") from None

    def _read(self, name: str) -> bytes:
        """A file's bytes, checked against the checksum the segment recorded when it was written."""
        path = self.folder / name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CorruptIndex(f"{path}: unreadable ({exc.strerror}); rebuild with `rag index --rebuild`") from None
        if name not in self.files or hashlib.sha256(data).hexdigest() != self.files[name]:
            raise CorruptIndex(f"{path} does not match its checksum; rebuild with `rag index --rebuild`")
        return data

    def damage(self) -> str | None:
        """What is wrong with this segment's files on disk now (None when they are intact): a periodic
        check for damage done after they were loaded."""
        try:
            for name, expected in {META: self.meta_sha256, **self.files}.items():
                if sha256(self.folder / name) != expected:
                    return f"{self.folder / name} does not match its checksum"
        except OSError as exc:
            return f"{exc.filename}: {exc.strerror}"
        return None

    def _load_columns(self) -> None:
        self.doc_ids, self.doc_sources, self.doc_published, self.doc_digests = store.document_columns(self.connection)
        self.chunks = store.chunk_columns(self.connection)  # (doc_ordinal, idx, start, end) per row
        self.chunk_doc = self.chunks[:, 0]
        self.doc_chunks = np.bincount(self.chunk_doc, minlength=self.documents)
        # Published dates as day numbers (-1 when undated), so date windows compare in numpy.
        self.doc_days = np.array([dt.date.fromisoformat(d).toordinal() if d else -1 for d in self.doc_published],
                                 dtype=np.int64)
        self.ordinal_of = {doc_id: i for i, doc_id in enumerate(self.doc_ids)}
        # Sources as codes, so counting a snapshot's documents per source is one bincount.
        self.source_names = sorted(set(self.doc_sources))
        code = {name: i for i, name in enumerate(self.source_names)}
        self.source_codes = np.array([code[s] for s in self.doc_sources], dtype=np.int64)
        self._source_docs: dict[str, np.ndarray] = {}

    def vectors(self, rows: np.ndarray | Sequence[int]) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        if self._vectors is not None:
            return np.asarray(self._vectors[rows], dtype=np.float32).reshape(len(rows), self.dimension)
        return self.dense.reconstruct(rows)

    @cached_property
    def embed_keys(self) -> dict[str, int]:
        return store.rows_by_embed_key(self.connection)

    @cached_property
    def sentence_ranges(self) -> dict[int, tuple[int, int]]:
        return store.sentence_ranges(self.connection)

    def source_docs(self, source: str) -> np.ndarray:
        """Which documents are of ``source`` (casefolded), computed once per source."""
        if source not in self._source_docs:
            self._source_docs[source] = np.array([s.casefold() == source for s in self.doc_sources], dtype=bool)
        return self._source_docs[source]

    def scope_docs(self, scope: Scope) -> np.ndarray | None:
        """Which documents are inside ``scope`` (None when all are)."""
        if scope.everything:
            return None
        docs = np.ones(self.documents, dtype=bool)
        if scope.sources is not None:
            chosen = [self.source_docs(s) for s in scope.sources]
            docs &= np.any(chosen, axis=0) if chosen else False
        days = self.doc_days
        if scope.within is not None:
            lo, hi = scope.within
            docs &= (days >= lo.toordinal()) & (days <= hi.toordinal())
        if scope.windows:
            inside = np.zeros(self.documents, dtype=bool)
            for lo, hi in scope.windows:
                inside |= (days >= lo.toordinal()) & (days <= hi.toordinal())
            docs &= inside
        return docs

    def close(self) -> None:
        self.connection.close()


@dataclass
class LiveSegment:
    """A segment as one manifest sees it: with its tombstones applied."""

    segment: Segment
    dead: np.ndarray  # ordinals of deleted documents

    def __post_init__(self) -> None:
        s = self.segment
        self.live_docs = np.ones(s.documents, dtype=bool)
        self.live_docs[self.dead] = False
        # None when nothing is deleted: searches then need no mask at all.
        self.live_chunks = self.live_docs[s.chunk_doc] if len(self.dead) else None
        self.chunks = int(s.doc_chunks[self.live_docs].sum())
        self.documents = int(self.live_docs.sum())
        lengths = np.asarray(s.postings.lengths, dtype=np.int64)
        self.length = int(lengths.sum() if self.live_chunks is None else lengths[self.live_chunks].sum())

    def allowed(self, scope: Scope) -> np.ndarray | None:
        """Which chunk rows a search in ``scope`` may return (None: every row)."""
        docs = self.segment.scope_docs(scope)
        if docs is None:
            return self.live_chunks
        return (docs & self.live_docs)[self.segment.chunk_doc]


def sha256(path: Path) -> str:
    digest_ = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest_.update(block)
    return digest_.hexdigest()


def write_durably(path: Path, content: bytes) -> None:
    """Write a file aside, flush it to disk, then rename it into place: readers see all of it or none."""
    aside = path.with_name(path.name + ".tmp")
    with open(aside, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(aside, path)
    fsync_dir(path.parent)


def fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    for path in [p for p in folder.rglob("*") if p.is_dir()] + [folder]:
        fsync_dir(path)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
