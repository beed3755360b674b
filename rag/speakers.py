"""Who is speaking: turns in transcripts, read from the labels the text itself gives, never guessed.

Kremlin transcripts introduce each turn inline ("... colleagues. Vladimir Putin: Thank you."), White House
transcripts on their own line ("MS. PSAKI: Hi, everyone."). A reporter's turn ("Q  Thank you" or
"Question:") ends the previous speaker's turn without naming anyone.
"""

from __future__ import annotations

import bisect
import re

from .sentences import sentence_spans

_CONNECTOR = r"(?:of|the|and|for|on|to)"
_WORD = r"[A-Z][\w'’.\-–]*"
# Title case: titles and connectors, ending in a two-word name ("President of Russia Vladimir Putin:").
_NAMED = re.compile(
    rf"((?:(?:{_WORD}|{_CONNECTOR})[ \u00a0]+){{0,12}}([A-Z][\w'’\-]+[ \u00a0]+[A-Z][\w'’\-]+)):\s"
)
# Upper case ("MS. PSAKI:", "SENIOR ADMINISTRATION OFFICIAL:", "THE PRESIDENT:").
_CAPITALS = re.compile(r"((?:[A-Z][A-Z.'’\-]*[ \u00a0]+){0,4}[A-Z][A-Z'’\-]+):\s")
# Kremlin texts mark where the transcript starts with "* * *", often run together with a heading that lost
# its line break ("* * * Speech at the meeting of the Board President of Russia Vladimir Putin: Colleagues").
_SEPARATOR = re.compile(r"(?:\*[ \u00a0]*){3}")
_UNNAMED = re.compile(r"(?:Q[ \u00a0]|Question:|QUESTION:|Q:)")
# Any other label-like start ("Foreign Minister Sergei Lavrov Lavrov SergeiForeign Minister of Russia:",
# a scraper's leftover) still ends the previous turn: its words must not be credited to the last speaker.
_OTHER_LABEL = re.compile(rf"(?:(?:{_WORD}|{_CONNECTOR})[ \u00a0]+){{1,14}}{_WORD}[ \u00a0]?:\s")


def speaker_turns(text: str) -> list[tuple[int, str]]:
    """(offset, speaker) where each turn starts; speaker is "" for an unnamed turn (a reporter's question)."""
    turns: list[tuple[int, str]] = []
    for start, end in sentence_spans(text):
        separator = _SEPARATOR.search(text, start, end)
        parts = [(start, separator.start(), False), (separator.end(), end, True)] if separator else [(start, end, False)]
        for part_start, part_end, after_separator in parts:
            while part_start < part_end and text[part_start].isspace():
                part_start += 1
            speaker = _speaker_label(text, part_start, part_end, after_separator)
            if speaker is not None:
                turns.append((part_start, speaker))
    return turns


def speaker_at(turns: list[tuple[int, str]], offset: int) -> str:
    """The speaker of the turn that ``offset`` falls in ("" before the first label or in unnamed turns)."""
    i = bisect.bisect_right(turns, (offset, "\uffff")) - 1
    return turns[i][1] if i >= 0 else ""


def _speaker_label(text: str, start: int, end: int, after_separator: bool = False) -> str | None:
    # The label must lie inside the sentence, not run on from the one before. Right after the transcript
    # separator it may follow a heading that lost its line break; it is still a label naming the speaker.
    if after_separator:
        named = _NAMED.search(text, start, end)
        if named and not named.group(1).isupper():
            return named.group(2).replace("\u00a0", " ")
    if _UNNAMED.match(text, start, end):
        return ""
    named = _NAMED.match(text, start, end)
    if named and not named.group(1).isupper():
        return named.group(2).replace("\u00a0", " ")
    capitals = _CAPITALS.match(text, start, end)
    if capitals and len(capitals.group(1)) > 2:
        return " ".join("-".join(p.capitalize() for p in word.split("-")) for word in capitals.group(1).split())
    return "" if _OTHER_LABEL.match(text, start, end) else None


# The person a question asks to hear from: the subject of a verb of saying ("did Putin tell", "does Foreign
# Minister Lavrov describe") or the owner of the words ("Zelensky's address").
_SAYING = ("say|said|tell|told|describe|call|characteri[sz]e|warn|complain|claim|promise|offer|propose|announce|"
           "admit|insist|argue|explain|stress|note|suggest|accuse|blame|answer|reply|respond|compare|predict|give|"
           "use|mean|think|view|see|sum|put|list|rule|demand|ask|raise|express|thank|urge|vow|pledge|report|reveal")
_HONORIFIC = r"(?:(?:President|Prime|Foreign|Defence|Defense|Minister|Secretary|Chancellor|Mr\.?|Ms\.?|Mrs\.?)\s+)*"
_ASKED = re.compile(rf"\b(?:did|does|do|has|had|will|would)\s+{_HONORIFIC}((?:[A-Z][\w'’\-]+\s+)?[A-Z][\w'’\-]+)"
                    rf"\s+(?:{_SAYING})\b")
_OWNED = re.compile(r"\b([A-Z][\w'’\-]+)['’]s\s+(?:address|speech|remarks|statement|message|interview|words|answer|"
                    r"reply|letter|call|article|op-ed)\b")


def asked_speaker(question: str) -> str:
    """The surname of the person whose own words the question asks for, or "" when it asks for no one's."""
    found = _ASKED.search(question) or _OWNED.search(question)
    return found.group(1).split()[-1] if found else ""


def names_speaker(surname: str, text: str) -> bool:
    """Whether the speaker label ``text`` names ``surname``, spelt either way ("Zelensky" and "Zelenskyy"
    are one name; a name shorter than 4 letters must match whole)."""
    wanted = surname.casefold()
    for word in re.findall(r"[\w'’\-]+", text.casefold()):
        if word == wanted or (min(len(word), len(wanted)) >= 4 and (word.startswith(wanted) or wanted.startswith(word))):
            return True
    return False
