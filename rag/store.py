"""A segment's documents, chunks and sentence spans in SQLite: the text and metadata behind each vector row."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Iterable

import numpy as np

from .documents import Document, normalise_text
from .storage import DocumentSummary, SentenceRow

SCHEMA = """
CREATE TABLE documents (
    ordinal INTEGER PRIMARY KEY, doc_id TEXT UNIQUE NOT NULL, title TEXT, source TEXT, url TEXT,
    published TEXT, author TEXT, language TEXT, path TEXT, extra TEXT, text TEXT NOT NULL,
    digest TEXT NOT NULL  -- of text and metadata (rag.docstore.digest): a changed title is a changed document
);
CREATE TABLE chunks (
    row INTEGER PRIMARY KEY, doc_ordinal INTEGER NOT NULL, idx INTEGER NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, embed_key TEXT NOT NULL
);
CREATE TABLE sentences (
    row INTEGER PRIMARY KEY, chunk_row INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL,
    hash INTEGER NOT NULL,  -- of the normalised sentence: finds repeated text without reading it
    speaker TEXT NOT NULL  -- who says it, where a transcript's label makes it plain; else ""
);
CREATE INDEX sentences_by_chunk ON sentences(chunk_row);
CREATE INDEX chunks_by_key ON chunks(embed_key);
"""


def create(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path)
    connection.executescript(SCHEMA)
    return connection


def open_in_memory(data: bytes) -> sqlite3.Connection:
    """A read-only copy, in memory, of a database file's bytes (checked by the caller before)."""
    # check_same_thread=False: the HTTP service reads from worker threads; SQLite serialises access itself.
    connection = sqlite3.connect(":memory:", check_same_thread=False)
    connection.deserialize(data)
    connection.execute("PRAGMA query_only = ON")
    return connection


def insert_document(connection: sqlite3.Connection, ordinal: int, doc: Document, digest: str) -> None:
    connection.execute(
        "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (ordinal, doc.doc_id, doc.title, doc.source, doc.url, doc.published, doc.author, doc.language,
         doc.path, json.dumps(doc.extra, ensure_ascii=False, default=str), doc.text, digest),
    )


def insert_chunks(connection: sqlite3.Connection, rows: Iterable[tuple[int, int, int, int, int, str]]) -> None:
    connection.executemany("INSERT INTO chunks VALUES (?,?,?,?,?,?)", rows)


def insert_sentences(connection: sqlite3.Connection, rows: Iterable[tuple[int, int, int, int, int, str]]) -> None:
    connection.executemany("INSERT INTO sentences VALUES (?,?,?,?,?,?)", rows)


_DOCUMENT_COLUMNS = "title, source, url, published, author, language, path, extra, text"


def _document(row: tuple) -> Document:
    title, source, url, published, author, language, path, extra, text = row
    return Document(text=text, title=title, source=source, url=url, published=published, author=author,
                    language=language, path=path, extra=json.loads(extra))


def load_excerpt(connection: sqlite3.Connection, ordinal: int, start: int, end: int) -> Document:
    """A document whose ``text`` is only ``text[start:end]`` (reading a long transcript whole is wasted work)."""
    columns = _DOCUMENT_COLUMNS.replace("text", "substr(text, ?, ?)")
    row = connection.execute(f"SELECT {columns} FROM documents WHERE ordinal=?", (start + 1, end - start, ordinal))
    return _document(row.fetchone())


def find_document(connection: sqlite3.Connection, ordinal: int) -> Document:
    return _document(connection.execute(f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE ordinal=?", (ordinal,)).fetchone())


def documents_of(connection: sqlite3.Connection, ordinals: list[int]) -> Iterable[tuple[int, Document]]:
    """(ordinal, document) for each of ``ordinals`` (in ordinal order), text included."""
    marks = ",".join("?" * len(ordinals))
    rows = connection.execute(f"SELECT ordinal, {_DOCUMENT_COLUMNS} FROM documents WHERE ordinal IN ({marks}) "
                              "ORDER BY ordinal", ordinals)
    return ((row[0], _document(row[1:])) for row in rows)


def summaries(connection: sqlite3.Connection, ordinals: list[int], chunks: list[int]) -> list[DocumentSummary]:
    """Listings of the documents ``ordinals`` (in that order), with their chunk counts given."""
    marks = ",".join("?" * len(ordinals))
    found = {row[0]: row[1:] for row in connection.execute(
        f"SELECT ordinal, doc_id, title, source, url, published, author, language, length(text) FROM documents "
        f"WHERE ordinal IN ({marks})", ordinals)}
    return [DocumentSummary(*found[o], n) for o, n in zip(ordinals, chunks)]


def document_columns(connection: sqlite3.Connection) -> tuple[list[str], list[str], list[str], list[str]]:
    """doc_id, source, published and digest of every document, in ordinal order (held in memory)."""
    rows = connection.execute("SELECT doc_id, source, published, digest FROM documents ORDER BY ordinal").fetchall()
    return [r[0] for r in rows], [r[1] or "" for r in rows], [r[2] or "" for r in rows], [r[3] for r in rows]


def chunk_columns(connection: sqlite3.Connection) -> np.ndarray:
    """(doc_ordinal, idx, start, end) per chunk row, as one int64 array."""
    rows = connection.execute('SELECT doc_ordinal, idx, start, "end" FROM chunks ORDER BY row').fetchall()
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def sentences_of(connection: sqlite3.Connection, chunk_rows: list[int]) -> dict[int, list[SentenceRow]]:
    """For each chunk row, its sentences in text order (``id``: the sentence's row in the segment)."""
    marks = ",".join("?" * len(chunk_rows))
    found: dict[int, list[SentenceRow]] = {row: [] for row in chunk_rows}
    for sentence, chunk, start, end, digest, speaker in connection.execute(
        f'SELECT row, chunk_row, start, "end", hash, speaker FROM sentences WHERE chunk_row IN ({marks}) ORDER BY row',
        chunk_rows,
    ):
        found[chunk].append(SentenceRow(sentence, start, end, digest, speaker))
    return found


def text_hash(text: str) -> int:
    """A signed 64-bit hash of normalised text (SQLite integers are signed)."""
    return int.from_bytes(hashlib.blake2b(normalise_text(text).encode(), digest_size=8).digest(), "big", signed=True)


def rows_by_embed_key(connection: sqlite3.Connection) -> dict[str, int]:
    return dict(connection.execute("SELECT embed_key, row FROM chunks"))


def sentence_ranges(connection: sqlite3.Connection) -> dict[int, tuple[int, int]]:
    """Per chunk row, (first sentence row, sentence count)."""
    return {chunk: (first, count) for chunk, first, count in
            connection.execute("SELECT chunk_row, MIN(row), COUNT(*) FROM sentences GROUP BY chunk_row")}
