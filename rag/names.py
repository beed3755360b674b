"""The names a question uses: capitalised words other than the first of a sentence.

A question about something the sources never name ("the sinking of the cruiser Moskva", asked of sources
that end before it) is one they cannot answer, however close some passage looks.
"""

from __future__ import annotations

import re

# A capitalised word not at the start of the question or of a sentence in it; acronyms too ("HIMARS").
_NAME = re.compile(r"(?<![.?!:]\s)(?<!^)(?<![.?!:]\s\s)\b[A-Z][\w'’\-]*[\w]")


def names(question: str) -> list[str]:
    return list(dict.fromkeys(m.group(0) for m in _NAME.finditer(question.strip())))
