"""Follow-up questions: what to search for "and what about Kazakhstan?" given the questions asked before it.

No language model is available, so this is a small set of deterministic rules over the user's own turns
(the assistant's turns are retrieved passages, not topics the user chose):

- A question is a follow-up when it is short and leans on the one before it: it opens with a cue
  ("and ...", "what about ...", "how about ..."), points back ("why did *he* say *that*?"), has no
  content words of its own ("why?"), or is a bare phrase without a question word ("Kazakhstan?").
- A follow-up that names something new ("what about Kazakhstan?") takes the place of the name that ends the
  previous question ("Why did Russia send troops to Ukraine?" -> "Why did Russia send troops to Kazakhstan?"),
  or of what its preposition governs ("... object to NATO expansion?" -> "... object to Kazakhstan?").
  A follow-up that names nothing is joined on ("Why does Russia object to NATO expansion and the
  sanctions?"): searching both loses less than a wrong guess at what to replace.
- A follow-up that points back is searched together with the previous question, which carries the topic.

Each user turn is resolved against the resolved turn before it, so chains of follow-ups keep their topic.

>>> resolve_question("and what about Kazakhstan?", [Turn("user", "Why did Russia send troops to Ukraine?")])
'Why did Russia send troops to Kazakhstan?'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Sequence

from .retrieve import MAX_QUESTION_CHARS

MAX_FOLLOW_UP_WORDS = 8  # longer questions carry their own topic, even when they open with "and"
MAX_FRAGMENT_WORDS = 4  # "Sanctions on Belarus?" is a fragment; "Russia sent troops to Mali in 2021" is not

_WORD = re.compile(r"\w+(?:['’]\w+)*")
# A name: a run of capitalised words ("Vladimir Putin", "NATO", "Nord Stream 2").
_NAME = re.compile(r"\b[A-ZÀ-ÞА-ЯЁІЇЄҐ][\w'’-]*(?:\s+(?:[A-ZÀ-ÞА-ЯЁІЇЄҐ]|\d)[\w'’-]*)*")
_CUE = re.compile(
    r"^\W*(?:(?:and|but|so|also|ok(?:ay)?)[\s,]+)?(?:(?:what|how)\s+about|what\s+of|same\s+(?:question\s+)?for)\b"
    r"|^\W*(?:and|also|but|or|plus)\b",
    re.IGNORECASE,
)
_LEADING_PREPOSITIONS = re.compile(r"^(?:(?:in|on|for|of|about|with|to|from|at|by|regarding)\s+)+", re.IGNORECASE)
_LEADING_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
_TRAILING_ARTICLE = re.compile(r"\b(?:the|a|an)\s+$", re.IGNORECASE)
_CLAUSE_END = re.compile(r"\s*(?:[?!.,;:]|$)")
# What the question's last preposition governs, to its end: "to [NATO expansion]?", "on [the deployment]".
_OBJECT = re.compile(r"\b(?:to|in|on|for|of|about|with|against|toward|towards|from|over|into)\s+"
                     r"((?:(?:the|a|an)\s+)?[\w'’-]+(?:\s+[\w'’-]+){0,3})\s*[?!.]?\s*$", re.IGNORECASE)
_QUESTION_WORDS = frozenset(
    "who whom whose what which when where why how is are was were do does did can could will would should "
    "has have had may might must shall tell show explain describe list give summarise summarize compare".split()
)
_POINTING_BACK = frozenset(
    "he she it they him her them his hers its their theirs this that these those there then such".split()
)
_STOP_WORDS = _QUESTION_WORDS | _POINTING_BACK | frozenset(
    "a an the and or but so also of in on at to for from by with about as into than not no yes "
    "i me my we us our you your be been being say said says happen happened happens else more".split()
)


@dataclass(frozen=True)
class Turn:
    """One message of a conversation, oldest first; only ``"user"`` turns set the topic."""

    role: Literal["user", "assistant"]
    text: str


def resolve_question(question: str, conversation: Sequence[Turn] = ()) -> str:
    """The question to search for: ``question`` itself, or, for a follow-up, merged with the previous question."""
    previous: str | None = None
    for turn in conversation:
        if turn.role == "user" and _WORD.search(turn.text):
            previous = turn.text.strip() if previous is None else _resolve(turn.text, previous)
    return question if previous is None else _resolve(question, previous)


def _resolve(question: str, previous: str) -> str:
    words = _WORD.findall(question)
    if not words or len(words) > MAX_FOLLOW_UP_WORDS:
        return question
    lowered = [w.lower() for w in words]
    content = [w for w in words if w.lower() not in _STOP_WORDS or _is_acronym(w)]  # "US" is not "us"
    points_back = bool(_POINTING_BACK.intersection(lowered)) and (len(content) <= 2 or not _names(question))
    cue = _CUE.match(question)
    if not content or points_back:
        merged = f"{previous} {question.strip()}"
    elif cue or (len(words) <= MAX_FRAGMENT_WORDS and lowered[0] not in _QUESTION_WORDS):
        merged = _substitute(question[cue.end():] if cue else question, previous)
    else:
        return question
    return merged if len(merged) <= MAX_QUESTION_CHARS else question


def _substitute(phrase: str, previous: str) -> str:
    """Put ``phrase``, when it names something, in place of the topic of ``previous``: the last name when
    that ends its clause, else a named phrase a preposition governs up to the end (four words at most);
    else join it on with "and"."""
    phrase = _LEADING_PREPOSITIONS.sub("", phrase.strip(" \t\n?!.,;:")).strip()
    if not phrase:
        return previous
    names = _names(previous)
    if _names(phrase):
        # Only a name that ends its clause is the topic slot: in "object to NATO expansion", NATO is not,
        # and the slot is what the preposition governs ("NATO expansion"). Joining the new name on instead
        # searched the old topic with it, and its passages came first.
        ending = names[-1] if names and _CLAUSE_END.match(previous, names[-1].end()) else None
        governed = _OBJECT.search(previous)
        # A governed phrase is the topic only when it is named ("NATO expansion"); "about sanctions" is
        # what was asked of the topic, so a new name joins it instead.
        if governed and not _NAME.search(governed.group(1)):
            governed = None
        slot = ending.span() if ending else governed.span(1) if governed else None
        if slot is not None:
            before, after = previous[: slot[0]], previous[slot[1]:]
            if _TRAILING_ARTICLE.search(before):  # "did the US" + "the EU": one "the" is enough
                phrase = _LEADING_ARTICLE.sub("", phrase)
            return before + phrase + after
    return f"{previous.rstrip(' ?!.')} and {phrase}?"


def _is_acronym(word: str) -> bool:
    return len(word) > 1 and word.isupper()


def _names(text: str) -> list[re.Match[str]]:
    """The capitalised runs of ``text``, skipping a capitalised opening word such as "Why" or "Did"."""
    opening = _WORD.search(text)
    start = opening.end() if opening and opening.group().lower() in _STOP_WORDS else 0
    return list(_NAME.finditer(text, start))
