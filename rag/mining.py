"""Questions and their answers, mined from the transcripts in the corpus itself: training data for a reranker.

In a White House briefing a reporter's turn starts ``Q`` and the next speaker's turn answers it; Kremlin
transcripts mark the reporter's turn ``Question:``. `rag.speakers` already reads those turns (an unnamed
turn is a reporter's); a question is the unnamed turn's text, its answer the named turn that follows, up
to the next turn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .documents import Document
from .speakers import speaker_turns

MIN_WORDS, MAX_WORDS = 8, 80
_MARKER = re.compile(r"^(?:Q[ \u00a0:]|Question:|QUESTION:)\s*")


@dataclass(frozen=True)
class MinedPair:
    question: str  # the reporter's words, without the turn's marker
    question_start: int  # offsets of the whole reporter turn in the document
    question_end: int
    answer_start: int  # offsets of the answering turn (its speaker label included)
    answer_end: int
    speaker: str  # who answers


def mine_pairs(doc: Document) -> list[MinedPair]:
    """Every reporter question of 8-80 words in ``doc`` with the turn that answers it, in text order."""
    turns = speaker_turns(doc.text)
    pairs = []
    ends = [start for start, _ in turns[1:]] + [len(doc.text)]
    for i, ((start, speaker), end) in enumerate(zip(turns, ends)):
        if speaker or i + 1 >= len(turns) or not turns[i + 1][1]:
            continue
        question = " ".join(_MARKER.sub("", doc.text[start:end].strip()).split())
        if MIN_WORDS <= len(question.split()) <= MAX_WORDS:
            answer_start, answerer = turns[i + 1]
            pairs.append(MinedPair(question, start, end, answer_start, ends[i + 1], answerer))
    return pairs


def without_questions(doc: Document, pairs: list[MinedPair]) -> Document:
    """``doc`` with the reporters' questions blanked out (spaces, so every offset stays): retrieval for a mined
    question must find its answer as it would an analyst's, not the question's own words."""
    text = list(doc.text)
    for pair in pairs:
        text[pair.question_start : pair.question_end] = " " * (pair.question_end - pair.question_start)
    return Document(text="".join(text), title=doc.title, source=doc.source, url=doc.url, published=doc.published,
                    author=doc.author, language=doc.language, path=doc.path, extra=doc.extra)
