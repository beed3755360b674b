"""The sentence picker: its features, the hand rule it generalises, loading weights, and learning them."""

import json

import numpy as np
import pytest

from evals import sentence_picker as learning
from rag.errors import RagError
from rag.sentence_picker import FEATURES, RULE, SentencePicker, load_sentence_picker, sentence_features


def features(texts, speakers, cosine):
    n = len(texts)
    zeros = np.zeros(n, np.float32)
    return sentence_features(texts, [t.split() for t in texts], speakers, np.array(cosine, np.float32),
                             np.array(cosine, np.float32), zeros, zeros, zeros)


def column(matrix, name):
    return matrix[:, FEATURES.index(name)].tolist()


def test_features_tell_the_reporters_question_from_the_answer():
    texts = ["Q Will the troops go to Ukraine?", "MS. PSAKI: No, they will not go.", "That is what he said."]
    table = features(texts, ["", "Ms. Psaki", "Ms. Psaki"], [0.8, 0.5, 0.3])
    assert column(table, "asks") == [1, 0, 0]
    assert column(table, "after_asking") == [0, 1, 0]
    assert column(table, "unnamed_turn") == [1, 0, 0]
    assert column(table, "position") == [0, 0.5, 1]
    assert column(table, "neighbour_cosine") == pytest.approx([0.5, 0.8, 0.5])
    # Where no sentence is labelled (a statement), no sentence is in an unnamed turn.
    assert column(features(texts, ["", "", ""], [0.8, 0.5, 0.3]), "unnamed_turn") == [0, 0, 0]


def test_the_rule_is_the_hand_rule():
    table = np.zeros((2, len(FEATURES)), np.float32)
    table[:, FEATURES.index("cosine")] = [0.5, 0.4]
    table[:, FEATURES.index("shared")] = [0.0, 0.5]
    table[:, FEATURES.index("says_little")] = [1, 0]
    table[:, FEATURES.index("asks")] = [1, 1]  # the rule reads none of the added features
    assert load_sentence_picker("rule").scores(table) == pytest.approx([0.5 - 0.2, 0.4 + 0.3 * 0.5])
    assert set(RULE) <= set(FEATURES)


def test_weights_are_read_from_a_file_and_bad_ones_refused(tmp_path):
    good = tmp_path / "picker.json"
    good.write_text(json.dumps({"weights": {"cosine": 2.0, "asks": -1.0}}))
    assert load_sentence_picker(str(good)).as_dict()["asks"] == -1.0
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"weights": {"sentiment": 1.0}}))
    with pytest.raises(RagError, match="sentiment"):
        load_sentence_picker(str(unknown))
    with pytest.raises(RagError, match="RAG_SENTENCE_PICKER=rule"):
        load_sentence_picker(str(tmp_path / "missing.json"))


def test_the_shipped_weights_load():
    assert load_sentence_picker("default").weights.shape == (len(FEATURES),)


def test_learning_finds_what_the_rule_misses():
    # The answer follows the reporter's question and is less like the question than the question is.
    rng = np.random.default_rng(0)
    examples = []
    for i in range(200):
        n = 5
        texts = [f"sentence {j}" for j in range(n)]
        asked = int(rng.integers(0, n - 1))
        speakers = ["Ms. Psaki"] * n
        speakers[asked] = ""
        cosine = rng.uniform(0.2, 0.5, n)
        cosine[asked] = 0.7
        table = features(texts, speakers, cosine)
        right = np.zeros(n, bool)
        right[asked + 1] = True
        examples.append(learning.Example(i, table, right, np.zeros(n, bool)))
    train, held = examples[:150], examples[150:]
    assert learning.accuracy(held, SentencePicker.of(RULE)) < 0.2
    assert learning.accuracy(held, learning.fit(train, penalty=0.01)) > 0.9
