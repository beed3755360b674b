"""The document store: every document the index has accepted, the source of truth the search structures
are derived from.

One SQLite file in WAL mode with ``synchronous=FULL``, so a write is on disk when its transaction commits
(a write is acknowledged only after that). Each document records its origin: the corpus path `rag index`
read it from, or ``api`` for documents added over HTTP. `rag index` replaces only its own origins'
documents, so documents added through the API survive it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from .documents import Document
from .errors import CorruptIndex

API_ORIGIN = "api"
FILE = "documents.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, origin TEXT NOT NULL, digest TEXT NOT NULL, seq INTEGER NOT NULL,
    title TEXT, source TEXT, url TEXT, published TEXT, author TEXT, language TEXT, path TEXT, extra TEXT,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_by_origin ON documents(origin);
CREATE INDEX IF NOT EXISTS documents_by_url ON documents(url);
CREATE INDEX IF NOT EXISTS documents_by_seq ON documents(seq);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_COLUMNS = "title, source, url, published, author, language, path, extra, text"


def digest(doc: Document) -> str:
    """A hash of a document's text and metadata (where it was read from aside): a changed title or date
    is a changed document, to be indexed again."""
    meta = doc.metadata()
    meta.pop("path")
    body = json.dumps(meta, sort_keys=True, ensure_ascii=False, default=str) + "\0" + doc.text
    return hashlib.sha256(body.encode()).hexdigest()


class DocumentStore:
    """Documents by id, with origin and digest; ``version`` counts committed writes."""

    def __init__(self, index_dir: Path) -> None:
        self.path = Path(index_dir) / FILE
        try:
            # check_same_thread=False: the service writes from worker threads, one at a time (the writer lock).
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # in WAL mode NORMAL could lose the last commits on power loss
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None

    def _damaged(self, why: object) -> CorruptIndex:
        return CorruptIndex(f"{self.path} is damaged ({why}). It is the index's source of truth: restore it from "
                            "a backup, or move it aside and run `rag index` to index the corpus again (documents "
                            "added over the API since the backup are then lost)")

    def check(self) -> None:
        """Every page and index consistent (integrity_check) and every document's text and metadata
        matching its digest (SQLite keeps no checksums of its own); CorruptIndex naming the file otherwise.
        Reads the whole store: done once per process, when it first writes."""
        try:
            problems = [row[0] for row in self._db.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise self._damaged("; ".join(problems[:3]))
            stored = self.digests()
            for doc in self.documents():
                if stored.get(doc.doc_id) != digest(doc):
                    raise self._damaged(f"document {doc.doc_id} does not match its digest")
        except (sqlite3.DatabaseError, ValueError) as exc:  # ValueError: undecodable text or extra
            raise self._damaged(exc) from None

    def close(self) -> None:
        self._db.close()

    @property
    def version(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key='version'").fetchone()
        return row[0] if row else 0

    def digests(self, origin: str | None = None) -> dict[str, str]:
        """doc_id -> digest, of one origin's documents or of all."""
        if origin is None:
            return dict(self._db.execute("SELECT doc_id, digest FROM documents"))
        return dict(self._db.execute("SELECT doc_id, digest FROM documents WHERE origin=?", (origin,)))

    def digests_of(self, doc_ids: Sequence[str]) -> dict[str, str]:
        """doc_id -> digest of those of ``doc_ids`` that are stored."""
        wanted = list(doc_ids)
        found: dict[str, str] = {}
        for lo in range(0, len(wanted), 500):  # SQLite's limit on parameters
            part = wanted[lo : lo + 500]
            found.update(self._db.execute(
                f"SELECT doc_id, digest FROM documents WHERE doc_id IN ({','.join('?' * len(part))})", part))
        return found

    def with_urls(self, urls: Iterable[str]) -> dict[str, str]:
        """doc_id -> url of the stored documents having any of ``urls``."""
        urls = [u for u in set(urls) if u]
        if not urls:
            return {}
        marks = ",".join("?" * len(urls))
        return dict(self._db.execute(f"SELECT doc_id, url FROM documents WHERE url IN ({marks})", urls))

    def documents(self, doc_ids: Sequence[str] | None = None) -> Iterator[Document]:
        """Documents in the order they were last written (all, or those of ``doc_ids``)."""
        if doc_ids is None:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM documents ORDER BY seq, doc_id")
        else:
            wanted = list(doc_ids)
            rows = (row for lo in range(0, len(wanted), 500) for row in self._db.execute(
                f"SELECT {_COLUMNS} FROM documents WHERE doc_id IN ({','.join('?' * len(wanted[lo:lo + 500]))}) "
                "ORDER BY seq, doc_id", wanted[lo:lo + 500]))
        for title, source, url, published, author, language, path, extra, text in rows:
            yield Document(text=text, title=title, source=source, url=url, published=published, author=author,
                           language=language, path=path, extra=json.loads(extra))

    def write(self, put: Sequence[tuple[Document, str]] = (), remove: Iterable[str] = ()) -> int:
        """Store documents (with their origins; an id already stored is replaced) and remove others, in one
        durable transaction; returns the new version."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            version = self.version + 1
            db.executemany("DELETE FROM documents WHERE doc_id=?", [(doc_id,) for doc_id in remove])
            db.executemany(
                "INSERT OR REPLACE INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(doc.doc_id, origin, digest(doc), version, doc.title, doc.source, doc.url, doc.published,
                  doc.author, doc.language, doc.path, json.dumps(doc.extra, ensure_ascii=False, default=str),
                  doc.text) for doc, origin in put],
            )
            db.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (version,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return version
