"""Question answering over crisis sources: cited, verbatim passages from news and official statements.

>>> from rag import Engine
>>> answer = Engine.open("index").ask("Why does Russia object to NATO expansion?", top_k=3)
"""

from .documents import Document, read_paths
from .errors import BadDocument, BadQuery, CorruptIndex, DiskFull, IndexMismatch, IndexNotFound, RagError, WriteFailed
from .index import BuildReport, build_index
from .models import MODES, Answer, Filters, Passage
from .retrieve import MAX_QUESTION_CHARS, MAX_TOP_K, Engine

__all__ = [
    "Answer", "BadDocument", "BadQuery", "BuildReport", "CorruptIndex", "DiskFull", "Document", "Engine", "Filters",
    "IndexMismatch", "IndexNotFound", "MAX_QUESTION_CHARS", "MAX_TOP_K", "MODES", "Passage", "RagError", "WriteFailed",
    "build_index", "read_paths",
]
