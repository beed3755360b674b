"""BM25 over chunk texts with bm25s: English stop words removed, Snowball-stemmed, so "expand" meets "expansion".

bm25s builds, saves and loads the index; a question is scored by ``_best_rows`` below, a numba kernel over
bm25s's precomputed scores. bm25s's numpy backend picks the best rows with an argpartition over every
score (13 ms a question at 1M chunks, against 1.7 ms here), and its numba backend compiles for about 10 s
in every new process (its functions are not cached on disk; this one is, so a process loads it in a
fraction of a second). Equal scores rank by row, where bm25s left them in whatever order its selection did.
"""

from __future__ import annotations

import bisect
import re
from functools import cached_property, lru_cache
from pathlib import Path

import bm25s
import numba
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

from .spelling import canonical


class _Stemmer:
    """Snowball English, after folding spelling variants of names (Kiev -> kyiv) to one form."""

    def __init__(self) -> None:
        snowball = Stemmer.Stemmer("english")
        # Answers tokenize the sentences they show, words seen many times before: folding and stemming
        # them again was most of the tokenizing. Bounded, as questions can bring any number of new words.
        self._stem = lru_cache(maxsize=1 << 16)(lambda word: snowball.stemWord(canonical(word)))

    def stemWords(self, words: list[str]) -> list[str]:  # noqa: N802 (the name bm25s calls)
        return [self._stem(w) for w in words]


@lru_cache(maxsize=1)
def _stemmer() -> _Stemmer:
    return _Stemmer()


_WORDS = re.compile(r"(?u)\b\w\w+\b").findall  # scikit-learn's pattern, as bm25s uses
_STOPWORDS = frozenset(STOPWORDS_EN)


def tokenize(texts: list[str]) -> list[list[str]]:
    """The tokens ``bm25s.tokenize(texts, stopwords="en", stemmer=...)`` gives: lowercased words of two or
    more characters, English stop words out, stemmed. Written out because bm25s's own spends more on set-up
    (a progress bar and the stop-word set, per call and per text) than on short texts, and an answer
    tokenizes its question and every sentence it shows."""
    split = [[w for w in _WORDS(text.lower()) if w not in _STOPWORDS] for text in texts]
    unique = list(dict.fromkeys(w for words in split for w in words))
    stems = dict(zip(unique, _stemmer().stemWords(unique)))
    return [[stems[w] for w in words] for words in split]


class LexicalIndex:
    """A bm25s index whose document ids are the chunk rows of the dense index."""

    def __init__(self, retriever: bm25s.BM25 | None, size: int) -> None:
        self._retriever = retriever
        self.size = size

    @classmethod
    def build(cls, texts: list[str]) -> "LexicalIndex":
        tokens = tokenize(texts)
        if not any(tokens):  # bm25s cannot index an empty vocabulary (texts of only stop words or symbols)
            return cls(None, len(texts))
        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False)
        return cls(retriever, len(texts))

    def save(self, folder: Path) -> None:
        if self._retriever is not None:
            self._retriever.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path, size: int) -> "LexicalIndex":
        if not (folder / "params.index.json").exists():  # nothing was indexable
            return cls(None, size)
        index = cls(bm25s.BM25.load(str(folder), mmap=True, show_progress=False), size)
        index._score([0], None, 1)  # compiles the kernel, or loads it from numba's cache, before any question
        return index

    def idf(self, terms: set[str]) -> dict[str, float]:
        """BM25's inverse document frequency of each term over the chunks (highest for terms none has)."""
        vocab = self._retriever.vocab_dict if self._retriever is not None else {}
        indptr = self._retriever.scores["indptr"] if self._retriever is not None else None
        weights = {}
        for term in terms:
            found = int(indptr[vocab[term] + 1] - indptr[vocab[term]]) if term in vocab else 0
            weights[term] = float(np.log(1 + (self.size - found + 0.5) / (found + 0.5)))
        return weights

    def unknown(self, words: list[str]) -> list[str]:
        """Those of ``words`` that no chunk contains in any spelling or inflection, nor as the start of a
        longer word ("Armenia" of "Armenian", "America" of "American": see ``_begins_a_term``)."""
        vocab = self._retriever.vocab_dict if self._retriever is not None else {}
        return [w for w, terms in zip(words, tokenize(words))
                if terms and not any(t in vocab or self._begins_a_term(t) for t in terms)]

    def _begins_a_term(self, term: str) -> bool:
        # A name of 6 letters or more may start a longer word ("kazakh" of "kazakhstan"); from 7 letters, all
        # but its last letter may, since a stem often ends where a derived word goes on ("armenia" and
        # "armenian"). Shorter names would be taken for the start of unrelated words ("Bucha" of "Bucharest"),
        # and a 6-letter name's last letter must match ("Moskva", the cruiser, is not "Moskvy", the radio
        # station's genitive). The sorted vocabulary is made on the first such question, not at start-up.
        if len(term) < 6:
            return False
        prefix = term if len(term) == 6 else term[:-1]
        terms = self._sorted_terms
        i = bisect.bisect_left(terms, prefix)
        return i < len(terms) and terms[i].startswith(prefix)

    @cached_property
    def _sorted_terms(self) -> list[str]:
        return sorted(self._retriever.vocab_dict) if self._retriever is not None else []

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Rows and BM25 scores of the best ``k`` chunks with a positive score (within ``mask`` if given),
        best first; equal scores by row."""
        empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        if self._retriever is None:
            return empty
        vocab = self._retriever.vocab_dict
        terms = [t for t in tokenize([query])[0] if t in vocab]
        if not terms:
            return empty
        return self._score([vocab[t] for t in terms], mask, min(k, self.size))

    def _score(self, token_ids: list[int], mask: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = self._retriever.scores
        allowed = _NO_MASK if mask is None else mask
        rows, values = _best_rows(scores["data"], scores["indices"], scores["indptr"], scores["num_docs"],
                                  np.asarray(token_ids, dtype=np.int64), allowed, k)
        order = np.lexsort((rows, -values))  # best first; equal scores by row
        return rows[order], values[order]


_NO_MASK = np.zeros(0, dtype=bool)


@numba.njit(nogil=True, cache=True)
def _best_rows(data, indices, indptr, num_docs, token_ids, allowed, k):
    """Rows and scores of the ``k`` best positive BM25 scores among ``allowed`` rows (all when it is empty).

    A row's score adds its precomputed weight for each query token (repeats count again), in float32 and
    in token order, as bm25s does. The heap's root is the worst kept row: lowest score, then highest row.
    """
    scores = np.zeros(num_docs, dtype=np.float32)
    for token in token_ids:
        for j in range(indptr[token], indptr[token + 1]):
            scores[indices[j]] += data[j]
    rows = np.empty(k, dtype=np.int64)
    values = np.empty(k, dtype=np.float32)
    kept = 0
    # Rows come in order, so a later row with the root's score is worse than the root. Once the heap is
    # full, almost every row falls below the root: one predictable branch (testing positive scores and the
    # mask first costs a mispredicted branch per row, 4x the time of the whole scan at 1M rows).
    floor = np.float32(0)
    for row in range(num_docs):
        value = scores[row]
        if value <= floor or (len(allowed) and not allowed[row]):
            continue
        if kept < k:  # sift the new row up from the last leaf (on equal scores it is the worse: a later row)
            i = kept
            kept += 1
            while i > 0:
                parent = (i - 1) // 2
                if values[parent] < value:
                    break
                rows[i], values[i] = rows[parent], values[parent]
                i = parent
        else:  # sift it down from the root, which it replaces
            i = 0
            while True:
                child = 2 * i + 1
                if child >= kept:
                    break
                if child + 1 < kept and (values[child + 1] < values[child]
                                         or (values[child + 1] == values[child] and rows[child + 1] > rows[child])):
                    child += 1
                if value < values[child] or (value == values[child] and row > rows[child]):
                    break
                rows[i], values[i] = rows[child], values[child]
                i = child
        rows[i], values[i] = row, value
        if kept == k:
            floor = values[0]
    return rows[:kept], values[:kept]
