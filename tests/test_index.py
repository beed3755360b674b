import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag import CorruptIndex, Document, Engine, IndexMismatch, build_index, read_paths
from rag.chunking import ChunkerConfig, chunk_document
from rag.embedding import INT8_SUFFIX
from rag.index import embedder_for, is_stale, recorded_model
from rag.retrieve import index_config
from rag.settings import Settings
from rag.storage import SourceCount

from .conftest import ROOT, SEED


def _write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text)


def _docs(folder):
    return read_paths([folder])


def current(index: Path) -> Path:
    return index / os.readlink(index / "CURRENT")


def rewrite_manifest(index: Path, **changes) -> None:
    """Change the current manifest, with a checksum that matches (as a writer of another version would)."""
    path = current(index)
    manifest = json.loads(path.read_text()) | changes
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    manifest["checksum"] = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    path.write_text(json.dumps(manifest))


def test_ingesting_the_same_texts_again_changes_nothing(tmp_path, embedder, chunker):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    shutil.copy(SEED, corpus / "seed.md")
    first = build_index(index, _docs(corpus), embedder, chunker)
    # Renamed and re-wrapped: same document, so no new manifest and nothing embedded.
    (corpus / "seed.md").rename(corpus / "renamed.md")
    again = build_index(index, _docs(corpus), embedder, chunker)
    assert again.skipped and again.path == first.path == current(index)


def test_another_index_kind_rebuilds_without_embedding_again(tmp_path, embedder, chunker):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    shutil.copy(SEED, corpus / "seed.md")
    first = build_index(index, _docs(corpus), embedder, chunker)
    changed = build_index(index, _docs(corpus), embedder, chunker, index_kind="sq8")
    assert not changed.skipped and changed.embedded == 0 and changed.path != first.path
    assert json.loads(changed.path.read_text())["index_kind"] == "sq8"
    assert build_index(index, _docs(corpus), embedder, chunker, index_kind="sq8").skipped


def test_changed_and_removed_documents_leave_the_index(tmp_path, embedder, chunker, settings):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    _write(corpus, "a.txt", "The pipeline was approved by regulators in Berlin.")
    _write(corpus, "b.txt", "Paratroopers arrived in Almaty to restore order.")
    build_index(index, _docs(corpus), embedder, chunker)
    _write(corpus, "a.txt", "The pipeline approval was suspended by Germany after the recognition.")
    (corpus / "b.txt").unlink()
    report = build_index(index, _docs(corpus), embedder, chunker)
    assert (report.documents, report.embedded) == (1, 1)
    engine = Engine.open(index, settings=settings.model_copy(update={"abstain_below": -1.0}), embedder=embedder)
    texts = [p.text for p in engine.ask("pipeline approval", top_k=5).passages]
    assert texts == ["The pipeline approval was suspended by Germany after the recognition."]
    assert engine.ask("paratroopers Almaty", top_k=5, mode="bm25").abstained


def test_unchanged_chunks_are_not_embedded_again(tmp_path, embedder, chunker):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    shutil.copy(SEED, corpus / "seed.md")
    first = build_index(index, _docs(corpus), embedder, chunker)
    _write(corpus, "new.txt", "A new statement on the talks in Geneva.")
    second = build_index(index, _docs(corpus), embedder, chunker)
    assert (first.embedded, second.embedded, second.chunks) == (first.chunks, 1, first.chunks + 1)


def test_staleness_follows_corpus_and_settings(tmp_path, embedder, chunker, seed_index):
    docs = read_paths([ROOT / "corpus"])
    config = index_config(Settings(), embedder)
    assert not is_stale(seed_index, {"corpus": docs}, config)
    assert is_stale(tmp_path / "missing", {"corpus": docs}, config)
    extra = read_paths([SEED]) + [docs[0].__class__(text="Another text.")]
    assert is_stale(seed_index, {"corpus": extra}, config)
    assert is_stale(seed_index, {"another/path": docs}, config)  # documents of a path never synced
    other = config.__class__(config.model, config.dimension, ChunkerConfig(max_tokens=100, overlap=10))
    assert is_stale(seed_index, {"corpus": docs}, other)


def test_index_built_for_another_chunker_fails_clearly(seed_index, embedder):
    settings = Settings(chunk_tokens=100)
    with pytest.raises(IndexMismatch, match="chunks of 160 .* but this run uses .* chunks of 100"):
        Engine.open(seed_index, settings=settings, embedder=embedder)


def test_index_built_for_another_model_fails_clearly(tmp_path, seed_index, embedder):
    copy = tmp_path / "index"
    shutil.copytree(seed_index, copy, symlinks=True)
    rewrite_manifest(copy, model="bge-small-en-v1.5")
    with pytest.raises(IndexMismatch, match="model bge-small-en-v1.5"):
        Engine.open(copy, embedder=embedder)


def test_a_damaged_file_is_detected(tmp_path, seed_index, embedder):
    copy = tmp_path / "index"
    shutil.copytree(seed_index, copy, symlinks=True)
    with open(next(copy.glob("seg-*/dense.faiss")), "r+b") as handle:
        handle.seek(100)
        handle.write(b"\x00\x01\x02")
    with pytest.raises(CorruptIndex, match="dense.faiss"):
        Engine.open(copy, embedder=embedder)


def test_a_build_killed_midway_leaves_the_old_index_usable(tmp_path, embedder, chunker, settings):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    shutil.copy(SEED, corpus / "seed.md")
    old = build_index(index, _docs(corpus), embedder, chunker)
    # Enough new text that embedding takes seconds, so the kill lands mid-build.
    lines = [json.dumps({"text": f"Statement {i}. " + "Officials discussed sanctions and energy security. " * 60})
             for i in range(150)]
    (corpus / "bulk.jsonl").write_text("\n".join(lines))
    build = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "index", "--corpus", str(corpus), "--index", str(index)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not list(index.glob(".building-*")) and time.monotonic() < deadline and build.poll() is None:
            time.sleep(0.05)
        assert build.poll() is None, "the build finished before it could be interrupted"
        time.sleep(1.0)
        os.kill(build.pid, signal.SIGKILL)
    finally:
        build.wait()
    assert current(index) == old.path
    engine = Engine.open(index, settings=settings, embedder=embedder)
    assert engine.ask("Why does Russia object to NATO expansion?").passages
    # The next build clears the abandoned half-build.
    build_index(index, read_paths([SEED]), embedder, chunker)
    assert not list(index.glob(".building-*"))


def test_documents_and_chunks_are_counted_per_source(tmp_path, embedder, chunker):
    long_text = " ".join(f"Sentence {i} of the long briefing on energy security and sanctions." for i in range(120))
    docs = [
        Document(text="Moscow rejected the proposal on NATO.", source="President of Russia"),
        Document(text=long_text, source="The White House"),
        Document(text="Kyiv asked for air defence systems.", source="The White House"),
        Document(text="A note nobody signed."),
    ]
    report = build_index(tmp_path, docs, embedder, chunker)
    chunks = len(chunk_document("", long_text, chunker))
    assert chunks > 1  # so the chunk count is not the document count by accident
    counts = [SourceCount("", 1, 1), SourceCount("President of Russia", 1, 1), SourceCount("The White House", 2, chunks + 1)]
    assert report.sources == counts
    assert Engine.open(tmp_path, embedder=embedder).store.stats().sources == counts
    again = build_index(tmp_path, docs, embedder, chunker)
    assert again.skipped and again.sources == counts  # nothing written, still counted (from the current manifest)


def test_an_index_keeps_the_vectors_it_was_built_with(tmp_path, embedder, chunker):
    """Passages of a new index are int8 by default; an index built with fp32 passages stays fp32 (served and
    written as it is, not refused nor re-embedded) until `rag index --rebuild`."""
    old = tmp_path / "fp32"
    build_index(old, [Document(text="The ferry left the harbour at noon on Tuesday.")], embedder, chunker)
    engine = Engine.open(old, settings=Settings())
    assert engine.embedder.name == embedder.name and engine.embedder.passage_backend == "onnx"
    engine.add_documents([Document(text="The convoy reached the checkpoint before the curfew.")])
    assert recorded_model(old) == embedder.name
    assert engine.ask("When did the ferry leave?").passages[0].text.startswith("The ferry")
    assert embedder_for(tmp_path / "new", Settings()).name == embedder.name + INT8_SUFFIX
    result = subprocess.run([sys.executable, "-m", "rag.cli", "index", "--corpus", str(SEED), "--index", str(old),
                             "--rebuild"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-500:]
    assert recorded_model(old) == embedder.name + INT8_SUFFIX
