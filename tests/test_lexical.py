"""BM25 search: the scoring kernel against bm25s's own scores, ties, masks, and a saved and mapped index."""

import numpy as np
import pytest

from rag.lexical import LexicalIndex, tokenize

TEXTS = [
    "Russia objects to NATO expansion toward its borders.",
    "The talks in Geneva reached no agreement on NATO.",
    "Russia objects to NATO expansion toward its borders.",  # a copy: the same score as row 0
    "Grain exports from Odesa resumed under the deal.",
    "NATO allies met in Brussels; Russia was not invited.",
    "Sanctions on Russian banks were widened in March.",
    "Troops were sent to Kazakhstan and to the Moskvy radio station.",
] * 5


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bm25")
    LexicalIndex.build(TEXTS).save(folder)
    return LexicalIndex.load(folder, len(TEXTS))


def expected(index, query, k, mask=None):
    """The best k rows by bm25s's own scores (highest first, equal scores by row), positive ones only."""
    retriever = index._retriever
    terms = [t for t in tokenize([query])[0] if t in retriever.vocab_dict]
    scores = retriever.get_scores(terms, None if mask is None else mask.astype(np.float32))
    rows = np.flatnonzero(scores > 0)
    best = rows[np.lexsort((rows, -scores[rows]))][:k]
    return best, scores[best]


@pytest.mark.parametrize("query", ["Russia NATO expansion", "NATO", "grain exports Odesa", "Russia Russia banks"])
@pytest.mark.parametrize("k", [1, 4, 100])
def test_search_ranks_as_bm25s_scores_with_ties_in_row_order(index, query, k):
    rows, scores = index.search(query, k)
    want_rows, want_scores = expected(index, query, min(k, index.size))
    assert rows.dtype == np.int64 and rows.tolist() == want_rows.tolist()
    assert np.array_equal(scores, want_scores)  # the same float32 sums, not just close


def test_a_mask_keeps_results_inside_it(index):
    mask = np.zeros(index.size, dtype=bool)
    mask[[2, 4, 9, 20, 29]] = True
    rows, scores = index.search("Russia NATO", 10, mask)
    want_rows, want_scores = expected(index, "Russia NATO", 10, mask)
    assert rows.tolist() == want_rows.tolist() and np.array_equal(scores, want_scores)
    assert mask[rows].all()


def test_words_no_chunk_has_find_nothing(index):
    rows, scores = index.search("zeppelin", 10)
    assert len(rows) == len(scores) == 0


def test_a_name_is_known_in_any_spelling_inflection_or_longer_word(index):
    # "Odessa" is Odesa spelt the other way; "Brussels's" an inflection; "Russians" starts "russian" (stemmed);
    # "Genevan" (7 letters) begins "geneva"; "Kazakh" (6) begins "kazakhstan", but "Moskva" is not "Moskvy"
    # (6 letters: the last must match too); a short name must be whole: "Russ" is not taken for "Russia".
    assert index.unknown(["Odessa", "Brussels's", "Russians", "Genevan", "Kazakh"]) == []
    assert index.unknown(["Moskva", "Russ", "Tallinn"]) == ["Moskva", "Russ", "Tallinn"]


def test_the_tokens_are_those_bm25s_gives():
    import bm25s

    from rag.lexical import _stemmer

    texts = TEXTS + ["", "The the", "Kiev's Donbass 2022 é ЙЦУ", "x_y z9 __ 12"]
    assert tokenize(texts) == bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), return_ids=False,
                                             show_progress=False)
