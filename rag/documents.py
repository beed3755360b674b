"""Source documents: reading Markdown, text, HTML and JSONL files into one ``Document`` shape.

A document's id is a hash of its normalised text, so the same article ingested twice (renamed,
re-ordered, re-wrapped) is one document. Metadata is taken only from what the file says; fields it
does not give stay empty.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import urlparse

import frontmatter

from .errors import BadDocument
from .jsonl import read_jsonl

SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".jsonl")
# Files that describe a data folder rather than belong to it (the crisis sets ship a PROVENANCE.md and a
# licence beside their JSONL); a folder read skips them, a file named on its own is still read.
ABOUT_FILES = re.compile(r"(readme|provenance|licen[cs]e|copying|changelog|notice)([._\-].*)?", re.IGNORECASE)
META_FIELDS = ("title", "source", "url", "published", "author", "language")
# Field names that other collections use for the same thing (the White House set says `date` and `source_url`).
ALIASES = {"date": "published", "source_url": "url", "link": "url", "publisher": "source", "outlet": "source"}


@dataclass(frozen=True)
class Document:
    """One source text with its citation metadata. ``extra`` keeps free-form fields verbatim."""

    text: str
    title: str = ""
    source: str = ""
    url: str = ""
    published: str = ""  # ISO date (YYYY-MM-DD) or empty when the source does not say
    author: str = ""
    language: str = ""
    path: str = ""  # where it was read from, for messages; not part of its identity
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def doc_id(self) -> str:
        return document_id(self.text)

    def metadata(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("text")
        return data


def normalise_text(text: str) -> str:
    """The form a document is identified by: NFKC, whitespace runs collapsed, ends trimmed."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def document_id(text: str) -> str:
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()[:16]


def make_document(
    text: str, meta: dict[str, Any], path: str = "", source_by_host: dict[str, str] | None = None
) -> Document:
    """Build a Document from raw metadata, mapping known aliases and keeping the rest in ``extra``."""
    if not isinstance(text, str) or not text.strip():
        raise BadDocument(f"{path or 'document'}: no text")
    # Lone surrogates (from JSON "\ud800" escapes) cannot be encoded for tokenizers or SQLite.
    text = text.encode("utf-8", "replace").decode("utf-8")
    fields: dict[str, str] = {}
    extra: dict[str, Any] = {}
    for key, value in meta.items():
        name = ALIASES.get(key, key)
        if name in META_FIELDS and name not in fields and value not in (None, ""):
            fields[name] = _iso_date(value, path) if name == "published" else str(value).strip()
        elif key != "text":
            extra[key] = value if isinstance(value, (str, int, float, bool, list, dict)) or value is None else str(value)
    if not fields.get("source") and fields.get("url") and source_by_host:
        host = urlparse(fields["url"]).hostname or ""
        for suffix, name in source_by_host.items():
            if host == suffix or host.endswith("." + suffix):
                fields["source"] = name
                extra.setdefault("source_note", f"named from the URL's host ({host})")
                break
    return Document(text=text, path=path, extra=extra, **fields)


def _iso_date(value: Any, path: str) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        where = f"{path}: " if path else ""
        raise BadDocument(f"{where}published date {text[:40]!r} is not an ISO date (YYYY-MM-DD)") from None


def read_path(path: Path, source_by_host: dict[str, str] | None = None) -> Iterator[Document]:
    """Yield the documents in one file, or in every readable file under a folder (sorted, so runs agree)."""
    path = Path(path)
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*")
                            if p.is_file() and p.suffix.lower() in SUFFIXES and not ABOUT_FILES.fullmatch(p.name)):
            if not any(part.startswith(".") for part in child.relative_to(path).parts):
                yield from read_path(child, source_by_host)
        return
    if not path.exists():
        raise BadDocument(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        yield from _read_jsonl(path, source_by_host)
        return
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BadDocument(f"{path}: not UTF-8 text ({exc.reason})") from None
    if suffix in (".md", ".markdown"):
        try:
            post = frontmatter.loads(raw)
        except Exception as exc:  # the YAML parser raises several unrelated types
            raise BadDocument(f"{path}: front matter is not valid YAML ({exc})") from None
        yield make_document(post.content, dict(post.metadata), str(path), source_by_host)
    elif suffix in (".html", ".htm"):
        yield _read_html(raw, str(path), source_by_host)
    elif suffix == ".txt":
        yield make_document(raw, {}, str(path), source_by_host)
    else:
        raise BadDocument(f"{path}: unsupported file type {suffix!r} (use one of {', '.join(SUFFIXES)})")


def read_paths(paths: Iterable[Path], source_by_host: dict[str, str] | None = None) -> list[Document]:
    """All documents under ``paths``, one per distinct text (the first one read wins)."""
    seen: dict[str, Document] = {}
    for path in paths:
        for doc in read_path(path, source_by_host):
            seen.setdefault(doc.doc_id, doc)
    return list(seen.values())


def _read_jsonl(path: Path, source_by_host: dict[str, str] | None) -> Iterator[Document]:
    for _, where, record in read_jsonl(path, BadDocument):
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise BadDocument(f"{where}: a record needs a string field 'text'")
        yield make_document(record["text"], record, where, source_by_host)


def _read_html(raw: str, path: str, source_by_host: dict[str, str] | None) -> Document:
    # trafilatura drops navigation, footers and boilerplate, which would otherwise be indexed as content.
    import trafilatura

    text = trafilatura.extract(raw, include_comments=False, include_tables=True, favor_precision=True)
    meta = trafilatura.extract_metadata(raw)
    found: dict[str, Any] = {}
    if meta is not None:
        for name, value in (("title", meta.title), ("author", meta.author), ("url", meta.url),
                            ("published", meta.date), ("source", meta.sitename), ("language", getattr(meta, "language", None))):
            if value:
                found[name] = value
    if not text:
        raise BadDocument(f"{path}: no main text found in the HTML")
    return make_document(text, found, path, source_by_host)
