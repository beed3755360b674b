import numpy as np

from rag.fusion import normalised, score_fusion


def test_a_clear_lead_in_one_ranking_survives_that_rank_fusion_would_lose():
    # Dense: row 1 far ahead of a flat field. BM25: rows 2 and 3 barely ahead of row 1.
    dense = (np.array([1, 2, 3, 4, 5, 6]), np.array([0.90, 0.41, 0.40, 0.39, 0.38, 0.37]))
    bm25 = (np.array([2, 3, 1, 4, 5, 6]), np.array([10.0, 9.9, 9.8, 5.0, 4.0, 3.0]))
    rows, scores = score_fusion([dense, bm25], [1.0, 1.0])
    assert rows[0] == 1  # reciprocal-rank fusion puts row 2 first: 1/61 + 1/62 > 1/61 + 1/63
    assert np.all(np.diff(scores) <= 0)


def test_a_ranking_of_some_rows_reorders_only_those():
    rows, scores = np.array([10, 11, 12, 13]), np.array([4.0, 3.9, 3.0, 1.0])
    reordered, _ = score_fusion([(rows, scores), (rows[:3], np.array([0.1, 0.9, 0.5]))], [1.0, 0.5])
    # 11 is second by the first ranking and first by the second: it overtakes 10; 13 has only its first score.
    assert reordered.tolist() == [11, 10, 12, 13]


def test_rankings_with_no_hits_or_one_hit():
    dense = (np.array([1, 2, 3]), np.array([0.9, 0.5, 0.1]))
    empty = (np.array([], dtype=np.int64), np.array([]))
    assert score_fusion([dense, empty], [1.0, 1.0])[0].tolist() == [1, 2, 3]
    assert normalised(np.array([0.5])).tolist() == [1.0]
    assert normalised(np.array([2.0, 2.0])).tolist() == [1.0, 1.0]


def test_normalised_scores_put_the_mean_half_way():
    scores = np.array([1.0, 2.0, 3.0, 10.0])
    assert np.isclose(normalised(scores).mean(), 0.5)
