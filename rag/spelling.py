"""Place and person names that the sources spell differently, so a question in one spelling finds the other.

Moscow writes Kiev, Lugansk, Donbass, Kharkov; Kyiv and Washington write Kyiv, Luhansk, Donbas, Kharkiv.
BM25 folds every spelling to one token; dense retrieval embeds the question in each spelling it could
have been written in. Passage text is never changed.
"""

from __future__ import annotations

import re

# Each group: the spelling used in Kyiv's own texts first, then the others seen in the sources.
VARIANTS: tuple[tuple[str, ...], ...] = (
    ("Kyiv", "Kiev"),
    ("Luhansk", "Lugansk"),
    ("Donbas", "Donbass"),
    ("Kharkiv", "Kharkov"),
    ("Odesa", "Odessa"),
    ("Mykolaiv", "Nikolayev", "Nikolaev"),
    ("Zaporizhzhia", "Zaporizhzhya", "Zaporozhye"),
    ("Chernihiv", "Chernigov"),
    ("Lviv", "Lvov"),
    ("Dnipro", "Dnepr"),
    ("Chornobyl", "Chernobyl"),
    ("Sievierodonetsk", "Severodonetsk"),
    ("Zhytomyr", "Zhitomir"),
    ("Vinnytsia", "Vinnitsa"),
    ("Rivne", "Rovno"),
    ("Zelenskyy", "Zelensky", "Zelenskiy"),
    ("Podolyak", "Podoliak"),
    ("Tokayev", "Tokaev"),
)

_CANONICAL = {spelling.lower(): group[0].lower() for group in VARIANTS for spelling in group}
_GROUP_OF = {spelling.lower(): group for group in VARIANTS for spelling in group}
_PATTERN = re.compile(r"\b(" + "|".join(sorted(_GROUP_OF, key=len, reverse=True)) + r")\b", re.IGNORECASE)


def canonical(word: str) -> str:
    """One spelling for every variant of a name (lower case), for lexical matching."""
    return _CANONICAL.get(word, word)


def spellings(question: str, limit: int = 4) -> list[str]:
    """The question as written, then with each variant name respelled, one group at a time."""
    found = [_GROUP_OF[m.group(1).lower()] for m in _PATTERN.finditer(question)]
    versions = [question]
    for group in dict.fromkeys(found):
        for spelling in group:
            respelled = re.sub(
                r"\b(" + "|".join(group) + r")\b", spelling, question, flags=re.IGNORECASE
            )
            if respelled not in versions:
                versions.append(respelled)
    return versions[:limit]
