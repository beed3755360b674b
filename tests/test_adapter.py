"""The query adapter: a learned map on the question's vector. The shipped one applies to the bundled model
only; a file for another model is refused; training learns a map that ranks held-out questions' answers higher."""

import json

import numpy as np
import pytest

from evals import query_adapter
from rag import Engine, RagError
from rag.adapter import SHIPPED, QueryAdapter, load_adapter, read_adapter
from rag.embedding import INT8_SUFFIX

QUESTION = "Why does Russia object to NATO expansion?"


def test_the_shipped_adapter_moves_the_question_of_the_bundled_model_only(seed_index, settings, embedder):
    assert settings.query_adapter == "default"
    shipped = read_adapter(SHIPPED)
    assert shipped.model == embedder.name and shipped.matrix.shape == (embedder.dimension,) * 2
    adapted = Engine.open(seed_index, settings=settings, embedder=embedder)
    plain = Engine.open(seed_index, settings=settings.model_copy(update={"query_adapter": "none"}), embedder=embedder)
    before, after = plain.embed_question(QUESTION), adapted.embed_question(QUESTION)
    assert np.allclose(after, shipped.apply(before), atol=1e-6)
    assert abs(np.linalg.norm(after) - 1) < 1e-5 and 0.8 < float(before @ after) < 0.9999
    # Another embedder's vectors live in another space: the default is then no adapter, not an error.
    assert load_adapter("default", "some-other-model", embedder.dimension) is None
    assert np.array_equal(load_adapter("default", embedder.name + INT8_SUFFIX, embedder.dimension).matrix, shipped.matrix)


def test_a_named_adapter_for_another_model_or_shape_is_a_clear_error(tmp_path, embedder):
    QueryAdapter(np.zeros((4, 4), np.float32), embedder.name).save(tmp_path / "small.npy", {})
    with pytest.raises(RagError, match="for 4-dimension vectors"):
        load_adapter(str(tmp_path / "small.npy"), embedder.name, embedder.dimension)
    QueryAdapter(np.zeros((4, 4), np.float32), "another-model").save(tmp_path / "other.npy", {})
    with pytest.raises(RagError, match="for another-model, not for"):
        load_adapter(str(tmp_path / "other.npy"), embedder.name, 4)
    np.save(tmp_path / "bare.npy", np.zeros((4, 4), np.float32))
    with pytest.raises(RagError, match="bare.npy: not a query adapter with its manifest"):
        load_adapter(str(tmp_path / "bare.npy"), embedder.name, 4)
    np.save(tmp_path / "wide.npy", np.zeros((4, 5), np.float32))
    (tmp_path / "wide.json").write_text(json.dumps({"model": embedder.name}))
    with pytest.raises(RagError, match="square matrix"):
        load_adapter(str(tmp_path / "wide.npy"), embedder.name, 4)
    assert load_adapter("none", embedder.name, embedder.dimension) is None


def _questions(rng: np.random.Generator, turn: np.ndarray, count: int) -> list[query_adapter.Question]:
    """Questions whose answer is their own vector turned by ``turn``, among distractors that are close to the
    question itself: by plain cosine a distractor comes first, a learned turn finds the answer."""
    found = []
    for _ in range(count):
        q = rng.normal(size=turn.shape[0]).astype(np.float32)
        q /= np.linalg.norm(q)
        answer = turn @ q
        near = q + 0.3 * rng.normal(size=(9, q.shape[0])).astype(np.float32) / np.sqrt(q.shape[0])
        candidates = np.vstack([answer, near])
        candidates /= np.linalg.norm(candidates, axis=1, keepdims=True)
        found.append(query_adapter.Question(q, candidates.astype(np.float32), np.arange(10) == 0))
    return found


def test_training_learns_a_map_that_ranks_held_out_answers_higher():
    rng = np.random.default_rng(0)
    dimension = 16
    angle = np.eye(dimension, dtype=np.float32)
    angle[:2, :2] = [[np.cos(1.2), -np.sin(1.2)], [np.sin(1.2), np.cos(1.2)]]  # a turn in one plane
    training, held_out = _questions(rng, angle, 200), _questions(rng, angle, 50)
    identity = query_adapter.mrr(held_out, np.zeros((dimension, dimension), np.float32))
    learned = query_adapter.mrr(held_out, query_adapter.fit(training, penalty=0.001, steps=1000))
    assert identity < 0.5 and learned > identity + 0.3
    penalty, figures = query_adapter.choose(training[:60])
    assert penalty in query_adapter.PENALTIES and set(figures) == {"none", *map(str, query_adapter.PENALTIES)}
