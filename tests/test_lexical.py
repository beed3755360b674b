"""BM25 postings: scores against the formula, ties, masks, collection-wide statistics across segments and
deletions, merging, and saved and mapped postings."""

import math

import numpy as np
import pytest

from rag import Document, Engine, build_index
from rag.lexical import K1, B, Postings, tokenize, unknown
from rag.storage import TermStats

TEXTS = [
    "Russia objects to NATO expansion toward its borders.",
    "The talks in Geneva reached no agreement on NATO.",
    "Russia objects to NATO expansion toward its borders.",  # a copy: the same score as row 0
    "Grain exports from Odesa resumed under the deal.",
    "NATO allies met in Brussels; Russia was not invited.",
    "Sanctions on Russian banks were widened in March.",
    "Troops were sent to Kazakhstan and to the Moskvy radio station.",
] * 5


def stats_of(tokens, terms, live=None):
    rows = [t for i, t in enumerate(tokens) if live is None or live[i]]
    return TermStats(len(rows), sum(len(t) for t in rows), {term: sum(term in t for t in rows) for term in set(terms)})


def reference(tokens, query, live=None):
    """BM25 (Lucene's IDF, bm25s's term-frequency part) in float64, straight from its definition."""
    terms = tokenize([query])[0]
    stats = stats_of(tokens, terms, live)
    average = stats.length / stats.chunks
    scores = np.zeros(len(tokens))
    for row, words in enumerate(tokens):
        for term in terms:
            tf = words.count(term)
            if tf:
                df = stats.frequencies[term]
                idf = math.log(1 + (stats.chunks - df + 0.5) / (df + 0.5))
                scores[row] += idf * tf / (K1 * (1 - B + B * len(words) / average) + tf)
    return scores


@pytest.fixture(scope="module")
def tokens():
    return tokenize(TEXTS)


@pytest.fixture(scope="module")
def postings(tokens, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bm25")
    Postings.build(tokens).save(folder)
    return Postings.load(lambda name: (folder / name).read_bytes())


@pytest.mark.parametrize("query", ["Russia NATO expansion", "NATO", "grain exports Odesa", "Russia Russia banks"])
@pytest.mark.parametrize("k", [1, 4, 100])
def test_search_scores_by_the_formula_best_first_ties_by_row(postings, tokens, query, k):
    terms = tokenize([query])[0]
    rows, scores = postings.search(terms, k, stats_of(tokens, terms), None)
    want = reference(tokens, query)
    positive = np.flatnonzero(want > 0)
    order = positive[np.lexsort((positive, -want[positive].round(5)))][:k]
    assert rows.dtype == np.int64 and rows.tolist() == order.tolist()
    assert np.allclose(scores, want[order], rtol=1e-6)


def test_a_mask_keeps_results_inside_it(postings, tokens):
    allowed = np.zeros(postings.size, dtype=bool)
    allowed[[2, 4, 9, 20, 29]] = True
    terms = tokenize(["Russia NATO"])[0]
    rows, _ = postings.search(terms, 10, stats_of(tokens, terms), allowed)
    assert rows.tolist() and allowed[rows].all()
    want = reference(tokens, "Russia NATO")
    assert set(rows.tolist()) == {r for r in np.flatnonzero(allowed) if want[r] > 0}


def test_words_no_chunk_has_find_nothing(postings, tokens):
    rows, scores = postings.search(["zeppelin"], 10, stats_of(tokens, ["zeppelin"]), None)
    assert len(rows) == len(scores) == 0


def test_segments_scored_with_summed_statistics_equal_one_index(tokens):
    # Two segments and one index of the same rows: the same float32 scores, not just close.
    whole, first, second = Postings.build(tokens), Postings.build(tokens[:12]), Postings.build(tokens[12:])
    terms = tokenize(["Russia objects to NATO in Geneva"])[0]
    stats = stats_of(tokens, terms)
    part_stats = [TermStats(p.size, int(np.sum(p.lengths)), p.frequencies(sorted(set(terms)), None)) for p in (first, second)]
    assert part_stats[0] + part_stats[1] == stats
    rows, scores = whole.search(terms, 100, stats, None)
    a_rows, a_scores = first.search(terms, 100, stats, None)
    b_rows, b_scores = second.search(terms, 100, stats, None)
    merged = dict(zip(a_rows.tolist(), a_scores.tolist())) | dict(zip((b_rows + 12).tolist(), b_scores.tolist()))
    assert dict(zip(rows.tolist(), scores.tolist())) == merged


def test_deleted_rows_leave_the_statistics(tokens):
    live = np.ones(len(tokens), dtype=bool)
    live[[0, 2, 7, 9]] = False
    postings = Postings.build(tokens)
    terms = tokenize(["Russia objects NATO"])[0]
    assert postings.frequencies(sorted(set(terms)), live) == stats_of(tokens, terms, live).frequencies
    kept = [t for t, alive in zip(tokens, live) if alive]
    rows, scores = postings.search(terms, 100, stats_of(tokens, terms, live), live)
    fresh_rows, fresh_scores = Postings.build(kept).search(terms, 100, stats_of(kept, terms), None)
    assert np.array_equal(scores, fresh_scores)
    assert np.flatnonzero(live)[fresh_rows].tolist() == rows.tolist()


def test_merging_postings_equals_building_from_the_kept_rows(tokens):
    first, second = Postings.build(tokens[:10]), Postings.build(tokens[10:])
    drop_first = np.array([0, -1, 1, 2, -1, 3, 4, 5, 6, 7])  # rows 1 and 4 deleted
    drop_second = np.arange(len(tokens) - 10) + 8
    merged = Postings.merge([(first, drop_first), (second, drop_second)], len(tokens) - 2)
    kept = [t for i, t in enumerate(tokens) if i not in (1, 4)]
    fresh = Postings.build(kept)
    assert merged.terms == fresh.terms
    for name in ("indptr", "rows", "counts", "lengths"):
        assert np.array_equal(getattr(merged, name), getattr(fresh, name)), name


def test_a_name_is_known_in_any_spelling_inflection_or_longer_word(tmp_path, embedder, chunker):
    build_index(tmp_path, [Document(text=t) for t in dict.fromkeys(TEXTS)], embedder, chunker)
    store = Engine.open(tmp_path, embedder=embedder).store
    # "Odessa" is Odesa spelt the other way; "Brussels's" an inflection; "Russians" starts "russian" (stemmed);
    # "Genevan" (7 letters) begins "geneva"; "Kazakh" (6) begins "kazakhstan", but "Moskva" is not "Moskvy"
    # (6 letters: the last must match too); a short name must be whole: "Russ" is not taken for "Russia".
    assert unknown(store, ["Odessa", "Brussels's", "Russians", "Genevan", "Kazakh", "NATO Summit"]) == []
    assert unknown(store, ["Moskva", "Russ", "Tallinn"]) == ["Moskva", "Russ", "Tallinn"]


def test_the_tokens_are_those_bm25s_gives():
    import bm25s

    from rag.lexical import _stemmer

    texts = TEXTS + ["", "The the", "Kiev's Donbass 2022 é ЙЦУ", "x_y z9 __ 12"]
    assert tokenize(texts) == bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), return_ids=False,
                                             show_progress=False)
