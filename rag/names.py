"""The names a question uses: runs of capitalised words, other than the first word of a sentence.

A question about something the sources never name ("the sinking of the cruiser Moskva", asked of sources
that end before it) is one they cannot answer, however close some passage looks. A name of several words
stays whole ("Black Sea", "Keir Giles"): its words are only its parts, and "Black" alone is not what was asked.
"""

from __future__ import annotations

import re

_WORD = r"[A-Z][\w'’\-]*\w"  # capitalised, two characters or more; acronyms too ("HIMARS")
# Not at the start of the question or of a sentence in it; the words of a run are one space apart.
_NAME = re.compile(rf"(?<![.?!:]\s)(?<!^)(?<![.?!:]\s\s)\b{_WORD}(?: {_WORD})*")


def names(question: str) -> list[str]:
    """The names in ``question``, in order, each once: ``names("Did Keir Giles visit the Black Sea?")``
    is ``["Keir Giles", "Black Sea"]``."""
    return list(dict.fromkeys(m.group(0) for m in _NAME.finditer(question.strip())))
