"""The eval metrics on hand-computed examples, and the ranking metrics against ranx on the same run."""

import math
import random

import pytest

from evals import metrics


def test_span_pattern_ignores_whitespace_layout():
    text = "the drumbeat of war\nis  sounding loudly"
    assert metrics.span_pattern("drumbeat of war is sounding").search(text)
    assert not metrics.span_pattern("drumbeat of peace").search(text)
    assert metrics.span_pattern("costs (severe) $80").search("costs (severe)   $80 billion")  # regex characters are literal


def test_first_rank():
    assert metrics.first_rank([False, False, True, True]) == 3
    assert metrics.first_rank([False]) is None
    assert metrics.first_rank([]) is None


def test_hit_rate():
    ranks = [1, 3, None, 6]
    assert [metrics.hit_rate(ranks, k) for k in (1, 3, 5, 10)] == [0.25, 0.5, 0.5, 0.75]
    assert metrics.hit_rate([], 5) == 0.0


def test_reciprocal_rank():
    assert metrics.reciprocal_rank(["a", "b", "c"], {"c"}, 10) == pytest.approx(1 / 3)
    assert metrics.reciprocal_rank(["a", "b", "c"], {"c"}, 2) == 0.0
    assert metrics.reciprocal_rank(["a", "b"], {"a": 0, "b": 1}, 10) == 0.5  # grade 0 is not relevant


def test_recall():
    assert metrics.recall(["a", "b", "c", "d"], {"b", "d", "x"}, 2) == pytest.approx(1 / 3)
    assert metrics.recall(["a", "b", "c", "d"], {"b", "d", "x"}, 4) == pytest.approx(2 / 3)
    assert metrics.recall(["a"], set(), 4) == 0.0


def test_ndcg_binary_and_graded():
    # DCG = 1/log2(2) + 1/log2(4) = 1.5; ideal = 1 + 1/log2(3)
    assert metrics.ndcg(["a", "b", "c"], {"a", "c"}, 10) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    # grades 2 and 1: DCG = 2 + 1/2; ideal = 2 + 1/log2(3)
    assert metrics.ndcg(["a", "b", "c"], {"a": 2, "c": 1}, 10) == pytest.approx(2.5 / (2 + 1 / math.log2(3)))
    assert metrics.ndcg(["b", "a"], {"a"}, 1) == 0.0
    assert metrics.ndcg(["a"], {"a"}, 10) == 1.0


def test_abstention_precision_and_recall():
    abstained = [True, True, False, False, True]
    unanswerable = [True, False, False, True, True]
    assert metrics.abstention(abstained, unanswerable) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert metrics.abstention([False, False], [True, False]) == (None, 0.0)
    assert metrics.abstention([True], [False]) == (0.0, None)


def test_percentile_interpolates():
    assert metrics.percentile([40, 10, 30, 20], 50) == 25.0
    assert metrics.percentile([10, 20, 30, 40], 95) == pytest.approx(38.5)
    assert metrics.percentile([], 95) == 0.0


def test_ranking_metrics_agree_with_ranx():
    from ranx import Qrels, Run, evaluate

    rng = random.Random(7)
    docs = [f"d{i}" for i in range(40)]
    qrels = {f"q{q}": {d: rng.choice([1, 1, 2]) for d in rng.sample(docs, rng.randint(1, 5))} for q in range(30)}
    rankings = {q: rng.sample(docs, 25) for q in qrels}
    run = {q: {d: float(len(r) - i) for i, d in enumerate(r)} for q, r in rankings.items()}
    found = evaluate(Qrels(qrels), Run(run), ["ndcg@10", "mrr@10", "recall@20"])
    ours = {
        "ndcg@10": metrics.mean([metrics.ndcg(rankings[q], qrels[q], 10) for q in qrels]),
        "mrr@10": metrics.mean([metrics.reciprocal_rank(rankings[q], qrels[q], 10) for q in qrels]),
        "recall@20": metrics.mean([metrics.recall(rankings[q], qrels[q], 20) for q in qrels]),
    }
    assert ours == pytest.approx({k: float(v) for k, v in found.items()}, abs=1e-9)
