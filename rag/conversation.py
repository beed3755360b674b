"""Follow-up questions: what to search for "and what about Kazakhstan?" given the questions asked before it.

No language model is available, so this is a small set of deterministic rules over the user's own turns
(the assistant's turns are retrieved passages, not topics the user chose):

- A question is a follow-up when it is short and leans on the one before it: it opens with a cue
  ("and ...", "what about ...", "how about ..."), points back ("why did *he* say *that*?"), has no
  content words of its own ("why?"), is a bare phrase without a question word ("Kazakhstan?"), or asks a
  few words about nothing the previous question did not name ("how did Putin respond?").
- A follow-up that names something new trades it for its counterpart in the previous question:
  - a date for the previous question's date ("and on March 20?");
  - a phrase led by a preposition the previous question uses, for what that preposition governs there
    ("and at the first round?" -> "... at the first round of talks ...");
  - a name for the previous question's name that the sources mention least: the one the question is
    about, not the protagonist nearly every passage names ("Putin", "Biden"); among names about as
    common, the last ("... send troops to Ukraine?" -> "... to Kazakhstan?"). A name that ends its
    clause takes the words it leads with it ("object to NATO expansion?" -> "object to Georgia?");
  - a phrase sharing a word with the previous question, for the words that lead to that word there
    ("and the military aid?" -> "How much new humanitarian aid ..." -> "How much military aid ...").
  A follow-up with nothing to trade is joined on ("Why did Russia send troops to Ukraine and the
  sanctions?"): searching both loses less than a wrong guess at what to replace.
- A follow-up that points back at a person and names someone new asks it of the previous question's
  first name ("and what did he warn Xi about?" -> "what did Biden warn Xi about?"); one that only points
  back is searched together with the previous question, which carries the topic.

How rarely the sources mention a name comes from the caller (``Engine.name_rarity``); without it, every
name counts as equally common. Each user turn is resolved against the resolved turn before it, so chains
of follow-ups keep their topic.

>>> resolve_question("and what about Kazakhstan?", [Turn("user", "Why did Russia send troops to Ukraine?")])
'Why did Russia send troops to Kazakhstan?'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

from .dates import date_spans
from .retrieve import MAX_QUESTION_CHARS

MAX_FOLLOW_UP_WORDS = 8  # longer questions carry their own topic, even when they open with "and"
MAX_FRAGMENT_WORDS = 4  # "Sanctions on Belarus?" is a fragment; "Russia sent troops to Mali in 2021" is not
MAX_ASIDE_WORDS = 5  # "how did Putin respond?" leans on the question before; "what did Putin say about gas prices?" does not
# Names whose rarity (idf) differs by less than this are about as common: position decides between them.
RARITY_TIE = 1.0

Rarity = Callable[[str], float]  # how rarely the sources mention a name: higher is rarer

_WORD = re.compile(r"\w+(?:['’]\w+)*")
# A name: a run of capitalised words ("Vladimir Putin", "NATO", "Nord Stream 2").
_NAME = re.compile(r"\b[A-ZÀ-ÞА-ЯЁІЇЄҐ][\w'’-]*(?:\s+(?:[A-ZÀ-ÞА-ЯЁІЇЄҐ]|\d)[\w'’-]*)*")
_MODIFIER = re.compile(r"-[a-z]+$")  # "Normandy-format", "Kremlin-backed": describes what follows, is not it
_POSSESSIVE = re.compile(r"['’]s$")
_CUE = re.compile(
    r"^\W*(?:(?:and|but|so|also|ok(?:ay)?)[\s,]+)?(?:(?:what|how)\s+about|what\s+of|same\s+(?:question\s+)?for)\b"
    r"|^\W*(?:and|also|but|or|plus)\b",
    re.IGNORECASE,
)
_PREPOSITIONS = "in|on|for|of|about|with|to|from|at|by|against|toward|towards|over|into|under|during|after|before"
_LEADING_PREPOSITION = re.compile(rf"^({_PREPOSITIONS})\s+(.+)$", re.IGNORECASE | re.DOTALL)
_LEADING_PREPOSITIONS = re.compile(rf"^(?:(?:{_PREPOSITIONS}|regarding)\s+)+", re.IGNORECASE)
# Where what a preposition governs ends: another preposition, a conjunction, or the clause's end.
_GOVERNED_END = re.compile(rf"\s+(?:{_PREPOSITIONS}|and|or|when|while|that|which|who|where|as)\b|\s*[?!.,;:]|\s*$",
                           re.IGNORECASE)
_LEADING_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
_TRAILING_DETERMINER = re.compile(r"\b(?:the|a|an|his|her|its|their|our|this|that)\s+$", re.IGNORECASE)
_SAME_TIME = re.compile(r"\b(?:(?:on\s+)?(?:the\s+)?same\s+day|that\s+day|at\s+the\s+same\s+time|then)\b",
                        re.IGNORECASE)
_DATE_PREPOSITION = re.compile(r"(?:\b(?:on|in|at|during|of|from|since|by|until|for)\s+)?(?:the\s+)?$", re.IGNORECASE)
# A name's trailing lower-case words up to the clause's end are part of it: "to [NATO expansion]?".
_NAME_TAIL = re.compile(r"(?:\s+[a-z][\w'’-]*){1,3}(?=\s*[?!.]?\s*$)")
_PERSONAL = re.compile(r"\b(?:he|she|him|her|they|them)\b", re.IGNORECASE)
_QUESTION_WORDS = frozenset(
    "who whom whose what which when where why how is are was were do does did can could will would should "
    "has have had may might must shall tell show explain describe list give summarise summarize compare".split()
)
_POINTING_BACK = frozenset(
    "he she it they him her them his hers its their theirs this that these those there then such".split()
)
_STOP_WORDS = _QUESTION_WORDS | _POINTING_BACK | frozenset(
    "a an the and or but so also of in on at to for from by with about as into than not no yes much many "
    "i me my we us our you your be been being say said says happen happened happens else more".split()
)


@dataclass(frozen=True)
class Turn:
    """One message of a conversation, oldest first; only ``"user"`` turns set the topic."""

    role: Literal["user", "assistant"]
    text: str


def resolve_question(question: str, conversation: Sequence[Turn] = (), rarity: Rarity | None = None) -> str:
    """The question to search for: ``question`` itself, or, for a follow-up, merged with the previous question."""
    previous: str | None = None
    for turn in conversation:
        if turn.role == "user" and _WORD.search(turn.text):
            previous = turn.text.strip() if previous is None else _resolve(turn.text, previous, rarity)
    return question if previous is None else _resolve(question, previous, rarity)


def _resolve(question: str, previous: str, rarity: Rarity | None) -> str:
    words = _WORD.findall(question)
    if not words or len(words) > MAX_FOLLOW_UP_WORDS:
        return question
    lowered = [w.lower() for w in words]
    content = [w for w in words if w.lower() not in _STOP_WORDS or _is_acronym(w)]  # "US" is not "us"
    cue = _CUE.match(question)
    rest = question[cue.end():] if cue else question
    asks = next((w.lower() in _QUESTION_WORDS for w in _WORD.findall(rest)), False)
    new_names = [m for m in _names(question) if m.group() not in previous]
    points_back = bool(_POINTING_BACK.intersection(lowered))
    if not content:
        merged = f"{previous} {question.strip()}"
    elif points_back and new_names and _PERSONAL.search(rest) and asks:
        merged = _ask_of(rest.strip(), previous)
    elif points_back or (asks and (cue or (not new_names and len(words) <= MAX_ASIDE_WORDS))):
        merged = f"{previous} {question.strip()}"
    elif cue or (len(words) <= MAX_FRAGMENT_WORDS and not asks):
        merged = _substitute(rest, previous, rarity)
    else:
        return question
    return merged if len(merged) <= MAX_QUESTION_CHARS else question


def _ask_of(question: str, previous: str) -> str:
    """``question`` with its first personal pronoun replaced by the previous question's first name."""
    first = next((m for m in _names(previous) if not _in_dates(m.span(), previous)), None)
    return _PERSONAL.sub(first.group(), question, count=1) if first else f"{previous} {question}"


def _substitute(phrase: str, previous: str, rarity: Rarity | None) -> str:
    """Trade what ``phrase`` names for its counterpart in ``previous`` (the module's docstring says how);
    else join it on with "and"."""
    phrase = _SAME_TIME.sub(" ", phrase.strip(" \t\n?!.,;:")).strip(" \t\n?!.,;:")
    swapped, phrase = _swap_dates(phrase, previous)
    dated = swapped != previous
    previous = swapped
    phrase = phrase.strip(" \t\n?!.,;:")
    known = {w.lower() for w in _WORD.findall(previous)}
    novel = [w for w in _WORD.findall(phrase) if w.lower() not in _STOP_WORDS | known or _is_acronym(w)]
    if not novel:  # nothing but a date, or words the previous question has: it is the same topic
        return previous
    governed = _LEADING_PREPOSITION.match(phrase)
    if governed:
        slot = _governed_slot(governed.group(1), previous)
        if slot is not None:
            return _put(previous, slot, governed.group(2))
    phrase = _LEADING_PREPOSITIONS.sub("", phrase).strip()
    names = _names(phrase)
    if names:
        slot = _name_slot(previous, rarity)
        if slot is not None:
            taken = previous[slot[0]:slot[1]]
            named = phrase[names[0].start():names[-1].end()]
            return _put(previous, slot, named + ("'s" if _POSSESSIVE.search(taken) and not _POSSESSIVE.search(named) else ""))
    else:
        slot = _shared_word_slot(phrase, previous)
        if slot is not None:
            return _put(previous, slot, _LEADING_ARTICLE.sub("", phrase))
        if dated:  # "and in the March 7 call?": the new date was the point, its frame is not a new topic
            return previous
    return f"{previous.rstrip(' ?!.')} and {phrase}?"


def _swap_dates(phrase: str, previous: str) -> tuple[str, str]:
    """The previous question with the phrase's date in place of its own (or added), and the phrase without it."""
    spans = date_spans(phrase)
    if not spans:
        return previous, phrase
    dates = " and ".join(phrase[lo:hi] for lo, hi in spans)
    old = date_spans(previous)
    if old:
        previous = previous[: old[0][0]] + dates + previous[old[0][1]:]
    else:
        lead = _DATE_PREPOSITION.search(phrase[: spans[0][0]]).group().strip() or "on"
        previous = f"{previous.rstrip(' ?!.')} {lead} {dates}?"
    for lo, hi in reversed(spans):  # the date and the preposition that leads to it
        lo = _DATE_PREPOSITION.search(phrase[:lo]).start()
        phrase = phrase[:lo] + " " + phrase[hi:]
    return previous, " ".join(phrase.split())


def _governed_slot(preposition: str, previous: str) -> tuple[int, int] | None:
    """What the last ``preposition`` of ``previous`` governs, unless that is a date."""
    for match in reversed(list(re.finditer(rf"\b{re.escape(preposition)}\s+", previous, re.IGNORECASE))):
        start = match.end()
        end = _GOVERNED_END.search(previous, start + 1).start() if start < len(previous) else start
        if end > start and not _in_dates((start, end), previous):
            return start, end
    return None


def _name_slot(previous: str, rarity: Rarity | None) -> tuple[int, int] | None:
    """The span of the name ``previous`` is about: the rarest, the last among names about as rare."""
    names = [m for m in _names(previous) if not _in_dates(m.span(), previous) and not _MODIFIER.search(m.group())]
    if not names:
        return None
    scores = [rarity(m.group()) if rarity else 0.0 for m in names]
    best = max(scores)
    chosen = [m for m, score in zip(names, scores) if score >= best - RARITY_TIE][-1]
    tail = _NAME_TAIL.match(previous, chosen.end())
    if tail and not _STOP_WORDS.intersection(tail.group().lower().split()):
        return chosen.start(), tail.end()
    return chosen.span()


def _shared_word_slot(phrase: str, previous: str) -> tuple[int, int] | None:
    """The words of ``previous`` that lead up to a content word the phrase shares with it ("new
    humanitarian aid" for "the military aid")."""
    shared = [w.lower() for w in _WORD.findall(phrase) if w.lower() not in _STOP_WORDS]
    for match in _WORD.finditer(previous):
        if match.group().lower() not in shared:
            continue
        start = match.start()
        for before in reversed(list(_WORD.finditer(previous, 0, match.start()))):
            if before.group().lower() in _STOP_WORDS or previous[before.end():start].strip(" -"):
                break
            start = before.start()
        return start, match.end()
    return None


def _put(previous: str, slot: tuple[int, int], text: str) -> str:
    before, after = previous[: slot[0]], previous[slot[1]:]
    if _TRAILING_DETERMINER.search(before):  # "did the US" + "the EU": one "the" is enough
        text = _LEADING_ARTICLE.sub("", text)
    return before + text + after


def _in_dates(span: tuple[int, int], text: str) -> bool:
    return any(lo < span[1] and span[0] < hi for lo, hi in date_spans(text))


def _is_acronym(word: str) -> bool:
    return len(word) > 1 and word.isupper()


def _names(text: str) -> list[re.Match[str]]:
    """The capitalised runs of ``text``, skipping a capitalised opening word such as "Why" or "Did"."""
    opening = _WORD.search(text)
    start = opening.end() if opening and opening.group().lower() in _STOP_WORDS else 0
    return list(_NAME.finditer(text, start))
