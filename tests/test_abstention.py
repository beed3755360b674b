"""The learned abstention: what it reads of a question's best passages, how a model declines (and says
why), loading one, and learning one."""

import json
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from evals import abstention as learning
from rag import Document, Engine, RagError
from rag.abstention import FEATURES, Abstention, load_abstention


def feature(evidence, name):
    return float(evidence.features[FEATURES.index(name)])


def always(decline: bool) -> Abstention:
    """A model whose odds are the same for any question: declines all or nothing."""
    n = len(FEATURES)
    return Abstention(np.zeros(n), 5.0 if decline else -5.0, np.zeros(n), np.ones(n), 0.5, min_chunks=0)


def test_the_features_say_what_the_best_passages_lack(seed_engine):
    answered = seed_engine.abstention_evidence("Why does Russia object to NATO expansion?")
    lacking = seed_engine.abstention_evidence("Why did Russia object to NATO buying Zumwaltian hovercraft in 2031?")
    assert feature(answered, "coverage_head") > feature(lacking, "coverage_head")
    assert feature(answered, "rare_missing") < feature(lacking, "rare_missing")
    # Words no chunk holds, named first among the missing ones: the rarest words a reader would look for.
    assert feature(lacking, "unknown_terms") > feature(answered, "unknown_terms")
    assert feature(lacking, "missing_idf") == 1.0  # no chunk holds its rarest word
    assert lacking.missing[0] == "Zumwaltian" and "hovercraft" in lacking.missing  # names first, among the rarest
    assert feature(lacking, "later_year") == 1 and feature(answered, "later_year") == 0
    assert feature(answered, "similarity") >= feature(answered, "second_similarity") > 0


def test_a_model_that_declines_empties_the_answer_and_says_why(seed_index, settings, embedder, tmp_path):
    path = tmp_path / "decline.json"
    path.write_text(json.dumps(always(True).as_dict()))
    engine = Engine.open(seed_index, settings=settings.model_copy(update={"abstention": str(path)}), embedder=embedder)
    answer = engine.ask("Why does Russia object to NATO expansion of hovercraft fleets?", top_k=3)
    assert answer.abstained and answer.passages == []
    assert answer.note.startswith("The passages closest to the question do not answer it: none holds “")
    assert "“hovercraft”" in answer.note
    # It reads the hybrid ranking only, which it learned from; the fixed rules alone decline nothing here.
    assert not engine.ask("Why does Russia object to NATO expansion?", top_k=3, mode="dense").abstained
    rules = Engine.open(seed_index, settings=settings.model_copy(update={"abstention": "rule"}), embedder=embedder)
    assert not rules.ask("Why does Russia object to NATO expansion?", top_k=3).abstained


def test_a_model_is_not_applied_to_an_index_smaller_than_it_reads_well(seed_index, settings, embedder, tmp_path):
    path = tmp_path / "decline.json"
    chunks = Engine.open(seed_index, settings=settings, embedder=embedder).store.stats().chunks
    path.write_text(json.dumps({**always(True).as_dict(), "min_chunks": chunks + 1}))
    engine = Engine.open(seed_index, settings=settings.model_copy(update={"abstention": str(path)}), embedder=embedder)
    assert not engine.ask("Why does Russia object to NATO expansion of hovercraft fleets?", top_k=3).abstained
    # The shipped one learned on 1,432 documents: the 20-chunk seed article is left to the fixed rules.
    shipped = load_abstention("default")
    assert shipped.min_chunks > chunks and shipped.threshold_at(chunks) is None


def test_a_smaller_index_gets_the_higher_threshold_measured_for_its_size(seed_index, settings, embedder, tmp_path):
    n = len(FEATURES)
    even = Abstention(np.zeros(n), 0.0, np.zeros(n), np.ones(n), 0.4, min_chunks=10,
                      sizes=((10, 0.6), (1000, 0.5), (100_000, 0.4)))  # odds of 0.5 for any question
    assert [even.threshold_at(c) for c in (9, 10, 100, 1000, 100_000, 10**6)] == \
        [None, 0.6, pytest.approx(0.55), 0.5, 0.4, 0.4]  # interpolated in log(chunks)
    chunks = Engine.open(seed_index, settings=settings, embedder=embedder).store.stats().chunks
    question = "Why does Russia object to NATO expansion?"
    for sizes, declined in ((((10, 0.6), (100_000, 0.4)), False), (((10, 0.45), (100_000, 0.4)), True)):
        path = tmp_path / f"{declined}.json"
        path.write_text(json.dumps(replace(even, sizes=sizes).as_dict()))
        engine = Engine.open(seed_index, settings=settings.model_copy(update={"abstention": str(path)}),
                             embedder=embedder)
        assert (even.threshold_at(chunks) is not None) and engine.ask(question, top_k=3).abstained is declined


def test_the_subsets_sizes_are_measured_on_hold_answerable_questions_documents_and_others():
    documents = [Document(text=f"document {i}") for i in range(40)]
    counts = {d.doc_id: 10 + i for i, d in enumerate(documents)}
    asked = {d.doc_id for d in documents[::4]}
    items = [SimpleNamespace(answerable=True, targets=[SimpleNamespace(doc_ids=(d,))]) for d in sorted(asked)]
    items.append(SimpleNamespace(answerable=False, targets=[]))
    part = learning.subset(documents, items, counts, 200, seed=0)
    held = {d.doc_id for d in part}
    total = sum(counts[d] for d in held)
    assert 200 <= total <= 210 and sum(counts[d] for d in held & asked) <= 100
    assert held & asked and held - asked  # some questions' documents, and others besides
    assert part == learning.subset(documents, items, counts, 200, seed=0)  # the same subset each run
    assert part != learning.subset(documents, items, counts, 200, seed=1)


def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps({"features": ["similarity"], "weights": [1.0]}))
    with pytest.raises(RagError, match="bad.json: not an abstention model .*trained on other features"):
        load_abstention(str(tmp_path / "bad.json"))
    with pytest.raises(RagError, match="RAG_ABSTENTION=rule"):
        load_abstention(str(tmp_path / "missing.json"))
    assert load_abstention("rule") is None


def _synthetic(n: int, m: int, seed: int) -> "learning.Examples":
    # Unanswered questions' passages hold less of them (lower coverage).
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n + m, len(FEATURES)))
    features[n:, FEATURES.index("coverage_head")] -= 2.5
    unanswered = np.r_[np.zeros(n, bool), np.ones(m, bool)]
    questions = tuple(f"question {seed} {i}" for i in range(n + m))
    return learning.Examples(features, unanswered, questions, {"answerable": 0, "unanswerable": 0})


def test_learning_separates_answered_from_unanswered_and_keeps_the_answerable_bound():
    data, held = _synthetic(600, 120, 0), _synthetic(400, 60, 1)
    model, figures = learning.choose(data)
    best = max(figures.values(), key=lambda f: f["unanswerable_declined"])
    assert model.threshold == best["threshold"]
    assert best["unanswerable_declined"] > 0.6 and best["answerable_declined"] <= learning.DECLINED + 0.01
    assert model.weights[FEATURES.index("coverage_head")] < 0  # less coverage, more likely unanswered
    said = learning.declined(model, held)  # questions it never saw
    assert said["unanswerable"] > 0.6 and said["answerable"] < 0.05
    assert learning.declined(None, held) == {"answerable": 0.0, "unanswerable": 0.0}
    ruled = learning.declined(None, replace(held, declined_by_rules={"answerable": 4, "unanswerable": 6}))
    assert ruled == {"answerable": 4 / 404, "unanswerable": 6 / 66}  # what the rules declined counts too
    round_trip = Abstention.from_dict(json.loads(json.dumps(model.as_dict())))
    assert np.allclose(round_trip.unanswered(held.features), model.unanswered(held.features), atol=1e-4)


def test_cross_validation_folds_follow_the_questions_not_their_order():
    data = _synthetic(160, 40, 2)
    order = np.random.default_rng(1).permutation(200)
    shuffled = replace(data, features=data.features[order], unanswered=data.unanswered[order],
                       questions=tuple(data.questions[i] for i in order))
    held = learning.cross_validated(data, 0.1, seed=0)
    assert np.allclose(learning.cross_validated(shuffled, 0.1, seed=0), held[order])
    assert np.bincount(learning.folds(data.questions, 0), minlength=learning.FOLDS).min() > 25  # no fold is empty
    assert not np.allclose(learning.cross_validated(data, 0.1, seed=1), held)  # the seed still draws the folds
