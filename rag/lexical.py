"""BM25 over chunk texts with bm25s: English stop words removed, Snowball-stemmed, so "expand" meets "expansion"."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

from .spelling import canonical


class _Stemmer:
    """Snowball English, after folding spelling variants of names (Kiev -> kyiv) to one form."""

    def __init__(self) -> None:
        self._snowball = Stemmer.Stemmer("english")

    def stemWords(self, words: list[str]) -> list[str]:  # noqa: N802 (the name bm25s calls)
        return self._snowball.stemWords([canonical(w) for w in words])


@lru_cache(maxsize=1)
def _stemmer() -> _Stemmer:
    return _Stemmer()


def tokenize(texts: list[str]) -> list[list[str]]:
    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False)


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
        return cls(bm25s.BM25.load(str(folder), mmap=True, show_progress=False), size)

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
        """Those of ``words`` that no chunk contains in any spelling or inflection."""
        vocab = self._retriever.vocab_dict if self._retriever is not None else {}
        return [w for w, terms in zip(words, tokenize(words)) if terms and not any(t in vocab for t in terms)]

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Rows and BM25 scores of the best ``k`` chunks with a positive score (within ``mask`` if given)."""
        empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        if self._retriever is None:
            return empty
        vocab = self._retriever.vocab_dict
        terms = [t for t in tokenize([query])[0] if t in vocab]
        if not terms:
            return empty
        weights = None if mask is None else mask.astype(np.float32)
        rows, scores = self._retriever.retrieve(
            [terms], k=min(k, self.size), show_progress=False, weight_mask=weights, n_threads=1
        )
        rows, scores = rows[0].astype(np.int64), scores[0]
        keep = scores > 0
        return rows[keep], scores[keep]
