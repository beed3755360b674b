"""The reranker stage: a LightGBM model over the candidates' features reorders the hybrid ranking; any
model file can be named; a file that is not one is a clear error."""

import json

import lightgbm
import numpy as np
import pytest

from rag import Document, Engine, RagError, build_index
from rag.features import FEATURES
from rag.reranking import load_reranker

QUESTION = "Why does Russia object to NATO expansion?"


def train(path, features: np.ndarray, labels: np.ndarray, groups: list[int]) -> None:
    model = lightgbm.LGBMRanker(objective="lambdarank", n_estimators=30, min_child_samples=1, verbose=-1)
    model.fit(features, labels, group=groups)
    model.booster_.save_model(str(path))


def test_a_learned_model_reorders_the_candidates_as_it_was_taught(tmp_path, seed_index, settings, embedder):
    plain = Engine.open(seed_index, settings=settings.model_copy(update={"reranker": "none"}), embedder=embedder)
    candidates = plain.candidates(QUESTION)
    assert candidates.features.shape == (len(candidates.ids), len(FEATURES)) and len(candidates.ids) > 5
    # Taught that the lower a candidate's fused score, the better: the order it gives must be the reverse.
    fused = candidates.features[:, FEATURES.index("fused")]
    labels = np.argsort(np.argsort(-fused)) * 3 // len(fused)
    train(tmp_path / "reverse.txt", np.vstack([candidates.features] * 5), np.tile(labels, 5), [len(labels)] * 5)
    learned = Engine.open(seed_index, settings=settings.model_copy(update={"reranker": str(tmp_path / "reverse.txt"),
                                                                           "abstain_below": -1.0}), embedder=embedder)
    first = learned.ask(QUESTION, top_k=3).passages[0]
    plain_order = [f"{c.doc_id}:{c.index}" for c in plain.store.chunks(candidates.ids)]
    assert first.chunk_id in plain_order[len(plain_order) * 2 // 3 :]  # from the fused ranking's last third
    assert plain.ask(QUESTION, top_k=1).passages[0].chunk_id == plain_order[0]


def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path, seed_index, settings, embedder):
    (tmp_path / "model.txt").write_text("not a model")
    with pytest.raises(RagError, match="model.txt: not a LightGBM model"):
        Engine.open(seed_index, settings=settings.model_copy(update={"reranker": str(tmp_path / "model.txt")}),
                    embedder=embedder)


def test_a_model_trained_on_other_features_is_refused(tmp_path, seed_index, settings, embedder):
    rng = np.random.default_rng(0)
    train(tmp_path / "old.txt", rng.random((40, len(FEATURES))), rng.integers(0, 3, 40), [10] * 4)
    (tmp_path / "old.json").write_text(json.dumps({"features": list(FEATURES[:-1])}))
    with pytest.raises(RagError, match="trained on other features"):
        Engine.open(seed_index, settings=settings.model_copy(update={"reranker": str(tmp_path / "old.txt")}),
                    embedder=embedder)


def test_a_cross_encoder_named_by_path_scores_the_question_with_each_passage(tmp_path, seed_index, settings, embedder):
    # A tiny cross-encoder made here (random weights, the bundled model's vocabulary): the plumbing a
    # user's downloaded model goes through, RAG_RERANKER=<folder or Hugging Face id>.
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from rag.embedding import bundled_model_path

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_path()))
    model = BertForSequenceClassification(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=64, num_labels=1))
    model.save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    engine = Engine.open(seed_index, settings=settings.model_copy(update={"reranker": str(tmp_path / "tiny"),
                                                                          "abstain_below": -1.0}), embedder=embedder)
    candidates = engine.candidates(QUESTION)
    inputs = tokenizer([QUESTION] * len(candidates.texts), candidates.texts, truncation="only_second", max_length=256,
                       padding=True, return_tensors="pt")
    with torch.inference_mode():
        expected = model.eval()(**inputs).logits[:, 0].numpy()
    best = [f"{c.doc_id}:{c.index}" for c in engine.store.chunks(candidates.ids[np.argsort(-expected)])]
    assert engine.ask(QUESTION, top_k=1).passages[0].chunk_id == best[0]


def test_a_reranker_that_cannot_be_loaded_is_a_clear_error(seed_index, settings, embedder):
    with pytest.raises(RagError, match="reranker '/nowhere/model': cannot be loaded as a cross-encoder"):
        Engine.open(seed_index, settings=settings.model_copy(update={"reranker": "/nowhere/model"}), embedder=embedder)


def test_the_shipped_model_is_the_default_and_answers_in_its_order(seed_index, settings, embedder):
    assert settings.reranker == "lambdamart"
    engine = Engine.open(seed_index, settings=settings, embedder=embedder)
    question = "When did Putin bring the fighting between Azerbaijan and Armenia to an end?"
    candidates = engine.candidates(question)
    order = np.argsort(-load_reranker("lambdamart").rank(question, candidates), kind="stable")[:3]
    assert list(order) != [0, 1, 2]  # it reorders the fused ranking's best on this question
    expected = [f"{c.doc_id}:{c.index}" for c in engine.store.chunks([int(candidates.ids[i]) for i in order])]
    assert [p.chunk_id for p in engine.ask(question, top_k=3).passages] == expected


def test_a_candidate_knows_whether_the_chunks_either_side_of_it_are_candidates(seed_index, settings, embedder):
    # A reply follows the question it answers: the features say how the chunks around a passage ranked.
    engine = Engine.open(seed_index, settings=settings, embedder=embedder)
    candidates = engine.candidates(QUESTION)
    refs = engine.store.chunks([int(i) for i in candidates.ids])
    fused = {(r.doc_id, r.index): float(s) / float(candidates.scores[0]) for r, s in zip(refs, candidates.scores)}
    before = candidates.features[:, FEATURES.index("before_fused")]
    after = candidates.features[:, FEATURES.index("after_fused")]
    assert list(before) == pytest.approx([fused.get((r.doc_id, r.index - 1), 0.0) for r in refs])
    assert list(after) == pytest.approx([fused.get((r.doc_id, r.index + 1), 0.0) for r in refs])
    assert (before > 0).any() and (before == 0).any()  # the seed article's chunks neighbour each other in the list



def test_a_candidate_knows_how_much_of_it_is_questions(tmp_path, settings, embedder, chunker):
    text = "Q: Will the sanctions hit gas? And when? MS. PSAKI: They will. We said so last week. Q: Thanks."
    build_index(tmp_path, [Document(text=text, title="Briefing")], embedder, chunker)
    engine = Engine.open(tmp_path, settings=settings, embedder=embedder)
    candidates = engine.candidates("Will the sanctions hit gas?")
    [sentences] = engine.store.sentences([int(candidates.ids[0])]).values()
    asked = sum(text[s.start:s.end].rstrip().endswith("?") for s in sentences) / len(sentences)
    assert 0 < asked < 1 and candidates.features[0, FEATURES.index("asks")] == pytest.approx(asked)
