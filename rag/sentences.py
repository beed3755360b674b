"""Sentence boundaries as character spans, so every piece of text we cut stays an exact slice of its source."""

from __future__ import annotations

import bisect
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


# What a reader sees: a passage's text with the source's Markdown read, not shown. The White House texts
# are Markdown converted from HTML: hard-wrapped at 72 columns, "  \n" line breaks, **bold**, *italics*,
# \[escapes\], [links](...), ### headings. Cut from the stored text by offsets, a passage may start or end
# inside any of these, which a Markdown parser (markdown-it) would show as literal marks; so a few
# patterns instead, each keeping, for every character shown, the offset it came from.
_PARAGRAPH, _LINE = "\u2029", "\u2028"  # a break kept as a paragraph / a line, until the end
_PUNCTUATION = "\\`*_{}[]()#+-.!<>|~"
_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>|~])")
_BLANK_LINES = re.compile(r"\n(?:[ \t\xa0]*\n)+")
_HEADING = re.compile(r"(?m)^[ \t]{0,3}#{1,6}[ \t]+([^\n]*?)(?:[ \t]+#+)?[ \t]*$")
_BULLET = re.compile(r"(?m)^[ \t\xa0]*[-*+][ \t\xa0]+(?=\S)")
_NUMBERED = re.compile(r"(?m)^[ \t\xa0]*(\d{1,3}[.)])[ \t\xa0]+(?=\S)")
_HARD_BREAK = re.compile(r"(?:[ \t\xa0]{2,}|\\)\n")
_SPACES = re.compile(r"[ \t\n\r\f\v\xa0\u2000-\u200a\u202f\u205f\u3000]+")  # not \s: it takes the two breaks
_AROUND_BREAK = re.compile(rf" *([{_PARAGRAPH}{_LINE}]) *")
_LINK = re.compile(rf"!?\[([^\[\]{_PARAGRAPH}]*)\]\((?:[^()\s]|\([^()\s]*\))*\)")
_TAG = re.compile(r"</?(?:sup|sub|em|strong|i|b|u|span|small|br)\b[^<>]*>", re.IGNORECASE)
# Only "*" emphasis: "_" runs inside names and code ("window.__xss"), and the sources use none.
_STRONG = re.compile(rf"(\*\*)(?=[^\s*])([^{_PARAGRAPH}{_LINE}]+?)(?<=[^\s*])\1")
_EMPHASIS = re.compile(rf"(\*)(?=[^\s*])([^{_PARAGRAPH}{_LINE}*]+?)(?<=[^\s*])\1")
# Marks left unpaired where the cut fell between them ("Room* and"); a lone "* * *" between spaces stays.
_STRAY = re.compile(r"\*\*+|(?<=\w)\*(?!\w)|(?<!\w)\*(?=\w)")
_BREAKS = re.compile(rf"[ {_PARAGRAPH}{_LINE}]*{_PARAGRAPH}[ {_PARAGRAPH}{_LINE}]*|{_LINE}[ {_LINE}]*")


def prose(text: str) -> str:
    """``text`` as a reader should see it: Markdown marks read (emphasis, escapes, links, headings,
    list markers), hard-wrapped lines joined, blank lines kept as paragraph breaks, spaces collapsed.

    >>> prose("In the *East Room*, the\\nPresident **said**:  \\n  \\n### Remarks")
    'In the East Room, the President said:\\n\\nRemarks'
    """
    return prose_map(text)[0]


def prose_map(text: str) -> tuple[str, list[int]]:
    """``prose(text)``, and for each of its characters the offset in ``text`` it comes from (ascending),
    so a span of ``text`` can be found in what is shown: see ``shown_span``."""
    out, origin = text, list(range(len(text)))
    out, origin = _sub(_ESCAPED, lambda m: [(chr(0xE000 + ord(m.group(1))), m.start(1))], out, origin)
    out, origin = _sub(_HEADING, lambda m: [(_PARAGRAPH, m.start()), 1, (_PARAGRAPH, m.end())], out, origin)
    out, origin = _sub(_BULLET, lambda m: [(_LINE + "• ", m.start())], out, origin)
    out, origin = _sub(_NUMBERED, lambda m: [(_LINE, m.start()), 1, (" ", m.end(1))], out, origin)
    out, origin = _sub(_BLANK_LINES, lambda m: [(_PARAGRAPH, m.start())], out, origin)
    out, origin = _sub(_HARD_BREAK, lambda m: [(_LINE, m.start())], out, origin)
    out, origin = _sub(_SPACES, lambda m: [(" ", m.start())], out, origin)
    out, origin = _sub(_AROUND_BREAK, lambda m: [1], out, origin)
    out, origin = _sub(_LINK, lambda m: [1], out, origin)
    out, origin = _sub(_TAG, lambda m: [], out, origin)
    for pattern in (_STRONG, _STRONG, _EMPHASIS, _EMPHASIS):  # twice: ***both*** and nested marks
        out, origin = _sub(pattern, lambda m: [2], out, origin)
    out, origin = _sub(_STRAY, lambda m: [], out, origin)
    out, origin = _sub(_BREAKS, lambda m: [("\n\n" if _PARAGRAPH in m.group() else "\n", m.start())], out, origin)
    out = "".join(chr(ord(c) - 0xE000) if 0xE000 <= ord(c) < 0xE080 and chr(ord(c) - 0xE000) in _PUNCTUATION
                  else c for c in out)
    lo, hi = len(out) - len(out.lstrip()), len(out.rstrip())
    return out[lo:hi], origin[lo:hi]


def shown_span(origin: list[int], start: int, end: int) -> tuple[int, int]:
    """Where the characters of ``text[start:end]`` are in ``prose(text)``, given ``prose_map``'s origins."""
    lo, hi = bisect.bisect_left(origin, start), bisect.bisect_left(origin, end)
    return lo, max(lo, hi)


def _sub(pattern: re.Pattern[str], pieces, text: str, origin: list[int]) -> tuple[str, list[int]]:
    """``pattern.sub`` that also carries each character's origin. ``pieces(match)`` lists what replaces
    the match: a group number (its characters, with their origins) or (literal, the offset it stands for)."""
    out: list[str] = []
    where: list[int] = []
    last = 0
    for m in pattern.finditer(text):
        out.append(text[last:m.start()])
        where.extend(origin[last:m.start()])
        for piece in pieces(m):
            if isinstance(piece, int):
                a, b = m.span(piece)
                if a >= 0:
                    out.append(text[a:b])
                    where.extend(origin[a:b])
            else:
                literal, at = piece
                out.append(literal)
                where.extend([origin[at] if at < len(origin) else (origin[-1] + 1 if origin else 0)] * len(literal))
        last = m.end()
    out.append(text[last:])
    where.extend(origin[last:])
    return "".join(out), where


# A line that only titles what follows: a Markdown heading, or a line in bold ("**I. Security and Defense**").
_HEADING_LINES = re.compile(r"(?:[ \t]{0,3}(?:#{1,6}[ \t][^\n]*|\*\*[^\n]*\*\*[ \t\xa0]*)(?:\n[ \t\xa0]*|$))+")


def heading_lead(sentence: str) -> int:
    """How many characters at the start of ``sentence`` are heading lines (all of it: a heading alone)."""
    match = _HEADING_LINES.match(sentence)
    return match.end() if match else 0
