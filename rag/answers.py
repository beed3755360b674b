"""What kind of answer a question expects, read from its wording: a time ("When..."), a number ("How
many..."), a person ("Who...", "Which diplomat..."). A sentence holding that kind of thing is more
likely the one that answers than a sentence that only shares the topic.

Also the sentences that only say who said something ("This was stated by President ..."): they share
the question's names and answer nothing.
"""

from __future__ import annotations

import calendar
import re

# Capitalised, so the verb "may" is not read as a month.
_MONTH = r"(?-i:\b(?:" + "|".join(calendar.month_name[1:]) + r")\b)"

_NUMBER_WORDS = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
                 "hundred|hundreds|thousand|thousands|million|millions|billion|billions|dozen|dozens|once|twice")
_EXPECTED = [
    (re.compile(r"^\s*(?:when|by when|since when|until when)\b|\bwhat (?:date|day|month|year|time)\b|\bhow long\b",
                re.IGNORECASE),
     re.compile(rf"{_MONTH}|\b(?:19|20)\d\d\b|\b(?:yesterday|today|tomorrow|tonight|ago|until|since|week|weeks|"
                r"month|months|year|years|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
                r"morning|evening|night|soon|later|earlier|now)\b", re.IGNORECASE)),
    (re.compile(r"\bhow (?:many|much|often|far|large|big)\b|\bwhat (?:number|share|percentage|proportion|amount)\b",
                re.IGNORECASE),
     re.compile(rf"\d|\b(?:{_NUMBER_WORDS})\b", re.IGNORECASE)),
    (re.compile(r"^\s*(?:who|whom)\b|\bwhich (?:\w+ )?(?:leader|diplomat|official|minister|president|general|"
                r"negotiator|envoy|ambassador|person|man|woman|politician|commander|head|chief)s?\b", re.IGNORECASE),
     # A name inside the sentence: two capitalised words in a row, not the sentence's first word.
     re.compile(r"(?<=[\w,;:’'\"“] )[A-Z][\w’'\-]+(?: [A-Z][\w’'\-]+)+")),
]
_ATTRIBUTION = re.compile(r"^\W*(?:this|that|it) was (?:\w+ )?(?:stated|said|announced|emphasi[sz]ed|noted|"
                          r"reported|declared|stressed|underlined) by\b", re.IGNORECASE)


def expected_answer(question: str) -> re.Pattern[str] | None:
    """A pattern an answering sentence is likely to match, or None when the question's wording says nothing."""
    return next((answer for asks, answer in _EXPECTED if asks.search(question)), None)


def only_attribution(sentence: str) -> bool:
    return bool(_ATTRIBUTION.search(sentence))
