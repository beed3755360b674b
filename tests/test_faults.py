"""The fault suite: damaged files, a full disk, bad corpus files. Each test adds a row to the table the
session prints (tests/conftest.py); `make faults` runs the full sizes (RAG_FAULTS=full), `make test` the
short ones."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st

from api.main import create_app
from rag import BadDocument, CorruptIndex, DiskFull, Document, Engine, build_index, read_paths
from rag.docstore import DocumentStore
from rag.index import LocalIndex

from .conftest import FAULTS_FULL, ROOT, SEED
from .fixtures.api_data import AUTH

pytest_plugins = ["tests.fixtures.api_server"]
pytestmark = pytest.mark.faults

QUESTIONS = ["Why does Russia object to NATO expansion?", "Who leads the talks?", "convoy checkpoint curfew"]
BULLETINS = [Document(text=f"Bulletin {i}: the convoy reached checkpoint {i} before the curfew, officials said.",
                      title=f"Bulletin {i}", url=f"https://example.org/bulletin/{i}") for i in range(4)]


def answers(engine: Engine) -> list[list[tuple[str, int]]]:
    return [[(p.doc_id, p.char_start) for p in engine.ask(q, top_k=3).passages] for q in QUESTIONS]


@pytest.fixture(scope="module")
def index(tmp_path_factory, embedder, chunker) -> Path:
    """An index with every kind of file: two manifests, two segments, a tombstone file, the document store."""
    path = tmp_path_factory.mktemp("faults") / "index"
    build_index(path, read_paths([SEED]), embedder, chunker)
    engine = Engine.open(path, embedder=embedder)
    engine.index.put(BULLETINS, embedder)
    engine.index.delete([BULLETINS[0].doc_id], embedder)
    engine.index.close()  # so the damage below meets the files at rest, without SQLite's log beside them
    return path


@pytest.fixture(scope="module")
def baseline(index, embedder) -> tuple[list, dict[str, str]]:
    store = DocumentStore(index)
    try:
        return answers(Engine.open(index, embedder=embedder)), store.digests()
    finally:
        store.close()


def files_of(index: Path) -> list[Path]:
    return sorted(p.relative_to(index) for p in index.rglob("*")
                  if (p.is_file() or p.is_symlink()) and p.name != ".lock")


def damage(path: Path, how: str) -> None:
    if path.is_symlink():  # CURRENT: the name of the manifest it points to, garbled or cut
        target = os.readlink(path)
        path.unlink()
        os.symlink(target[0] + chr(ord(target[1]) ^ 1) + target[2:] if how == "flip" else target[:6], path)
        return
    data = bytearray(path.read_bytes())
    if how == "flip":
        data[len(data) // 2] ^= 0x40
    else:
        del data[len(data) // 2:]
    path.write_bytes(bytes(data))


def outcome(index: Path, name: str, embedder, baseline) -> str:
    """How opening, then writing to, a damaged index went: `clear` (an error or a served older state that
    names the damaged file), `wrong file`, `traceback`, `unchanged` (the damage touched bytes nothing
    uses: every answer and document as before) or `silent` (accepted, and something changed)."""
    try:
        engine = Engine.open(index, embedder=embedder)
        if engine.problem:
            return "clear" if name in engine.problem else "wrong file"
        found = engine.verify()  # readers never read the manifest kept to fall back on; the periodic check must
        if found:
            return "clear" if name in found else "wrong file"
        engine.index.merge()  # nor the document store; the first write must notice
    except CorruptIndex as exc:
        return "clear" if name in str(exc) else "wrong file"
    except Exception:  # noqa: BLE001 - what the table counts
        return "traceback"
    store = DocumentStore(index)
    try:
        same = answers(engine) == baseline[0] and store.digests() == baseline[1]
    finally:
        store.close()
    return "unchanged" if same else "silent"


def test_every_file_flipped_or_truncated_is_a_clear_error_or_served_from_the_last_intact_state(
        index, baseline, embedder, tmp_path, fault_row):
    results: dict[str, str] = {}
    for relative in files_of(index):
        for how in ("flip", "truncate"):
            copy = tmp_path / f"{how}-{relative.as_posix().replace('/', '_')}"
            shutil.copytree(index, copy, symlinks=True)
            damage(copy / relative, how)
            name = relative.name
            results[f"{how} {relative}"] = outcome(copy, name, embedder, baseline)
            shutil.rmtree(copy)
    counts = Counter(results.values())
    fault_row(f"one flipped byte, one truncation of each of the {len(results) // 2} files of an index",
              f"{counts['clear']} clear / {counts['traceback']} tracebacks / {counts['silent']} silent / "
              f"{counts['wrong file']} wrong file / {counts['unchanged']} unchanged",
              "all clear (unused bytes: unchanged), 0 / 0 / 0", counts["clear"] + counts["unchanged"] == len(results))
    # SQLite keeps no page checksums: a flip in the unused space of one of its pages is invisible, and harmless.
    assert {k: v for k, v in results.items() if v != "clear"} in ({}, {"flip documents.sqlite": "unchanged"})


def test_every_single_bit_flip_of_the_manifest_is_caught(index, embedder, fault_row):
    local = LocalIndex(index, Engine.open(index, embedder=embedder).config)
    manifest = index / local.current()
    original = manifest.read_bytes()
    bits = range(len(original) * 8) if FAULTS_FULL else range(0, len(original) * 8, 13)
    counts: Counter[str] = Counter()
    try:
        for bit in bits:
            data = bytearray(original)
            data[bit // 8] ^= 1 << (bit % 7)
            manifest.write_bytes(bytes(data))
            try:
                local.open()
                counts["clear" if local.problem and manifest.name in local.problem else "silent"] += 1
            except CorruptIndex as exc:
                counts["clear" if manifest.name in str(exc) else "wrong file"] += 1
            except Exception:  # noqa: BLE001 - what the table counts
                counts["traceback"] += 1
    finally:
        manifest.write_bytes(original)
    fault_row(f"single-bit flips of the manifest ({len(bits)} of {len(original) * 8})",
              f"{counts['clear']} clear / {counts['traceback']} tracebacks / {counts['silent']} silent",
              "all clear, 0 / 0", counts["clear"] == len(bits))
    assert counts["clear"] == len(bits), counts


def test_damage_under_a_running_engine_changes_no_answer_and_is_found(index, baseline, embedder, tmp_path, fault_row):
    copy = tmp_path / "index"
    shutil.copytree(index, copy, symlinks=True)
    engine = Engine.open(copy, embedder=embedder)
    dense = next(copy.glob("seg-*/dense.faiss"))
    damage(next(copy.glob("seg-*/sentences.npy")), "truncate")
    damage(dense, "flip")
    assert engine.reload() is False  # the same state: nothing to switch to
    same = answers(engine) == baseline[0]
    found = engine.verify()
    fault_row("files truncated and flipped under a running engine", f"answers unchanged: {same}; found by "
              f"verify: {bool(found)}", "same answers, damage reported", same and bool(found))
    assert same and found and "does not match its checksum" in found
    assert "answers still come from the copy checked at load" in engine.problem


@pytest.fixture
def tmpfs(tmp_path):
    """A small file system of its own, so a test can fill it; skipped where mounting one is not allowed."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or 'not root'}): disk-full tests need one")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def filler(tag: int) -> Document:
    words = " ".join(f"word{tag}x{i}" for i in range(3000))
    return Document(text=f"Dispatch {tag}. The ceasefire held overnight near the river. {words}",
                    title=f"Dispatch {tag}", url=f"https://example.org/dispatch/{tag}")


def test_a_full_disk_fails_the_write_clearly_keeps_the_index_and_frees_the_space(tmpfs, embedder, chunker, fault_row):
    index = tmpfs / "index"
    build_index(index, read_paths([SEED]), embedder, chunker)
    engine = Engine.open(index, embedder=embedder)
    before, used = answers(engine), shutil.disk_usage(tmpfs).used
    error = None
    for tag in range(200):
        try:
            engine.add_documents([filler(tag)])
        except DiskFull as exc:
            error = exc
            break
        before, used = answers(engine), shutil.disk_usage(tmpfs).used
    assert error is not None, "the disk never filled"
    message = str(error)
    left = [p.name for p in index.glob(".building-*")] + [p.name for p in index.glob("*.tmp")]
    reopened = Engine.open(index, embedder=embedder)
    kept = answers(reopened) == before
    fault_row("disk full during a write (3 MB tmpfs)", f"{message.split(' writing')[0]!r}; debris {len(left)}; "
              f"index kept: {kept}", "clear error, no debris, index kept", not left and kept)
    assert message.startswith("no space left on device writing") and "MB are free" in message
    assert not left and kept
    assert shutil.disk_usage(tmpfs).used <= used + 256 * 1024  # the failed segment's space is given back


def test_a_full_disk_answers_post_with_507_in_json(tmpfs, embedder, chunker, fault_row):
    from .fixtures.api_server import api_settings, running  # imported as a plugin first, so pytest rewrites it

    index = tmpfs / "index"
    build_index(index, read_paths([SEED]), embedder, chunker)
    with running(create_app(api_settings(index), embedder=embedder)) as server:
        for tag in range(200):
            doc = filler(tag)
            response = server.client.post("/v1/documents", headers=AUTH, json={
                "documents": [{"text": doc.text, "title": doc.title, "url": doc.url}]})
            if response.status_code != 201:
                break
        fault_row("disk full during POST /v1/documents (3 MB tmpfs)", f"HTTP {response.status_code}, "
                  f"{response.headers.get('content-type')}", "507 in JSON", response.status_code == 507)
        assert response.status_code == 507 and "disk is full" in response.json()["detail"]
        assert server.client.post("/v1/ask", json={"question": QUESTIONS[0]}).status_code == 200


def test_corpus_readers_give_documents_or_a_clear_error(tmp_path, fault_row):
    outcomes: Counter[str] = Counter()

    @hypothesis_settings(max_examples=2000 if FAULTS_FULL else 60, deadline=None, database=None)
    @given(suffix=st.sampled_from([".md", ".html", ".jsonl", ".txt"]),
           content=st.one_of(st.binary(max_size=600), st.text(max_size=600).map(str.encode),
                             st.builds(lambda head, body: f"---\n{head}\n---\n{body}".encode(),
                                       st.text(max_size=80), st.text(max_size=200)),
                             st.builds(lambda body: f'{{"text": {body}}}\n'.encode(), st.text(max_size=60))))
    def read_one(suffix: str, content: bytes) -> None:
        path = tmp_path / f"fuzz{suffix}"
        path.write_bytes(content)
        try:
            documents = read_paths([path])
        except BadDocument as exc:
            outcomes["clear error"] += 1
            assert str(path) in str(exc)
            return
        except Exception:
            outcomes["traceback"] += 1
            raise
        outcomes["documents"] += 1
        assert all(isinstance(d, Document) and d.text.strip() for d in documents)

    try:
        read_one()
    finally:
        fault_row(f"fuzzed Markdown, HTML, JSONL and text files ({sum(outcomes.values())} examples)",
                  f"{outcomes['documents']} read, {outcomes['clear error']} clear errors, "
                  f"{outcomes['traceback']} tracebacks", "only documents or clear errors", not outcomes["traceback"])


def raw_get(url: str, target: str) -> tuple[int, dict, bytes]:
    """A GET sent as bytes (httpx refuses query strings over 64 KB before sending them)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def test_every_request_limit_is_a_4xx_in_json(serve, fault_row):
    server = serve()
    results = {}
    for size in (5_000, 100_000, 1_000_000):
        status, headers, body = raw_get(server.url, "/v1/ask?question=" + "a" * size)
        results[size] = (status, headers.get("content-type"), json.loads(body)["detail"])
    big = server.client.post("/v1/ask", content=b"{" + b" " * 3_000_000 + b"}",
                             headers={"content-type": "application/json"})
    results["body"] = (big.status_code, big.headers["content-type"], big.json()["detail"])
    ok = all(400 <= status < 500 and kind == "application/json" for status, kind, _ in results.values())
    fault_row("GET questions of 5 KB, 100 KB, 1 MB; a 3 MB body", ", ".join(str(r[0]) for r in results.values())
              + ", all JSON" if ok else str(results), "4xx in JSON", ok)
    assert results[5_000][0] == 422 and results[100_000][0] in (400, 422) and results[1_000_000][0] == 400
    assert "send long questions in a POST body" in results[1_000_000][2]
    assert results["body"][0] == 413 and ok


def test_overload_is_503_with_retry_after_not_an_unbounded_queue(serve, fault_row):
    server = serve(max_in_flight=2)
    statuses: list[tuple[int, str | None]] = []

    def ask(_: int) -> None:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            response = client.post("/v1/ask", json={"question": QUESTIONS[0], "mode": "rerank"})
            statuses.append((response.status_code, response.headers.get("retry-after")))

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(ask, range(32)))
    counts = Counter(status for status, _ in statuses)
    fault_row("32 questions at once, at most 2 handled at once", f"{counts[200]} answered, {counts[503]} told 503 "
              f"with Retry-After, {len(statuses) - counts[200] - counts[503]} other", "only 200 and 503 + Retry-After",
              set(counts) <= {200, 503} and counts[503] > 0)
    assert set(counts) == {200, 503} and all(after == "1" for status, after in statuses if status == 503)
    assert server.client.get("/readyz").status_code == 200  # probes are never shed
    assert server.client.post("/v1/ask", json={"question": QUESTIONS[0]}).status_code == 200


def test_the_service_keeps_serving_the_last_intact_state_and_says_why_once(serve, embedder, caplog, fault_row):
    server = serve()
    before = server.client.get("/readyz").json()
    asked = server.client.post("/v1/ask", json={"question": QUESTIONS[0]}).json()
    # A writer adds a generation whose new segment is damaged before CURRENT switches to it (written in a
    # copy, then moved in, so the service cannot load it before the damage).
    live = server.app.state.settings.index_dir
    copy = live.parent / f"{live.name}-copy"
    shutil.copytree(live, copy, symlinks=True)
    LocalIndex(copy, server.engine.config).put([BULLETINS[1]], embedder)
    target = os.readlink(copy / "CURRENT")
    for path in [copy / target, *(p for p in copy.glob("seg-*") if not (live / p.name).exists())]:
        if path.is_dir():
            damage(path / "dense.faiss", "flip")
        shutil.move(path, live / path.name)
    with caplog.at_level("WARNING", logger="api.deps"):
        os.symlink(target, live / "CURRENT.new")
        os.replace(live / "CURRENT.new", live / "CURRENT")
        time.sleep(1.5)  # several polls
        ready = server.client.get("/readyz").json()
    metrics = server.client.get("/metrics").text
    again = server.client.post("/v1/ask", json={"question": QUESTIONS[0]}).json()
    logged = [r for r in caplog.records if "dense.faiss" in r.getMessage()]
    ok = ready["status"] == "degraded" and ready["generation"] == before["generation"] and len(logged) == 1
    fault_row("a new generation damaged under a running service", f"readyz {ready['status']}, serving "
              f"{'the last intact' if ready['generation'] == before['generation'] else 'another'} state, "
              f"logged {len(logged)}x", "keeps serving, says why, logs once", ok)
    assert ok and "dense.faiss" in ready["problem"] and "rag_index_degraded 1.0" in metrics
    assert again["passages"] == asked["passages"]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def test_hot_swap_under_load_serves_every_question(serve, embedder, chunker, fault_row):
    clients, seconds = (8, 60.0) if FAULTS_FULL else (4, 8.0)
    server = serve()
    index = server.app.state.settings.index_dir
    done = time.monotonic() + seconds
    results: list[tuple[int, float]] = []
    wrong: list[str] = []

    def ask(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            while time.monotonic() < done:
                started = time.perf_counter()
                response = client.post("/v1/ask", json={"question": QUESTIONS[worker % len(QUESTIONS)], "top_k": 3})
                results.append((response.status_code, time.perf_counter() - started))
                for passage in response.json().get("passages", [])[:1] if response.status_code == 200 else []:
                    text = client.get(f"/v1/documents/{passage['doc_id']}").json()["text"]
                    if text[passage["char_start"]:passage["char_end"]] != passage["text"]:
                        wrong.append(passage["doc_id"])

    def write() -> None:  # POSTs over HTTP, and `rag index` rebuilds from another writer, until the end
        round_ = 0
        while time.monotonic() < done:
            doc = BULLETINS[round_ % len(BULLETINS)]
            server.client.post("/v1/documents", headers=AUTH, json={"documents": [
                {"text": f"{doc.text} Round {round_}.", "url": f"{doc.url}-{round_}"}]})
            build_index(index, read_paths([SEED]), embedder, chunker, force=True)
            round_ += 1

    with ThreadPoolExecutor(clients + 1) as pool:
        futures = [pool.submit(ask, i) for i in range(clients)] + [pool.submit(write)]
        for future in futures:
            future.result()
    errors = sum(status != 200 for status, _ in results)
    latencies = [s * 1000 for _, s in results]
    fault_row(f"hot swap: {clients} clients for {seconds:.0f} s while documents are added and the index rebuilt",
              f"{len(results)} answers, {errors} errors, {len(wrong)} wrong citations, p50/p99 "
              f"{percentile(latencies, 0.5):.0f}/{percentile(latencies, 0.99):.0f} ms", "0 errors, 0 wrong",
              errors == 0 and not wrong)
    assert errors == 0 and not wrong and len(results) > clients


def rss_kb() -> int:
    return int(next(line.split()[1] for line in Path("/proc/self/status").read_text().splitlines()
                    if line.startswith("VmRSS:")))


def test_a_steady_load_holds_memory_and_latency(serve, fault_row):
    seconds, rate = (600.0, 10.0) if FAULTS_FULL else (20.0, 10.0)
    server = serve()
    questions = [f"{q} ({i})" for i in range(50) for q in QUESTIONS]  # distinct, so no cache hides a leak
    latencies: list[tuple[float, float]] = []
    started = time.monotonic()
    rss: list[int] = []
    i = 0
    while (elapsed := time.monotonic() - started) < seconds:
        sent = time.perf_counter()
        assert server.client.post("/v1/ask", json={"question": questions[i % len(questions)]}).status_code == 200
        latencies.append((elapsed, (time.perf_counter() - sent) * 1000))
        if elapsed >= seconds * 0.1 and (not rss or i % 50 == 0):  # after a warm-up tenth
            rss.append(rss_kb())
        i += 1
        time.sleep(max(0.0, (i / rate) - (time.monotonic() - started)))
    growth = (rss[-1] - rss[0]) / rss[0]
    # p99 in nine windows after the warm-up; a drift is the middle of the last three against the middle of
    # the first three, so one window slowed by something else on the machine does not count as a drift.
    width = seconds * 0.9 / 9
    windows = [percentile([ms for at, ms in latencies if seconds * 0.1 + w * width <= at < seconds * 0.1 + (w + 1) * width],
                          0.99) for w in range(9)]
    p99_early, p99_late = sorted(windows[:3])[1], sorted(windows[-3:])[1]
    # Latency is judged only in the full run: a 2 s window of the short one holds 20 answers, so its p99 is
    # one answer, and a few seconds of other work on the machine read as a drift (make test failed so once).
    stable = p99_late <= max(1.5 * p99_early, p99_early + 20) or not FAULTS_FULL
    goal = "RSS growth <= 5%, p99 stable" if FAULTS_FULL else "RSS growth <= 5% (p99: the full run judges it)"
    fault_row(f"soak: {rate:.0f} questions/s for {seconds:.0f} s", f"RSS {growth:+.1%}, p99 {p99_early:.0f} -> "
              f"{p99_late:.0f} ms", goal, growth <= 0.05 and stable)
    assert growth <= 0.05 and stable, (growth, [round(w) for w in windows])


def test_two_rag_index_at_once_and_deletes_during_a_merge_lose_nothing(tmp_path, fault_row):
    folder, index = tmp_path / "corpus", tmp_path / "index"
    folder.mkdir()
    shutil.copy(SEED, folder / "seed.md")
    for i in range(12):
        (folder / f"r{i}.txt").write_text(f"Report {i}. " + " ".join(f"The convoy {i} passed post {j}." for j in range(40)))
    command = [sys.executable, "-m", "rag.cli", "index", "--corpus", str(folder), "--index", str(index)]
    runs = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)]
    codes = [run.wait(timeout=600) for run in runs]
    engine = Engine.open(index)  # with the embedder `rag index` built it with (int8 passages)
    indexed = engine.store.stats().documents
    # Small segments for a merge to fold, then deletes while another process merges them.
    added = [Document(text=f"Bulletin {i}: the ferry left at {i} o'clock.") for i in range(8)]
    for doc in added:
        engine.index.put([doc], engine.embedder)
    merge = subprocess.Popen([sys.executable, "-m", "tests.fixtures.writer", str(index), "merge"], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert merge.stdout.readline().strip() == "merging"
    deleted = [engine.delete_document(doc.doc_id) for doc in added[:4]]
    assert merge.wait(timeout=300) == 0
    engine.reload()
    kept = [bool(engine.document(doc.doc_id)) for doc in added]
    ok = codes == [0, 0] and indexed == 13 and all(deleted) and kept == [False] * 4 + [True] * 4
    fault_row("writers racing: two `rag index` at once; 4 deletes during a merge in another process",
              f"exit codes {codes}, {indexed} of 13 documents; {sum(deleted)} deleted, {sum(kept[4:])} of 4 kept",
              "both succeed, deletes and documents kept", ok)
    assert ok, (codes, [run.stderr.read().decode()[-500:] for run in runs], indexed, deleted, kept)


def test_a_rebuild_needs_room_for_one_more_copy_of_the_index(tmpfs, embedder, chunker, fault_row):
    index = tmpfs / "index"
    build_index(index, read_paths([SEED]), embedder, chunker)
    engine = Engine.open(index, embedder=embedder)
    for doc in BULLETINS[:3]:  # four small segments, which a merge folds into one
        engine.index.put([doc], embedder)
    assert engine.index.merge()  # the state before, kept to fall back on, holds a second copy of everything
    merged = max(index.glob("seg-*"), key=lambda p: p.stat().st_mtime)
    size = sum(p.stat().st_size for p in merged.rglob("*") if p.is_file())
    # Room for half a copy more: a rebuild fits only when it first lets go of what just the old state used.
    spare = shutil.disk_usage(tmpfs).free - size // 2
    (tmpfs / "ballast").write_bytes(b"\0" * max(0, spare))
    try:
        rebuilt = engine.index.sync({}, embedder, rebuild=True).documents
    except DiskFull as exc:
        rebuilt = str(exc)
    fault_row("a rebuild with two copies of the index on disk and room for half a copy more", f"{rebuilt!r}",
              "rebuilt: 4 documents", rebuilt == 4)
    assert rebuilt == 4
