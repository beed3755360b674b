"""The on-disk index: a document store (the source of truth) and search segments derived from it, behind
a manifest switched atomically.

Layout of an index directory::

    DIR/documents.sqlite        every accepted document, with its origin (rag.docstore)
    DIR/CURRENT -> manifest-00000042.json   (a symlink, switched atomically by rename)
    DIR/manifest-00000042.json  model, chunker, the live segments and their tombstones, its own checksum
    DIR/seg-.../                immutable segments (rag.segment)
    DIR/.lock                   the writer lock

Every write (a corpus sync, an add, a delete, a merge) takes the writer lock, then reads the state it
builds on, so two writers serialise and neither reverts the other. A write commits to the document store
first, then adds a segment for new documents and tombstones for removed ones, then switches ``CURRENT``.
A crash in between leaves the document store ahead of the segments; the next writer sees that (the
manifest records the store version it reflects) and indexes the difference, so an acknowledged document
is never lost. Readers hold a manifest's segments; the previous manifest's stay on disk for readers that
opened it just before a switch.

Merge policy: segments fall in size tiers (under 1,000 live chunks, then each tier 4x the last); a tier
that reaches 4 segments is merged into one, and a segment with a quarter or more of its chunks deleted is
rewritten. So an index of N chunks has at most 3 segments per tier: 3 (log4(N / 1,000) + 2) in all
(15 at 100k chunks, 21 at 1M).
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import hashlib
import io
import json
import math
import os
import re
import shutil
import sqlite3
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping, Sequence

import numpy as np

from .chunking import ChunkerConfig
from .docstore import API_ORIGIN, FILE, DocumentStore, digest
from .documents import Document
from .embedding import INT8_SUFFIX, Embedder, passage_backend
from .errors import CorruptIndex, DiskFull, IndexMismatch, IndexNotFound, WriteFailed
from .local_store import LocalStore
from .segment import META, LiveSegment, Segment, fsync_dir, merge_segments, sha256, write_durably, write_segment
from .storage import SourceCount

if TYPE_CHECKING:
    from .settings import Settings

FORMAT_VERSION = 7  # bump when what is stored changes meaning (BM25 tokens, tables, layout)
CURRENT = "CURRENT"
MERGE_FLOOR = 1_000  # live chunks below which a segment is in the smallest tier
MERGE_FACTOR = 4  # a tier's segments are this many times larger than the one below; this many are merged
MAX_DEAD_SHARE = 0.25  # a segment with this share of its chunks deleted is rewritten


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
    path: Path  # the manifest now current
    documents: int
    chunks: int
    embedded: int  # chunks embedded in this write; the rest were reused
    seconds: float
    skipped: bool = False  # nothing changed, so no new manifest was written
    sources: list[SourceCount] = field(default_factory=list)  # documents and chunks per source
    added: int = 0  # documents indexed (new or changed)
    removed: int = 0  # documents taken out (deleted, replaced, or gone from their corpus path)


def origin_of(path: Path) -> str:
    """The origin recorded for documents read from a corpus path: the path made absolute."""
    return str(Path(path).resolve())


def check_config(manifest: dict, config: IndexConfig, where: Path) -> None:
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexMismatch(
            f"the index at {where} is in format {manifest.get('format')}, this version reads format "
            f"{FORMAT_VERSION}: rebuild it with `rag index --index {where}`"
        )
    built = IndexConfig(manifest["model"], manifest["dimension"], ChunkerConfig(**manifest["chunker"]))
    if built != config:
        raise IndexMismatch(
            f"the index at {where} was built with {built.describe()}, but this run uses {config.describe()}: "
            f"rebuild it with `rag index --index {where}` (or set the RAG_* settings it was built with)"
        )


def _manifest_body(manifest: dict) -> bytes:
    return json.dumps({k: v for k, v in manifest.items() if k != "checksum"}, sort_keys=True).encode()


def read_manifest(path: Path) -> dict:
    """A manifest, checked against the checksum it carries; CorruptIndex naming the file otherwise."""
    try:
        manifest = json.loads(path.read_bytes())
        if not isinstance(manifest, dict) or manifest.get("checksum") != hashlib.sha256(_manifest_body(manifest)).hexdigest():
            raise ValueError("its checksum does not match")
        return manifest
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise CorruptIndex(f"{path}: manifest unreadable ({exc}); rebuild with `rag index --rebuild`") from None


class LocalIndex:
    """An index directory on this machine: opens snapshots for reading and applies writes."""

    def __init__(self, index_dir: Path, config: IndexConfig, index_kind: str = "auto", batch_size: int = 32) -> None:
        self.index_dir = Path(index_dir)
        self.config = config
        self.index_kind = index_kind
        self.batch_size = batch_size
        self._segments: dict[str, Segment] = {}  # opened segments, shared by the snapshots that hold them
        self._views: dict[tuple[str, str | None], LiveSegment] = {}  # (segment, its tombstones' checksum) -> view
        self._live: tuple[str, dict[str, tuple[str, int, str]]] | None = None  # (manifest, doc_id -> place)
        self._docstore: DocumentStore | None = None  # opened by the first write
        self.problem: str | None = None  # why the last `open` served an older state than CURRENT's

    # Reading

    def current(self) -> str | None:
        """The name of the current manifest, or None when nothing was indexed yet."""
        link = self.index_dir / CURRENT
        try:
            return os.readlink(link)
        except OSError:
            return None

    def open(self) -> LocalStore:
        """A snapshot of the current manifest, every file it reads checked. When the current manifest or a
        file of it is damaged, the newest other manifest on disk that is intact (the previous one is kept for
        this) is served instead, and `problem` says why; CorruptIndex (naming the damaged file) when none is."""
        name = self.current()
        if name is None:
            raise IndexNotFound(f"no index at {self.index_dir}: build one with `rag index --index {self.index_dir}`")
        try:
            store = self._open(name)
            self.problem = None
            return store
        except CorruptIndex as damaged:
            for older in self._older_manifests(name):
                try:
                    store = self._open(older)
                except (CorruptIndex, IndexMismatch):
                    continue
                self.problem = f"{damaged}; serving the last intact state, {older}"
                return store
            raise

    def _open(self, name: str) -> LocalStore:
        if not name.startswith("manifest-") or not (self.index_dir / name).is_file():
            raise CorruptIndex(f"{self.index_dir / CURRENT} names {name!r}, which is not a manifest of this index; "
                               "rebuild with `rag index --rebuild`")
        manifest = read_manifest(self.index_dir / name)
        check_config(manifest, self.config, self.index_dir)
        return LocalStore(name, self._live_segments(manifest))

    def _older_manifests(self, name: str) -> list[str]:
        """The manifests on disk other than ``name``, newest first."""
        return sorted((p.name for p in self.index_dir.glob("manifest-*.json") if p.name != name), reverse=True)

    def damage(self, store: LocalStore) -> str | None:
        """What is damaged on disk now (None when nothing): the files ``store`` was loaded from, and the
        manifests kept to fall back on."""
        for manifest in sorted(self.index_dir.glob("manifest-*.json")):
            try:
                read_manifest(manifest)
            except CorruptIndex as exc:
                if manifest.exists():  # not one a writer removed meanwhile
                    return str(exc)
        return next((found for found in (s.segment.damage() for s in store.segments) if found), None)

    def _live_segments(self, manifest: dict) -> list[LiveSegment]:
        return [self._view(entry) for entry in manifest["segments"]]

    def _view(self, entry: dict) -> LiveSegment:
        """A manifest entry's segment with its tombstones applied; kept, as a write, the reload after it and
        every later manifest that leaves the segment alone would otherwise read and check them again."""
        key = (entry["name"], entry.get("dead_sha256"))
        if key not in self._views:
            segment = self._segment(entry["name"], entry.get("meta_sha256"))
            dead = np.zeros(0, dtype=np.int64)
            if entry.get("dead"):
                path = segment.folder / entry["dead"]
                try:
                    raw = path.read_bytes()
                    if hashlib.sha256(raw).hexdigest() != entry["dead_sha256"]:
                        raise ValueError("it does not match its checksum")
                    dead = np.load(io.BytesIO(raw))
                except (OSError, ValueError) as exc:
                    raise CorruptIndex(f"{path}: unreadable ({exc}); rebuild with `rag index --rebuild`") from None
            self._views[key] = LiveSegment(segment, dead)
        return self._views[key]

    def _segment(self, name: str, meta_sha256: str | None = None) -> Segment:
        segment = self._segments.get(name)
        if segment is None or (meta_sha256 is not None and segment.meta_sha256 != meta_sha256):
            segment = self._segments[name] = Segment(self.index_dir / name, meta_sha256)
        return segment

    # Writing

    def close(self) -> None:
        """Close the document store a write opened (SQLite then folds its log into the file)."""
        if self._docstore is not None:
            self._docstore.close()
            self._docstore = None

    @contextmanager
    def _writing(self) -> Iterator[tuple[DocumentStore, dict | None]]:
        """The writer lock, the document store, and the current manifest read after taking the lock (None
        for a new index, or one in another format or config: the next write rebuilds it)."""
        self.index_dir.mkdir(parents=True, exist_ok=True)
        with open(self.index_dir / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            if self._docstore is None:  # kept open: connecting and checkpointing cost more than a delete
                docstore = DocumentStore(self.index_dir)
                docstore.check()
                self._docstore = docstore
            manifest = self._usable_manifest()
            if manifest is not None and manifest["docstore_version"] > self._docstore.version:
                raise CorruptIndex(f"{self._docstore.path} is older than the index built from it (version "
                                   f"{self._docstore.version}, the index reflects {manifest['docstore_version']}): "
                                   "it was replaced or lost its last writes; restore it before writing again")
            if manifest is None:
                self._import_legacy(self._docstore)
            self._remove_debris(manifest)
            try:
                yield self._docstore, manifest
            except (OSError, sqlite3.OperationalError, RuntimeError) as exc:
                # A write that failed (a full disk, an I/O error) leaves nothing behind: the index stays as
                # it was, and the space a half-written segment took is given back at once.
                free = shutil.disk_usage(self.index_dir).free  # before the half-written files go
                self._remove_debris(self._usable_manifest())
                raise write_error(exc, self.index_dir, free) from None

    def _usable_manifest(self) -> dict | None:
        name = self.current()
        if name is None:
            return None
        try:
            manifest = read_manifest(self.index_dir / name)
            check_config(manifest, self.config, self.index_dir)
            self._live_segments(manifest)  # every file intact
        except (CorruptIndex, IndexMismatch):
            return None
        if manifest.get("index_kind") != self.index_kind:
            return None  # another FAISS kind asked for: rebuilt, every vector reused
        return manifest

    def sync(self, corpora: Mapping[str, Sequence[Document]], embedder: Embedder, progress: bool = False,
             rebuild: bool = False, force: bool = False) -> BuildReport:
        """Make each origin's documents in the store exactly ``corpora[origin]``: add and replace those
        that are new or changed, remove those no longer there. Documents of other origins (the API's)
        are untouched. With ``rebuild``, every search segment is rebuilt from the document store."""
        started = time.perf_counter()
        with self._writing() as (docstore, manifest):
            put, remove = [], set()
            stored = docstore.digests()
            for origin, documents in corpora.items():
                incoming = {doc.doc_id: doc for doc in documents}
                own = docstore.digests(origin)
                remove |= own.keys() - incoming.keys()
                put += [(doc, origin) for doc_id, doc in incoming.items()
                        if own.get(doc_id) != digest(doc) or doc_id not in own]
            if put or remove:
                docstore.write(put, remove)
            changed = {doc.doc_id for doc, _ in put if stored.get(doc.doc_id) != digest(doc)} | remove
            return self._reindex(docstore, manifest, embedder, changed, started, progress, rebuild or force)

    def put(self, documents: Sequence[Document], embedder: Embedder, origin: str = API_ORIGIN,
            urls: Iterable[str] | None = None) -> BuildReport:
        """Add or replace documents; a stored document with the URL of a new one (or one of ``urls``, where
        given) is replaced. Searchable, and durable, when this returns."""
        started = time.perf_counter()
        with self._writing() as (docstore, manifest):
            new_ids = {doc.doc_id for doc in documents}
            urls = [doc.url for doc in documents] if urls is None else urls
            replaced = {doc_id for doc_id in docstore.with_urls(urls) if doc_id not in new_ids}
            docstore.write([(doc, origin) for doc in documents], replaced)
            return self._reindex(docstore, manifest, embedder, new_ids | replaced, started)

    def delete(self, doc_ids: Sequence[str], embedder: Embedder) -> int:
        """Remove documents; returns how many were stored."""
        started = time.perf_counter()
        with self._writing() as (docstore, manifest):
            stored = list(docstore.digests_of(doc_ids))
            if stored:
                docstore.write(remove=stored)
                self._reindex(docstore, manifest, embedder, set(stored), started)
            return len(stored)

    def _reindex(self, docstore: DocumentStore, manifest: dict | None, embedder: Embedder, touched: set[str],
                 started: float, progress: bool = False, rebuild: bool = False) -> BuildReport:
        """Bring the segments in line with the document store: index the touched documents the store holds
        in a new segment, tombstone the old versions and the removed. Everything is compared when the last
        manifest did not reflect the store's previous version (a write that died half-way) or there is no
        usable manifest."""
        if manifest is None or rebuild:
            return self._rebuild(docstore, manifest, embedder, started, progress)
        live = self._live_docs(manifest)
        if manifest["docstore_version"] != docstore.version - (1 if touched else 0) or not touched:
            touched = set(live) | set(docstore.digests())
        wanted = docstore.digests_of(sorted(touched))
        index = [d for d in sorted(touched) if d in wanted and (d not in live or live[d][2] != wanted[d])]
        kill = [d for d in touched if d in live and (d not in wanted or live[d][2] != wanted[d])]
        if not index and not kill and manifest["docstore_version"] == docstore.version:
            return self._report(manifest, self.current(), 0, started, skipped=True)
        entries = [dict(e) for e in manifest["segments"]]
        generation = manifest["generation"] + 1
        by_segment: dict[str, list[int]] = {}
        for doc_id in kill:
            name, ordinal, _ = live[doc_id]
            by_segment.setdefault(name, []).append(ordinal)
        for entry in entries:
            if entry["name"] in by_segment:
                view = self._view(entry)
                dead = np.union1d(view.dead, by_segment[entry["name"]]).astype(np.int64)
                entry["dead"] = f"dead-{generation}.npy"
                buffer = io.BytesIO()
                np.save(buffer, dead)
                write_durably(view.segment.folder / entry["dead"], buffer.getvalue())
                entry["dead_sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
        embedded = 0
        if index:
            documents = list(docstore.documents(index))
            reuse = [self._segment(name) for name in by_segment]  # a changed document's old chunks
            name, embedded = self._new_segment(documents, embedder, reuse, progress, generation)
            entries.append(self._entry(name))
        manifest = self._commit(manifest, entries, generation, docstore.version)
        return self._report(manifest, self.current(), embedded, started, added=len(index), removed=len(kill))

    def _rebuild(self, docstore: DocumentStore, manifest: dict | None, embedder: Embedder, started: float,
                 progress: bool) -> BuildReport:
        documents = list(docstore.documents())
        generation = max((manifest or {}).get("generation", 0), self._last_generation()) + 1
        if manifest is not None:  # what only the previous state used goes first: a rebuild needs room for one copy
            self._remove_unused(keep=[manifest])
        name, embedded = self._new_segment(documents, embedder, self._reusable_segments(), progress, generation)
        manifest = self._commit(None, [self._entry(name)], generation, docstore.version)
        return self._report(manifest, self.current(), embedded, started, added=len(documents))

    def is_stale(self, corpora: Mapping[str, Sequence[Document]]) -> bool:
        """True when there is no usable index, or the store holds other documents for these origins."""
        manifest = self._usable_manifest()
        if manifest is None or not (self.index_dir / FILE).exists():
            return True
        docstore = DocumentStore(self.index_dir)
        try:
            if manifest["docstore_version"] != docstore.version:
                return True
            return any(docstore.digests(origin) != {doc.doc_id: digest(doc) for doc in documents}
                       for origin, documents in corpora.items())
        finally:
            docstore.close()

    def merge(self) -> bool:
        """Merge segments as the merge policy asks; True when something was merged."""
        with self._writing() as (_, manifest):
            return manifest is not None and self._merge(manifest) is not None

    def _merge(self, manifest: dict) -> dict | None:
        live = self._live_segments(manifest)
        chosen = merge_plan([(s.chunks, s.segment.chunks_count) for s in live])
        if not chosen:
            return None
        generation = manifest["generation"] + 1
        name = f"seg-{generation:08d}-{uuid.uuid4().hex[:6]}"
        building = self.index_dir / f".building-{name}"
        merge_segments(building, [(live[i].segment, live[i].dead) for i in chosen], self.index_kind)
        building.rename(self.index_dir / name)
        fsync_dir(self.index_dir)
        # The merged segment takes the place of the first it replaces, so documents keep their order.
        entries = []
        for i, entry in enumerate(manifest["segments"]):
            if i == chosen[0]:
                entries.append(self._entry(name))
            elif i not in chosen:
                entries.append(entry)
        return self._commit(manifest, entries, generation, manifest["docstore_version"])

    def _new_segment(self, documents: list[Document], embedder: Embedder, reuse: Sequence[Segment],
                     progress: bool, generation: int) -> tuple[str, int]:
        name = f"seg-{generation:08d}-{uuid.uuid4().hex[:6]}"
        building = self.index_dir / f".building-{name}"
        embedded = write_segment(building, documents, embedder, self.config.chunker, reuse,
                                 batch_size=self.batch_size, progress=progress, index_kind=self.index_kind)
        building.rename(self.index_dir / name)
        fsync_dir(self.index_dir)
        return name, embedded

    def _entry(self, name: str) -> dict:
        """A new segment's manifest entry: its name, and the checksum of the file holding its checksums."""
        return {"name": name, "meta_sha256": sha256(self.index_dir / name / META)}

    def _commit(self, previous: dict | None, entries: list[dict], generation: int, docstore_version: int) -> dict:
        """Write the next manifest durably and make it current; then remove what no kept manifest uses."""
        manifest = {
            "format": FORMAT_VERSION, **asdict(self.config), "index_kind": self.index_kind,
            "generation": generation, "docstore_version": docstore_version, "segments": entries,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        manifest["checksum"] = hashlib.sha256(_manifest_body(manifest)).hexdigest()
        name = f"manifest-{generation:08d}.json"
        write_durably(self.index_dir / name, json.dumps(manifest, indent=1).encode())
        link = self.index_dir / f".{CURRENT}-{uuid.uuid4().hex[:6]}"
        os.symlink(name, link)
        os.replace(link, self.index_dir / CURRENT)  # rename is atomic: readers see the old or the new
        fsync_dir(self.index_dir)
        self._update_live(previous, manifest)
        self._remove_unused(keep=[manifest] + ([previous] if previous else []))
        return manifest

    # The live-document map: where each live document is, for tombstones. Kept up to date across this
    # object's own writes; read again from the segments when another process wrote meanwhile.

    def _live_docs(self, manifest: dict) -> dict[str, tuple[str, int, str]]:
        name = f"manifest-{manifest['generation']:08d}.json"
        if self._live is None or self._live[0] != name:
            live: dict[str, tuple[str, int, str]] = {}
            for entry, segment in zip(manifest["segments"], self._live_segments(manifest)):
                for ordinal in np.flatnonzero(segment.live_docs):
                    s = segment.segment
                    live[s.doc_ids[ordinal]] = (s.name, int(ordinal), s.doc_digests[ordinal])
            self._live = (name, live)
        return self._live[1]

    def _update_live(self, previous: dict | None, manifest: dict) -> None:
        """Bring the map from ``previous`` to ``manifest``, touching only the documents that moved or died
        (a delete costs what it deletes, not the size of the index)."""
        old_name = f"manifest-{previous['generation']:08d}.json" if previous else None
        if self._live is None or self._live[0] != old_name:
            self._live = None  # rebuilt from the segments when next needed
            return
        live = self._live[1]
        old_entries = {e["name"]: e for e in previous["segments"]}
        new_names = {e["name"] for e in manifest["segments"]}
        for name in old_entries.keys() - new_names:  # merged away: their live documents are in the merged one
            for doc_id in self._segment(name).doc_ids:
                if live.get(doc_id, ("",))[0] == name:  # not a deleted old version of one live elsewhere
                    live.pop(doc_id)
        for entry in manifest["segments"]:
            old = old_entries.get(entry["name"])
            if old == entry:
                continue
            view = self._view(entry)
            segment, dead = view.segment, set(view.dead.tolist())
            if old is not None:  # new tombstones only
                for ordinal in dead - set(self._view(old).dead.tolist()):
                    live.pop(segment.doc_ids[ordinal], None)
                continue
            for ordinal, doc_id in enumerate(segment.doc_ids):
                if ordinal not in dead:
                    live[doc_id] = (segment.name, ordinal, segment.doc_digests[ordinal])
        self._live = (f"manifest-{manifest['generation']:08d}.json", live)

    def _reusable_segments(self) -> list[Segment]:
        """Every intact segment on disk, referenced by a readable manifest or not: a rebuild after damage
        still reuses what it can. A chunk's key names the model, so another model's vectors never match."""
        found = []
        for folder in sorted(self.index_dir.glob("seg-*")):
            try:
                found.append(self._segment(folder.name))
            except (CorruptIndex, OSError, ValueError, KeyError, sqlite3.Error):
                continue
        return found

    def _last_generation(self) -> int:
        numbers = [int(p.name[9:17]) for p in self.index_dir.glob("manifest-*.json") if p.name[9:17].isdigit()]
        return max(numbers, default=0)

    def _report(self, manifest: dict, name: str | None, embedded: int, started: float, skipped: bool = False,
                added: int = 0, removed: int = 0) -> BuildReport:
        stats = LocalStore(name or "", self._live_segments(manifest)).stats()
        return BuildReport(self.index_dir / (name or ""), stats.documents, stats.chunks, embedded,
                           time.perf_counter() - started, skipped, stats.sources, added, removed)

    def _remove_unused(self, keep: list[dict]) -> None:
        # The previous manifest's files stay, so a reader that opened it just before the switch keeps working.
        names = {f"manifest-{m['generation']:08d}.json" for m in keep}
        segments = {e["name"] for m in keep for e in m["segments"]}
        dead_files = {(e["name"], e["dead"]) for m in keep for e in m["segments"] if e.get("dead")}
        for path in self.index_dir.glob("manifest-*.json"):
            if path.name not in names:
                path.unlink(missing_ok=True)
        for path in self.index_dir.glob("seg-*"):
            if path.name not in segments:
                shutil.rmtree(path, ignore_errors=True)
                # Readers that hold it keep it open; the files go when they let it go.
                self._segments.pop(path.name, None)
            else:
                for dead in path.glob("dead-*.npy"):
                    if (path.name, dead.name) not in dead_files:
                        dead.unlink(missing_ok=True)
        live_views = {(e["name"], e.get("dead_sha256")) for m in keep for e in m["segments"]}
        self._views = {key: view for key, view in self._views.items() if key in live_views}

    def _remove_debris(self, manifest: dict | None) -> None:
        # Only called under the writer lock, so whatever a write leaves half-made is from one that died.
        for stale in self.index_dir.glob(".building-*"):
            shutil.rmtree(stale, ignore_errors=True)
        for stale in [*self.index_dir.glob(".CURRENT-*"), *self.index_dir.glob("*.tmp")]:
            stale.unlink(missing_ok=True)
        for legacy in self.index_dir.glob("gen-*"):  # generations of the format before the document store
            shutil.rmtree(legacy, ignore_errors=True)
        if manifest is not None:
            previous = self.index_dir / f"manifest-{manifest['generation'] - 1:08d}.json"
            keep = [manifest]
            try:
                keep.append(read_manifest(previous))
            except CorruptIndex:
                pass
            self._remove_unused(keep)

    def _import_legacy(self, docstore: DocumentStore) -> None:
        """An index of the format before the document store (CURRENT -> gen-*/): its documents are taken
        into the store, as the API's (so none added over HTTP is lost); corpus syncs take theirs back."""
        link = self.index_dir / CURRENT
        if not link.is_dir() or docstore.version:
            return
        try:
            connection = sqlite3.connect(f"file:{link.resolve() / 'store.sqlite'}?mode=ro", uri=True)
            rows = connection.execute("SELECT title, source, url, published, author, language, path, extra, text "
                                      "FROM documents ORDER BY ordinal").fetchall()
            connection.close()
        except sqlite3.Error:
            return
        docstore.write([(Document(text=text, title=title, source=source, url=url, published=published,
                                  author=author, language=language, path=path, extra=json.loads(extra)), API_ORIGIN)
                        for title, source, url, published, author, language, path, extra, text in rows])


def write_error(exc: BaseException, index_dir: Path, free: int) -> WriteFailed:
    """A failed write as the user should read it: what could not be written and why, with the space a
    rebuild needs when the disk is full. SQLite and FAISS report a full disk in words of their own; FAISS
    only as a short write ("N requested and M written"), taken as a full disk when less than N was free."""
    text = str(exc)
    short = re.search(r"(\d+) requested and \d+ written", text)
    full = (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)) or "disk is full" in text \
        or "No space left" in text or (short is not None and free < int(short.group(1)))
    where = getattr(exc, "filename", None) or index_dir
    if full:
        usage = shutil.disk_usage(index_dir)
        return DiskFull(f"no space left on device writing {where}: a full rebuild needs about "
                        f"{_needed_mb(index_dir)} MB, {usage.free // 2**20} MB are free; nothing was written")
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else text
    return WriteFailed(f"could not write {where}: {reason}; nothing was written")


def _needed_mb(index_dir: Path) -> int:
    """About the room one more copy of the segments takes (a rebuild writes its new segments beside the
    old ones), or 1 MB for a new index."""
    used = sum(p.stat().st_size for p in index_dir.glob("seg-*/**/*") if p.is_file())
    return max(1, math.ceil(used / 2**20))


def merge_plan(segments: Sequence[tuple[int, int]]) -> list[int]:
    """Which segments to merge now (positions in ``segments``, each (live chunks, chunks)): the first tier
    holding ``MERGE_FACTOR`` segments, or else every segment with too many deleted chunks; [] for none."""
    tiers: dict[int, list[int]] = {}
    for i, (live, _) in enumerate(segments):
        tier = int(math.log(max(live, MERGE_FLOOR) / MERGE_FLOOR, MERGE_FACTOR))
        tiers.setdefault(tier, []).append(i)
    for tier in sorted(tiers):
        if len(tiers[tier]) >= MERGE_FACTOR:
            return tiers[tier]
    return [i for i, (live, total) in enumerate(segments) if total and (total - live) >= MAX_DEAD_SHARE * total]


def open_index(index_dir: Path, config: IndexConfig, index_kind: str = "auto", batch_size: int = 32):
    """The index at ``index_dir``: sharded when it was created with shards (rag.sharded), else local."""
    from .sharded import SHARDS_FILE, ShardedIndex

    if (Path(index_dir) / SHARDS_FILE).exists():
        return ShardedIndex(Path(index_dir), config, index_kind, batch_size)
    return LocalIndex(Path(index_dir), config, index_kind, batch_size)


def recorded_model(index_dir: Path) -> str | None:
    """The name of the model whose vectors the index at ``index_dir`` holds, or None where none is readable."""
    from .sharded import SHARDS_FILE

    index_dir = Path(index_dir)
    for folder in sorted(index_dir.glob("shard-*")) if (index_dir / SHARDS_FILE).exists() else [index_dir]:
        try:
            return read_manifest(folder / os.readlink(folder / CURRENT))["model"]
        except (OSError, CorruptIndex, KeyError):
            continue
    return None


def held_passage_backend(index_dir: Path, settings: "Settings") -> str:
    """The passage backend for writes to the index at ``index_dir``: the configured one (rag.embedding.
    passage_backend), unless the index already holds the other kind of vectors of the same model (fp32 or
    int8). An index keeps its vectors until `rag index --rebuild`, so a change of ``RAG_INDEX_BACKEND`` (or
    of its default) never makes an archive unreadable or re-embeds it unasked."""
    passages = passage_backend(settings)
    held = recorded_model(index_dir)
    if held is not None and held.endswith(INT8_SUFFIX) != (passages == "onnx-int8"):
        fp32 = "onnx" if settings.embed_backend == "onnx-int8" else settings.embed_backend
        passages = "onnx-int8" if held.endswith(INT8_SUFFIX) else fp32
    return passages


def embedder_for(index_dir: Path, settings: "Settings") -> Embedder:
    """The configured embedder, its passages embedded as the index at ``index_dir`` holds them."""
    return Embedder(settings.model_path, backend=settings.embed_backend,
                    passages=held_passage_backend(index_dir, settings))


def build_index(
    index_dir: Path,
    documents: Sequence[Document],
    embedder: Embedder,
    chunker: ChunkerConfig,
    batch_size: int = 32,
    progress: bool = False,
    force: bool = False,
    index_kind: str = "auto",
    origin: str = "corpus",
) -> BuildReport:
    """Make ``documents`` the documents of ``origin`` in the index at ``index_dir`` (created if needed):
    the Python form of `rag index`. Documents of other origins stay."""
    config = IndexConfig(embedder.name, embedder.dimension, chunker)
    index = open_index(index_dir, config, index_kind, batch_size)
    report = index.sync({origin: documents}, embedder, progress, force=force)
    index.merge()
    return report


def is_stale(index_dir: Path, corpora: Mapping[str, Sequence[Document]], config: IndexConfig,
             index_kind: str = "auto") -> bool:
    """True when the index is missing, built with another config, or holds other documents for these origins."""
    index = open_index(index_dir, config, index_kind)
    return index.is_stale(corpora)
