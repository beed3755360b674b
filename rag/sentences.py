"""Sentence boundaries as character spans, so every piece of text we cut stays an exact slice of its source."""

from __future__ import annotations

import re

# A sentence ends at . ! ? or … (plus closing quotes/brackets) before whitespace and a capital, digit or
# opening quote; a blank line always ends one. Abbreviations that end in a full stop are not ends.
_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9А-ЯЁІЇЄҐ])|\n[ \t]*\n")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st gen col lt sgt capt rep sen gov pres amb no vol vs etc e.g i.e "
    "jan feb mar apr jun jul aug sep sept oct nov dec a.m p.m u.s u.k u.n e.u inc ltd co corp".split()
)
_WORD_BEFORE = re.compile(r"([\w.]+)$")


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans ``(s, e)`` of the sentences in ``text[start:end]``, each trimmed of surrounding whitespace.

    Offsets are into ``text``; the spans cover every non-space character of the range, in order.

    >>> t = "Mr. Smith went to Washington. He left! Then?"
    >>> [t[s:e] for s, e in sentence_spans(t)]
    ['Mr. Smith went to Washington.', 'He left!', 'Then?']
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _END.finditer(text, start, end):
        if match.group().startswith((".",)) and _is_abbreviation(text, cursor, match.start()):
            continue
        _append_trimmed(text, cursor, match.end(), spans)
        cursor = match.end()
    _append_trimmed(text, cursor, end, spans)
    return spans


def _is_abbreviation(text: str, lo: int, dot: int) -> bool:
    word = _WORD_BEFORE.search(text, lo, dot)
    if not word:
        return False
    token = word.group(1).lower().rstrip(".")
    # A lone capital ("J. Biden") is an initial, not a sentence.
    return token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha())


def _append_trimmed(text: str, lo: int, hi: int, spans: list[tuple[int, int]]) -> None:
    while lo < hi and text[lo].isspace():
        lo += 1
    while hi > lo and text[hi - 1].isspace():
        hi -= 1
    if lo < hi:
        spans.append((lo, hi))
