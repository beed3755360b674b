"""Which sentence of a passage answers the question: a linear score over what each sentence shows at query
time, the highest shown to the reader (``Passage.sentence``).

The hand rule it replaces scored cosine to the question, plus 0.3 x the share of the question's IDF weight
among the sentence's words, plus 0.05 for holding the kind of thing asked for (rag.answers), minus 0.2 for a
sentence that says little. In a transcript that picks the reporter's question as often as the answer: the
question restates the topic in the asker's words. The shipped weights (rag/weights/sentence_picker.json,
``RAG_SENTENCE_PICKER=default``) add what a reader uses to tell them apart (a sentence that asks, one that
follows a question, its place and length) and are learned from the analyst questions written for training
(`python -m evals.tune --sentences`, evals/sentence_picker.py); ``rule`` keeps the hand rule.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import RagError

FEATURES = (
    "cosine",  # to the question's searched vector (after the query adapter)
    "cosine_own",  # to the question's own vector
    "shared",  # share of the question's IDF weight among the sentence's words
    "says_little",  # under 4 content words, or only says who said something
    "expected",  # holds the kind of thing the question asks for
    "asks",  # ends with a question mark: in a transcript, the reporter's question
    "after_asking",  # the sentence before it (in the passage) asks
    "unnamed_turn",  # in a transcript, said in a turn no label names (a reporter's) or before the first label
    "position",  # place in the passage, 0 (first) to 1 (last)
    "log_words",
    "neighbour_cosine",  # the better of the sentences either side: answers run over several sentences
)
RULE = {"cosine": 1.0, "shared": 0.3, "says_little": -0.2, "expected": 0.05}
SHIPPED = Path(__file__).resolve().parent / "weights" / "sentence_picker.json"
_ASKS = re.compile(r"\?[\"'”’)\]]*$")


@dataclass(frozen=True)
class SentencePicker:
    weights: np.ndarray  # one per FEATURES

    def scores(self, features: np.ndarray) -> np.ndarray:
        return features @ self.weights

    @classmethod
    def of(cls, weights: dict[str, float]) -> "SentencePicker":
        unknown = weights.keys() - set(FEATURES)
        if unknown:
            raise RagError(f"sentence picker: unknown features {sorted(unknown)}; known: {', '.join(FEATURES)}")
        return cls(np.array([weights.get(name, 0.0) for name in FEATURES], dtype=np.float32))

    def as_dict(self) -> dict[str, float]:
        return {name: round(float(w), 6) for name, w in zip(FEATURES, self.weights)}


def sentence_features(texts: list[str], words: list[list[str]], speakers: list[str], cosine: np.ndarray,
                      cosine_own: np.ndarray, shared: np.ndarray, says_little: np.ndarray,
                      expected: np.ndarray) -> np.ndarray:
    """The (sentences, FEATURES) matrix of one passage's sentences, in passage order; ``speakers`` holds who
    says each ("" where no label names anyone, rag.speakers)."""
    n = len(texts)
    unnamed = np.array([any(speakers) and not speaker for speaker in speakers], dtype=np.float32)
    asks = np.array([bool(_ASKS.search(t.rstrip())) for t in texts], dtype=np.float32)
    after = np.concatenate([[0.0], asks[:-1]]) if n else asks
    position = np.arange(n, dtype=np.float32) / max(n - 1, 1)
    log_words = np.log1p([len(w) for w in words]).astype(np.float32)
    padded = np.concatenate([[-1.0], cosine, [-1.0]])
    neighbour = np.maximum(padded[:-2], padded[2:]) if n else cosine
    columns = [cosine, cosine_own, shared, says_little, expected, asks, after, unnamed, position, log_words,
               neighbour]
    return np.stack([np.asarray(c, dtype=np.float32) for c in columns], axis=1).reshape(n, len(FEATURES))


@lru_cache(maxsize=4)
def load_sentence_picker(name: str) -> SentencePicker:
    """``default`` (the shipped weights), ``rule`` (the hand rule) or a .json file of ``{"weights": {...}}``."""
    if name == "rule":
        return SentencePicker.of(RULE)
    path = SHIPPED if name == "default" else Path(name)
    try:
        weights = json.loads(path.read_text())["weights"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RagError(f"{path}: not a sentence picker's weights ({exc}); set RAG_SENTENCE_PICKER=rule to go "
                       "without") from None
    return SentencePicker.of(weights)
