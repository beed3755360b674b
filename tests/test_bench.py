"""The benchmark's helpers (bench/): its data without the team folder, and reading a synthetic index back.

The benchmark itself is never a timed test; these check that `make bench` can run on a bare clone and
that what it reads of an index (vectors, texts, segments) matches what was written.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from bench import corpus, haystack_venv, stats
from rag.chunking import ChunkerConfig, chunk_document
from rag.segment import dense_text
from rag.settings import Settings


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> corpus.Data:
    return corpus.Data.locate(tmp_path_factory.mktemp("no-team-data") / "absent")


def test_without_the_team_data_the_shipped_corpus_and_seed_questions_are_used(shipped, monkeypatch, tmp_path):
    assert not shipped.team and shipped.label == "shipped"
    assert [p.name for p in shipped.question_sets()] == ["seed.jsonl"]  # wh_dev's corpus is team data
    assert shipped.questions() and all(isinstance(q, str) and q for q in shipped.questions())
    docs = shipped.real_subset(10)
    assert len(docs) == len(list((corpus.ROOT / "corpus").iterdir()))
    assert shipped.sentences and shipped.real_name == "corpus/"
    monkeypatch.setenv(corpus.DATA_ENV, str(tmp_path / "elsewhere"))
    assert corpus.Data.locate().folder == tmp_path / "elsewhere"


def test_a_written_document_has_the_words_asked_and_differs_by_seed(shipped):
    first, second = corpus.new_document(3000, shipped, 1), corpus.new_document(3000, shipped, 2)
    assert 3000 <= len(first.text.split()) < 3200
    assert first.doc_id != second.doc_id and first.url != second.url
    assert corpus.new_document(3000, shipped, 1).text == first.text


def test_haystack_is_unavailable_rather_than_failing_when_its_venv_cannot_be_made(monkeypatch):
    monkeypatch.setattr(haystack_venv, "VENV", Path("/proc/no-such-folder/venv"))
    with pytest.raises(haystack_venv.Unavailable, match="could not install Haystack"):
        haystack_venv.ensure_venv()


@pytest.mark.parametrize("shards", [0, 2])
def test_a_synthetic_index_is_read_back_and_reused(shipped, tmp_path, shards):
    settings = Settings()
    chunker = ChunkerConfig(settings.encoding, settings.chunk_tokens, settings.chunk_overlap)
    pool = corpus.StandInEmbedder(np.eye(8, 16, dtype=np.float32), seed=3).vectors(32)
    folder = corpus.synthetic_generation(tmp_path / "synthetic", 300, pool, chunker, shipped, shards=shards)
    store = corpus.open_store(folder)
    chunks = store.stats().chunks
    assert chunks >= 300 and corpus.segment_count(folder) == max(shards, 1)
    vectors, texts = corpus.generation_vectors(folder), corpus.generation_texts(folder)
    assert vectors.shape == (chunks, 16) and len(texts) == chunks
    docs = corpus.synthetic_documents(300, chunker, shipped)
    expected = {dense_text(doc, c.text)[0] for doc in docs for c in chunk_document(doc.doc_id, doc.text, chunker)}
    assert set(texts) == expected
    assert corpus.index_kind(folder) == "flat" and corpus.folder_bytes(folder) > 0
    marker = folder / "reused"
    marker.touch()
    assert corpus.synthetic_generation(folder, 300, pool, chunker, shipped, shards=shards) == folder
    assert marker.exists()  # not written again
    assert (folder / "shards.json").exists() == bool(shards)


def test_resident_memory_is_read_for_this_process_and_by_pid():
    here = stats.rss_mb()
    assert 10 < here < 100_000
    assert abs(stats.rss_mb(os.getpid()) - here) < 50  # the same process, read a moment later
