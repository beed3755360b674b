"""The ONNX backends give the torch model's vectors (fp32) or close to them (int8), offline."""

import warnings

import numpy as np
import pytest

from rag.embedding import INT8_SUFFIX, Embedder, ModelFolder, bundled_model_path, onnx_model, passage_backend
from rag.errors import RagError
from rag.sentences import sentence_spans
from rag.settings import Settings

TEXTS = [
    "Why does Russia object to NATO expansion?",
    "The President spoke with President Zelenskyy of Ukraine about the buildup of Russian forces on the border.",
    "Gas prices in Europe rose sharply after Germany halted certification of Nord Stream 2. " * 12,
    "Sanktionen",
]


@pytest.fixture(scope="module")
def onnx():
    return Embedder(backend="onnx")


@pytest.fixture(scope="module")
def int8():
    return Embedder(backend="onnx-int8")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


def test_onnx_vectors_are_the_torch_vectors(embedder, onnx):
    vectors = onnx.encode(TEXTS, batch_size=2)
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert cosines(vectors, embedder.encode(TEXTS)).min() >= 0.99
    # Same model, same vectors: an index built with either backend serves the other.
    assert (onnx.name, onnx.dimension, onnx.max_wordpieces) == (embedder.name, embedder.dimension, embedder.max_wordpieces)


def test_sentence_vectors_agree_across_backends(embedder, onnx):
    spans = [sentence_spans(t) + [(0, 0)] for t in TEXTS]  # an empty span gets a zero vector
    torch_passages, torch_sentences = embedder.encode_with_sentences(TEXTS, spans)
    onnx_passages, onnx_sentences = onnx.encode_with_sentences(TEXTS, spans, batch_size=3)
    assert cosines(onnx_passages, torch_passages).min() >= 0.99
    assert np.allclose(onnx_passages, onnx.encode(TEXTS), atol=1e-5)
    for ours, theirs, text_spans in zip(onnx_sentences, torch_sentences, spans):
        assert ours.shape == (len(text_spans), 384)
        assert not ours[-1].any()
        assert cosines(ours[:-1], theirs[:-1]).min() >= 0.99


def test_int8_is_close_and_named_apart(embedder, int8):
    similarity = cosines(int8.encode(TEXTS), embedder.encode(TEXTS))
    print(f"int8 vs torch fp32 cosine: min {similarity.min():.4f}, mean {similarity.mean():.4f}")
    assert similarity.min() >= 0.95
    assert int8.name == embedder.name + INT8_SUFFIX


def test_int8_passages_answer_fp32_questions(onnx, int8):
    mixed = Embedder(backend="onnx", passages="onnx-int8")
    spans = [sentence_spans(t) for t in TEXTS]
    # Questions are the fp32 model's; passages int8's, and named so: an index records what its vectors are.
    assert np.array_equal(mixed.encode(TEXTS), onnx.encode(TEXTS))
    assert mixed.name == int8.name and mixed.passage_backend == "onnx-int8"
    passages, sentences = mixed.encode_with_sentences(TEXTS, spans)
    assert cosines(passages, onnx.encode(TEXTS)).min() >= 0.95
    # Quantised activations are scaled per tensor, so a batch would mix its texts: one at a time, a
    # passage's vectors are the same whichever passages are embedded beside it.
    alone, alone_sentences = mixed.encode_with_sentences(TEXTS[1:2], spans[1:2], batch_size=32)
    assert np.array_equal(alone[0], passages[1]) and np.array_equal(alone_sentences[0], sentences[1])


def test_passages_are_int8_by_default_for_the_bundled_model_only(tmp_path):
    assert passage_backend(Settings()) == "onnx-int8"
    assert passage_backend(Settings(embed_backend="torch")) == "torch"
    assert passage_backend(Settings(model_path=tmp_path)) == "onnx"
    assert passage_backend(Settings(index_backend="onnx")) == "onnx"
    assert Embedder.configured(Settings(index_backend="onnx")).name == Embedder.configured(Settings()).name.removesuffix(INT8_SUFFIX)


def test_wordpieces_are_counted_alike(embedder, onnx):
    text = TEXTS[2] * 3
    assert onnx.count_wordpieces(text) == embedder.count_wordpieces(text) > embedder.max_wordpieces


def test_unknown_backend_is_refused():
    with pytest.raises(RagError, match="backend"):
        Embedder(backend="tensorrt")


def test_the_first_export_prints_one_line_and_no_warnings(tmp_path, capfd):
    folder = ModelFolder.read(bundled_model_path())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exported = onnx_model(folder, quantized=False, cache=tmp_path)
        assert onnx_model(folder, quantized=False, cache=tmp_path) == exported  # the cached file, not again
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []
    out, err = capfd.readouterr()
    assert out == "" and err == "preparing the model for fast inference, once, about 10 s\n"
    assert exported.stat().st_size > 0
