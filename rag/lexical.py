"""BM25 over chunk texts: English stop words removed, Snowball-stemmed, so "expand" meets "expansion".

Each segment keeps raw postings (per term: the chunk rows holding it and how often; per chunk: its length),
not precomputed scores as bm25s does, because a score depends on statistics of the whole collection
(document frequencies, average length) that change with every segment added or document deleted. A
search scores with statistics summed over every live segment (or shard), so the scores equal those of one
fresh build of the same chunks: bm25s's Lucene variant (k1 1.5, b 0.75), float32 as bm25s computes it.
The numba kernels are cached on disk, so a new process loads them in a fraction of a second.
"""

from __future__ import annotations

import bisect
import io
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numba
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

from .spelling import canonical
from .storage import TermStats

if TYPE_CHECKING:
    from .storage import Store

K1 = 1.5
B = 0.75


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


# The words that only make a question a question, which BM25's short stop-word list keeps: a passage
# need not hold them to hold the answer.
ASKING = frozenset(tokenize(["who whom whose what which when where why how do does did tell me us about "
                             "describe explain please"])[0])


def idf(frequency: int, chunks: int) -> float:
    """BM25's inverse document frequency (Lucene's, as bm25s computes it): highest for terms no chunk has."""
    return math.log(1 + (chunks - frequency + 0.5) / (frequency + 0.5))


def idf_weights(terms: set[str], stats: TermStats) -> dict[str, float]:
    return {t: idf(stats.frequencies.get(t, 0), stats.chunks) for t in terms}


def unknown(store: "Store", words: list[str]) -> list[str]:
    """Those of ``words`` that no chunk contains in any spelling or inflection, nor as the start of a
    longer word ("Armenia" of "Armenian", "America" of "American": see ``_prefix``). A word of several
    tokens ("Black Sea") is known when any of them is."""
    tokens = tokenize(words)
    known = store.term_stats(sorted({t for ts in tokens for t in ts})).frequencies
    return [w for w, terms in zip(words, tokens)
            if terms and not any(known.get(t, 0) or _begins_a_term(store, t) for t in terms)]


def _begins_a_term(store: "Store", term: str) -> bool:
    # A name of 6 letters or more may start a longer word ("kazakh" of "kazakhstan"); from 7 letters, all
    # but its last letter may, since a stem often ends where a derived word goes on ("armenia" and
    # "armenian"). Shorter names would be taken for the start of unrelated words ("Bucha" of "Bucharest"),
    # and a 6-letter name's last letter must match ("Moskva", the cruiser, is not "Moskvy", the radio
    # station's genitive).
    if len(term) < 6:
        return False
    return store.has_term_starting(term if len(term) == 6 else term[:-1])


@dataclass
class Postings:
    """One segment's inverted index over its chunk rows: ``terms`` sorted, and for term ``i`` the rows
    ``rows[indptr[i]:indptr[i+1]]`` (ascending) holding it ``counts`` times; ``lengths`` per row (tokens)."""

    terms: list[str]
    indptr: np.ndarray  # int64
    rows: np.ndarray  # int32
    counts: np.ndarray  # float32, as bm25s computes term frequencies
    lengths: np.ndarray  # int32

    FILES = ("indptr.npy", "rows.npy", "counts.npy", "lengths.npy")

    @classmethod
    def build(cls, tokens: list[list[str]]) -> "Postings":
        terms = sorted({t for row in tokens for t in row})
        vocab = {t: i for i, t in enumerate(terms)}
        term_ids, rows, counts = [], [], []
        for row, words in enumerate(tokens):
            for term, count in Counter(words).items():
                term_ids.append(vocab[term])
                rows.append(row)
                counts.append(count)
        lengths = np.array([len(words) for words in tokens], dtype=np.int32)
        return cls._from_triples(terms, np.array(term_ids, dtype=np.int64), np.array(rows, dtype=np.int64),
                                 np.array(counts, dtype=np.float32), lengths)

    @classmethod
    def merge(cls, parts: Sequence[tuple["Postings", np.ndarray]], size: int) -> "Postings":
        """One index over several, each given with the new row of each of its rows (-1: dropped)."""
        terms = sorted({t for postings, _ in parts for t in postings.terms})
        vocab = {t: i for i, t in enumerate(terms)}
        term_ids, rows, counts = [], [], []
        lengths = np.zeros(size, dtype=np.int32)
        for postings, new_rows in parts:
            local = np.repeat(np.arange(len(postings.terms)), np.diff(postings.indptr))
            moved = new_rows[postings.rows]
            keep = moved >= 0
            remap = np.array([vocab[t] for t in postings.terms], dtype=np.int64)
            term_ids.append(remap[local[keep]])
            rows.append(moved[keep])
            counts.append(np.asarray(postings.counts)[keep])
            kept = new_rows >= 0
            lengths[new_rows[kept]] = postings.lengths[kept]
        if not parts:
            return cls.build([])
        return cls._from_triples(terms, np.concatenate(term_ids), np.concatenate(rows), np.concatenate(counts), lengths)

    @classmethod
    def _from_triples(cls, terms, term_ids, rows, counts, lengths) -> "Postings":
        order = np.lexsort((rows, term_ids))
        indptr = np.zeros(len(terms) + 1, dtype=np.int64)
        np.cumsum(np.bincount(term_ids, minlength=len(terms)), out=indptr[1:])
        return cls(terms, indptr, rows[order].astype(np.int32), counts[order].astype(np.float32), lengths)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "terms.json").write_text(json.dumps(self.terms, ensure_ascii=False))
        for name, array in zip(self.FILES, (self.indptr, self.rows, self.counts, self.lengths)):
            np.save(folder / name, array)

    @classmethod
    def load(cls, read: Callable[[str], bytes]) -> "Postings":
        """Postings from their files' bytes, ``read`` giving a file's bytes by name (a segment checks them)."""
        terms = json.loads(read("terms.json"))
        arrays = [np.load(io.BytesIO(read(name))) for name in cls.FILES]
        return cls(terms, *arrays)

    @property
    def size(self) -> int:
        return len(self.lengths)

    @cached_property
    def vocab(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.terms)}

    def frequencies(self, terms: Sequence[str], live: np.ndarray | None) -> dict[str, int]:
        """How many live rows (all where ``live`` is None) hold each of ``terms`` that this segment has."""
        found = {}
        for term in terms:
            i = self.vocab.get(term)
            if i is None:
                continue
            lo, hi = int(self.indptr[i]), int(self.indptr[i + 1])
            found[term] = hi - lo if live is None else _live_count(self.rows, lo, hi, live)
        return found

    def has_term_starting(self, prefix: str, live: np.ndarray | None) -> bool:
        i = bisect.bisect_left(self.terms, prefix)
        while i < len(self.terms) and self.terms[i].startswith(prefix):
            if live is None or _live_count(self.rows, int(self.indptr[i]), int(self.indptr[i + 1]), live):
                return True
            i += 1
        return False

    def search(self, terms: Sequence[str], k: int, stats: TermStats,
               allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Rows and BM25 scores of the best ``k`` rows with a positive score (within ``allowed`` if given),
        best first, equal scores by row; scored with the collection's ``stats``."""
        present = [t for t in terms if t in self.vocab]
        if not present or not self.size or not stats.chunks:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        token_ids = np.array([self.vocab[t] for t in present], dtype=np.int64)
        weights = np.array([idf(stats.frequencies.get(t, 0), stats.chunks) for t in present], dtype=np.float32)
        rows, values = _best_rows(self.indptr, self.rows, self.counts, self.lengths, token_ids, weights,
                                  stats.length / stats.chunks, _NO_MASK if allowed is None else allowed,
                                  min(k, self.size))
        order = np.lexsort((rows, -values))  # best first; equal scores by row
        return rows[order], values[order]


_NO_MASK = np.zeros(0, dtype=bool)


@numba.njit(nogil=True, cache=True)
def _live_count(rows, lo, hi, live):
    found = 0
    for j in range(lo, hi):
        if live[rows[j]]:
            found += 1
    return found


@numba.njit(nogil=True, cache=True)
def _best_rows(indptr, rows_of, counts, lengths, token_ids, weights, average_length, allowed, k):
    """Rows and scores of the ``k`` best positive BM25 scores among ``allowed`` rows (all when it is empty).

    A row's score adds, for each query token (repeats count again) in token order, the token's IDF times
    its term-frequency part, in float32 as bm25s computes them. The heap's root is the worst kept row:
    lowest score, then highest row.
    """
    num_docs = len(lengths)
    scores = np.zeros(num_docs, dtype=np.float32)
    for t in range(len(token_ids)):
        token = token_ids[t]
        weight = weights[t]
        for j in range(indptr[token], indptr[token + 1]):
            row = rows_of[j]
            norm = np.float32(K1 * ((1 - B) + B * lengths[row] / average_length))
            scores[row] += weight * (counts[j] / (norm + counts[j]))
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
