"""The document store and segments: documents are never lost, writes serialise, incremental writes and
shards answer exactly as one fresh build, and crashes leave nothing behind."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from rag import CorruptIndex, Document, Engine, build_index, read_paths
from rag.docstore import API_ORIGIN, DocumentStore
from rag.index import MERGE_FACTOR, MERGE_FLOOR, LocalIndex, merge_plan, origin_of
from rag.lexical import tokenize
from rag.sharded import ShardedIndex
from rag.storage import Scope

from .conftest import FAULTS_FULL, ROOT, SEED

QUESTIONS = [
    "Why does Russia object to NATO expansion?",
    "Which convoy reached the checkpoint before the curfew?",
    "What happened in Kazakhstan in January?",
    "grain exports Odesa",
    "Who leads Russia's negotiators?",
]
PLACES = ["Odesa", "Kharkiv", "Almaty", "Geneva", "Minsk", "Batumi", "Riga", "Vilnius", "Tbilisi", "Yerevan"]
EVENTS = ["talks resumed", "a convoy arrived", "grain exports restarted", "sanctions were widened",
          "troops withdrew", "a ferry sailed late", "the embassy closed", "protests grew"]
# Words for each report's last sentence, of random length and content, so that no two reports tie on a
# score (ties may rank either way; everything else must match exactly).
WORDS = ("harbour winter ministers pipeline referendum drones border ceasefire wheat fuel bridge railway court "
         "election envoy summit tanks airport corridor refugees banks reactor treaty garrison").split()


def corpus(n: int, seed: int = 0) -> list[Document]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        place, event = rng.choice(PLACES), rng.choice(EVENTS)
        sentences = [f"In {place}, {event} on day {i}.", f"Officials in {place} said {rng.choice(EVENTS)} as well.",
                     f"Report {i} ends with a note on {rng.choice(PLACES)}.",
                     " ".join(rng.choices(WORDS, k=rng.randint(2, 20))).capitalize() + "."]
        docs.append(Document(text=" ".join(sentences), title=f"Report {i} from {place}", source=rng.choice(["A", "B"]),
                             published=f"2022-0{1 + i % 9}-1{i % 10}"))
    return docs


def engine_of(index: Path, embedder, settings) -> Engine:
    return Engine.open(index, settings=settings, embedder=embedder)


# A dense score's last bits depend on how FAISS blocks its sums, and a fused score's on the order the
# normalisation sums a list in: scores agree to this much (rounding to 4 places would not do: two scores
# either side of a rounding boundary round apart).
TOLERANCE = 1e-4


def ranking(engine: Engine, question: str, mode: str) -> list[tuple[float, str]]:
    return [(p.score, p.chunk_id) for p in engine.ask(question, top_k=10, mode=mode).passages]


def same_up_to_ties(a: list[tuple[float, str]], b: list[tuple[float, str]]) -> None:
    """The same scores in the same order, and each chunk at the same score in both; chunks tied at the last
    score may differ (equal scores rank by id, and ids follow how the index is laid out)."""
    assert len(a) == len(b) and all(abs(x - y) <= TOLERANCE for (x, _), (y, _) in zip(a, b)), (a, b)
    for one, other in ((a, b), (b, a)):
        last, scores = one[-1][0] if one else None, {key: score for score, key in other}
        for score, key in one:
            if abs(score - last) > TOLERANCE:
                assert key in scores and abs(scores[key] - score) <= TOLERANCE, (key, one, other)


def same_answers(a: Engine, b: Engine, questions=QUESTIONS) -> None:
    for question in questions:
        for mode in ("hybrid", "bm25", "dense"):
            same_up_to_ties(ranking(a, question, mode), ranking(b, question, mode))
        terms = tokenize([question])[0]
        found = []
        for engine in (a, b):
            ids, scores = engine.store.lexical_search(terms, 20, Scope())
            # Corpus-wide statistics: the very same float32 scores.
            found.append([(float(s), f"{c.doc_id}:{c.index}") for s, c in zip(scores, engine.store.chunks(ids))])
        same_up_to_ties(*found)


@pytest.fixture
def open_settings(settings):
    # Every ranking in full, none declined, in score order (no spreading over sources: it would depend
    # on the order of tied passages).
    return settings.model_copy(update={"abstain_below": -1.0, "source_penalty": 0.0})


def test_documents_added_through_the_api_survive_every_corpus_sync(tmp_path, embedder, chunker, open_settings):
    index, folder = tmp_path / "index", tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(SEED, folder / "seed.md")
    (folder / "note.txt").write_text("A short note on the talks in Geneva.")
    origin = origin_of(folder)
    build_index(index, read_paths([folder]), embedder, chunker, origin=origin)
    engine = engine_of(index, embedder, open_settings)
    added = [Document(text=f"Bulletin {i}: a convoy reached Kherson on day {i}.", url=f"https://example.org/{i}")
             for i in range(3)]
    engine.add_documents(added)
    (folder / "note.txt").unlink()  # the next sync removes it, and only it
    report = build_index(index, read_paths([folder]), embedder, chunker, origin=origin)
    assert (report.documents, report.removed) == (1 + 3, 1)
    engine.reload()
    assert all(engine.document(d.doc_id) for d in added)
    assert engine.ask("Did a convoy reach Kherson?", top_k=3).passages[0].doc_id in {d.doc_id for d in added}
    # The search structures are derived: delete every one, and a rebuild from the document store alone
    # answers the same.
    before = ranking(engine, QUESTIONS[0], "hybrid")
    for path in [*index.glob("seg-*"), *index.glob("manifest-*"), index / "CURRENT"]:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    config = engine.index.config
    LocalIndex(index, config).sync({}, embedder, rebuild=True)
    rebuilt = engine_of(index, embedder, open_settings)
    assert rebuilt.store.stats().documents == 4 and ranking(rebuilt, QUESTIONS[0], "hybrid") == before
    store = DocumentStore(index)
    assert sorted(store.digests(API_ORIGIN)) == sorted(d.doc_id for d in added)
    store.close()


def test_writes_are_segments_and_tombstones_and_answer_as_a_fresh_build(tmp_path, embedder, chunker, open_settings):
    docs = corpus(40)
    index = tmp_path / "incremental"
    build_index(index, docs[:8], embedder, chunker)
    engine = engine_of(index, embedder, open_settings)
    first = engine.add_documents([docs[8]])
    assert (first.embedded, len(engine.store.segments)) == (1, 2)  # a new segment, not a rebuild
    for doc in docs[9:]:
        engine.add_documents([doc])
    for doc in docs[3:40:7]:
        assert engine.delete_document(doc.doc_id)
    engine._merger.submit(lambda: None).result()  # background merges done
    engine.reload()
    kept = [d for d in docs if d not in docs[3:40:7]]
    assert len(engine.store.segments) < MERGE_FACTOR  # merged as it went
    fresh = tmp_path / "fresh"
    build_index(fresh, kept, embedder, chunker)
    same_answers(engine, engine_of(fresh, embedder, open_settings))
    assert engine.store.stats().documents == len(kept)


@hypothesis_settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), operations=st.lists(st.tuples(st.booleans(), st.integers(0, 99)), min_size=1,
                                                         max_size=12))
def test_any_sequence_of_adds_and_deletes_answers_as_a_fresh_build(tmp_path_factory, embedder, chunker, open_settings,
                                                                  seed, operations):
    folder = tmp_path_factory.mktemp("property")
    docs = corpus(14, seed)
    build_index(folder / "incremental", docs[:4], embedder, chunker)
    engine = engine_of(folder / "incremental", embedder, open_settings)
    live = {d.doc_id: d for d in docs[:4]}
    for add, pick in operations:
        if add:
            doc = docs[4 + pick % 10]
            engine.add_documents([doc])
            live[doc.doc_id] = doc
        elif live:
            doc_id = sorted(live)[pick % len(live)]
            engine.delete_document(doc_id)
            del live[doc_id]
    engine.index.merge()
    engine.reload()
    if not live:
        assert engine.store.stats().documents == 0
        return
    build_index(folder / "fresh", list(live.values()), embedder, chunker)
    same_answers(engine, engine_of(folder / "fresh", embedder, open_settings), QUESTIONS[:3])


def test_a_sharded_store_answers_as_one_store(tmp_path, embedder, chunker, open_settings):
    docs = corpus(30) + read_paths([SEED])
    build_index(tmp_path / "one", docs, embedder, chunker)
    ShardedIndex.create(tmp_path / "four", 4)
    build_index(tmp_path / "four", docs, embedder, chunker)
    sharded = engine_of(tmp_path / "four", embedder, open_settings)
    assert [s.stats().documents > 0 for s in sharded.store.shards] == [True] * 4
    seed_questions = [json.loads(line)["question"] for line in (ROOT / "evals" / "seed.jsonl").read_text().splitlines()[1:]]
    same_answers(sharded, engine_of(tmp_path / "one", embedder, open_settings), QUESTIONS + seed_questions)
    one = engine_of(tmp_path / "one", embedder, open_settings)
    grouped = sharded.ask(QUESTIONS[0], group_by="source"), one.ask(QUESTIONS[0], group_by="source")
    assert [p.chunk_id for p in grouped[0].passages] == [p.chunk_id for p in grouped[1].passages]
    # Writes go to the shard that owns the document.
    extra = Document(text="The ferry to Batumi was cancelled on Sunday.", url="https://example.org/x")
    sharded.add_documents([extra])
    assert sharded.document(extra.doc_id) and sharded.delete_document(extra.doc_id)
    assert sharded.document(extra.doc_id) is None


def test_a_document_changed_after_its_old_segment_was_merged_away_is_live_once(tmp_path, embedder, chunker, caplog):
    # Version a is replaced by b (a's segment, now all deleted, is rewritten by a merge), then b by c: the
    # merge once forgot b was live, so c was added beside it and the next merge failed on the duplicate.
    build_index(tmp_path, read_paths([SEED]), embedder, chunker)
    engine = Engine.open(tmp_path, embedder=embedder)
    for title in "abc":
        engine.add_documents([Document(text="The same report.", title=title, url="https://example.org/r")])
        engine._merger.submit(lambda: None).result()
    live = [s.segment.doc_ids[o] for s in engine.store.segments for o in np.flatnonzero(s.live_docs)]
    assert len(live) == len(set(live)) == 2
    assert engine.index.merge() is not None and "merging segments failed" not in caplog.text
    assert engine.document(Document(text="The same report.").doc_id).title == "c"


@pytest.mark.faults
def test_two_writers_serialise_and_neither_reverts_the_other(tmp_path, embedder, chunker, open_settings, fault_row):
    folder, index = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    shutil.copy(SEED, folder / "seed.md")
    build_index(index, read_paths([folder]), embedder, chunker, origin=origin_of(folder))
    engine = engine_of(index, embedder, open_settings)
    # A corpus large enough that `rag index` embeds for a few seconds, while documents are added over the API.
    for i in range(40):
        (folder / f"r{i}.txt").write_text(" ".join(d.text for d in corpus(6, i)))
    sync = subprocess.Popen([sys.executable, "-m", "rag.cli", "index", "--corpus", str(folder), "--index", str(index)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    added = [Document(text=f"Bulletin {i}: a convoy reached Kherson on day {i}.") for i in range(5)]
    for doc in added:
        engine.add_documents([doc])
        time.sleep(0.3)
    assert sync.wait(timeout=300) == 0, sync.stderr.read().decode()
    engine.reload()
    kept = sum(bool(engine.document(d.doc_id)) for d in added)
    fault_row("writers racing: `rag index` of 40 files while 5 documents are POSTed", f"{kept} of 5 POSTed kept, "
              f"{engine.store.stats().documents} of 46 documents", "none reverted", kept == 5)
    assert engine.store.stats().documents == 41 + 5 and kept == 5


def test_a_damaged_manifest_is_a_clear_error_and_the_next_sync_rebuilds(tmp_path, embedder, chunker):
    build_index(tmp_path, read_paths([SEED]), embedder, chunker)
    current = tmp_path / os.readlink(tmp_path / "CURRENT")
    data = bytearray(current.read_bytes())
    data[40] ^= 0x01
    current.write_bytes(bytes(data))
    with pytest.raises(CorruptIndex, match=current.name):
        Engine.open(tmp_path, embedder=embedder)
    report = build_index(tmp_path, read_paths([SEED]), embedder, chunker)
    assert report.embedded == 0 and Engine.open(tmp_path, embedder=embedder).ask(QUESTIONS[0]).passages


def test_the_merge_policy_keeps_the_segment_count_bounded():
    segments: list[tuple[int, int]] = []
    rng = random.Random(1)
    for _ in range(3000):
        size = rng.randint(1, 300)
        segments.append((size, size))
        while chosen := merge_plan(segments):
            merged = sum(segments[i][0] for i in chosen)
            segments = [s for i, s in enumerate(segments) if i not in chosen] + [(merged, merged)]
        total = sum(s[0] for s in segments)
        tiers = int(np.log(max(total, MERGE_FLOOR) / MERGE_FLOOR) / np.log(MERGE_FACTOR)) + 2
        assert len(segments) <= (MERGE_FACTOR - 1) * tiers
    assert merge_plan([(70, 100), (100, 100)]) == [0]  # 30% deleted: rewritten


def _acked(lines: list[str]) -> list[tuple[str, str]]:
    return [tuple(line.split()[1:3]) for line in lines if line.startswith("ack ")]


def _no_debris(index: Path) -> None:
    assert not list(index.glob(".building-*")) and not list(index.glob("*.tmp")) and not list(index.glob(".CURRENT-*"))


def crash_after_acknowledged_writes(index: Path, embedder, rounds: int, seed: int = 0) -> int:
    """Kill -9 a writer at a random moment after some acknowledged adds; every acknowledged document must be
    there and searchable after restart, and the next write leaves no debris."""
    rng = random.Random(seed)
    acknowledged: list[tuple[str, str]] = []
    for _ in range(rounds):
        writer = subprocess.Popen([sys.executable, "-m", "tests.fixtures.writer", str(index), "add", "50"],
                                  cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines = []
        wanted = rng.randint(1, 4)
        while len(_acked(lines)) < wanted:
            line = writer.stdout.readline()
            assert line, "the writer died before acknowledging"
            lines.append(line)
        time.sleep(rng.uniform(0, 0.3))  # somewhere in the next write, its merge, or between them
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        acknowledged += _acked(lines)
        engine = Engine.open(index, embedder=embedder)
        for doc_id, url in acknowledged:
            assert engine.document(doc_id) is not None, doc_id
        doc_id, url = acknowledged[-1]
        tag = url.rsplit("/", 1)[1]
        hit = engine.ask(f"checkpoint {tag}", mode="bm25", top_k=1).passages
        assert hit and hit[0].doc_id == doc_id
    engine.add_documents([Document(text="A last bulletin after the crashes.")])
    engine._merger.submit(lambda: None).result()
    _no_debris(index)
    return len(acknowledged)


@pytest.mark.faults
def test_acknowledged_writes_survive_kill_9(tmp_path, embedder, chunker, fault_row):
    rounds = 100 if FAULTS_FULL else 3
    build_index(tmp_path, read_paths([SEED]), embedder, chunker)
    acknowledged = crash_after_acknowledged_writes(tmp_path, embedder, rounds=rounds, seed=7)
    fault_row(f"kill -9 right after acknowledged writes ({rounds} rounds, {acknowledged} writes acknowledged)",
              "0 corrupt / 0 lost / 0 leaked", "0 / 0 / 0", True)  # any loss fails the test before this row


def kill_during(command: list[str], index: Path, rng: random.Random, within: float) -> None:
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(rng.uniform(0, within))
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.faults
def test_kill_9_during_a_sync_or_a_merge_loses_nothing_and_leaves_nothing(tmp_path, embedder, chunker, fault_row):
    rounds = 200 if FAULTS_FULL else 4  # `rag index` and a merge in turn
    folder, index = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    shutil.copy(SEED, folder / "seed.md")
    build_index(index, read_paths([folder]), embedder, chunker, origin=origin_of(folder))
    engine = Engine.open(index, embedder=embedder)
    api_docs = [Document(text=f"Bulletin {i}: the convoy reached checkpoint {i}.") for i in range(6)]
    for doc in api_docs:  # small segments for the merges to fold
        engine.index.put([doc], embedder)
    rng = random.Random(3)
    for round_ in range(rounds):
        (folder / f"r{round_}.txt").write_text(" ".join(d.text for d in corpus(8, round_)))
        sync = [sys.executable, "-m", "rag.cli", "index", "--corpus", str(folder), "--index", str(index)]
        merge = [sys.executable, "-m", "tests.fixtures.writer", str(index), "merge"]
        kill_during(sync if round_ % 2 == 0 else merge, index, rng, within=6.0)
        reopened = Engine.open(index, embedder=embedder)  # always opens
        assert all(reopened.document(d.doc_id) for d in api_docs)
    report = build_index(index, read_paths([folder]), embedder, chunker, origin=origin_of(folder))
    assert report.documents == 1 + rounds + len(api_docs)
    _no_debris(index)
    kept = {p.name for p in index.glob("seg-*")}
    manifests = sorted(index.glob("manifest-*"))
    assert len(manifests) <= 2  # the current one and the one before, for readers that hold it
    referenced = {s["name"] for m in manifests for s in json.loads(m.read_text())["segments"]}
    assert kept == referenced
    fault_row(f"kill -9 at random moments of `rag index` and of a merge ({rounds // 2} each)",
              "0 corrupt / 0 lost / 0 leaked", "0 / 0 / 0", True)  # any failure stops the test before this row


@pytest.mark.slow
def test_a_thousand_adds_and_a_hundred_deletes_answer_every_seed_question_as_a_fresh_build(tmp_path, embedder, chunker,
                                                                                       open_settings):
    questions = [json.loads(line)["question"] for line in (ROOT / "evals" / "seed.jsonl").read_text().splitlines()[1:]]
    # Sentences of random words from the seed article: no two alike, so no ranking turns on a tie or a copy.
    vocabulary = sorted(set(SEED.read_text().split()))
    rng = random.Random(5)
    docs = [Document(text=" ".join(" ".join(rng.choices(vocabulary, k=rng.randint(8, 24))).capitalize() + "."
                                   for _ in range(rng.randint(2, 6))), title=f"Note {i}", source=rng.choice("AB"))
            for i in range(1000)]
    build_index(tmp_path / "incremental", read_paths([SEED]), embedder, chunker)
    engine = engine_of(tmp_path / "incremental", embedder, open_settings)
    for doc in docs:
        engine.add_documents([doc])
    for doc in docs[::10]:
        assert engine.delete_document(doc.doc_id)
    engine._merger.submit(lambda: None).result()
    engine.reload()
    build_index(tmp_path / "fresh", read_paths([SEED]) + [d for d in docs if d not in docs[::10]], embedder, chunker)
    same_answers(engine, engine_of(tmp_path / "fresh", embedder, open_settings), questions)
