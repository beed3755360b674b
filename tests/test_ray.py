"""Scale-out on a real Ray cluster (head plus two worker nodes on loopback): indexing through Ray builds the
very index a local build does, shards served by actors answer as one machine, and a killed shard gives
partial answers, then comes back. Marked slow and ray: `make test-ray` runs them (CI installs the extra)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from rag import Document, build_index, read_paths
from rag.index import LocalIndex
from rag.embedding import Embedder
from rag.retrieve import index_config
from rag.sharded import ShardedIndex, shard_of
from rag.storage import Scope, Store

from .conftest import ROOT, SEED
from .test_store import QUESTIONS, corpus, engine_of, ranking, same_answers, same_up_to_ties

SEED_QUESTIONS = [json.loads(line)["question"] for line in (ROOT / "evals" / "seed.jsonl").read_text().splitlines()[1:]]


def test_the_local_mode_never_imports_ray():
    code = ("import sys, rag, rag.cli, api.main, api.cli; "
            "assert 'ray' not in sys.modules, 'ray was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.fixture(scope="module")
def cluster():
    ray = pytest.importorskip("ray", reason='the ray extra is not installed: pip install -e ".[ray]"')
    from ray.cluster_utils import Cluster

    # The head takes no work, so every worker and shard lands on one of the two worker nodes.
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="warning")
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="module")
def answering(settings):
    # As test_store's: every ranking in full and in score order, so two indexes compare passage by passage.
    return settings.model_copy(update={"abstain_below": -1.0, "source_penalty": 0.0})


@pytest.fixture(scope="module")
def documents() -> list[Document]:
    return corpus(30) + read_paths([SEED])


@pytest.fixture(scope="module")
def local_index(tmp_path_factory, documents, chunker) -> Path:
    # ONNX, as `rag index` runs the model: its vectors are the same bits whatever batch a text is in, and
    # a Ray build batches texts its own way.
    path = tmp_path_factory.mktemp("local") / "index"
    ShardedIndex.create(path, 2)
    build_index(path, documents, Embedder(backend="onnx"), chunker)
    return path


@pytest.fixture(scope="module")
def ray_index(tmp_path_factory, cluster, documents, chunker) -> Path:
    from rag.ray_cluster import RayEmbedder

    path = tmp_path_factory.mktemp("ray") / "index"
    ShardedIndex.create(path, 2)
    workers = RayEmbedder(backend="onnx", workers=2)
    try:
        build_index(path, documents, workers, chunker, batch_size=workers.index_batch_size)
    finally:
        workers.close()
    return path


@pytest.fixture(scope="module")
def served(cluster, ray_index, answering, embedder):
    from rag.ray_cluster import serving_engine

    engine = serving_engine(cluster.address, answering, ray_index, shards=2, embedder=embedder)
    yield engine
    engine.index.close()


def contents(store: Store) -> dict[tuple[str, int, int, int], np.ndarray]:
    """Every chunk of a store, (document, place, start, end) -> its vector."""
    ids = store.dense_search(np.ones(384, np.float32) / np.sqrt(384), store.stats().chunks, Scope()).ids
    return {(c.doc_id, c.index, c.start, c.end): v for c, v in zip(store.chunks(ids), store.vectors(ids))}


def same_contents(a: Store, b: Store) -> None:
    ours, theirs = contents(a), contents(b)
    assert ours.keys() == theirs.keys() and ours
    assert max(float(np.abs(ours[key] - theirs[key]).max()) for key in ours) <= 1e-5


@pytest.mark.ray
@pytest.mark.slow
def test_indexing_through_ray_builds_the_local_index(ray_index, local_index, embedder, settings, answering):
    config = index_config(settings, embedder)
    for shard in ("shard-00", "shard-01"):
        ours, theirs = (LocalIndex(path / shard, config).open() for path in (ray_index, local_index))
        assert ours.stats() == theirs.stats()  # documents, chunks, sources, dates, and the manifest's name
        assert ([d.doc_id for d in ours.documents(0, 100)] == [d.doc_id for d in theirs.documents(0, 100)]
                and ours.stats().documents > 0)
        same_contents(ours, theirs)
    same_answers(engine_of(ray_index, embedder, answering), engine_of(local_index, embedder, answering),
                 QUESTIONS + SEED_QUESTIONS)


@pytest.mark.ray
@pytest.mark.slow
def test_rag_index_ray_indexes_as_a_local_build(cluster, tmp_path, seed_index, embedder, settings):
    from rag.cli import main

    arguments = ["index", "--corpus", str(ROOT / "corpus"), "--index", str(tmp_path / "index"), "--shards", "2",
                 "--ray", cluster.address, "--ray-workers", "2", "--json"]
    result = CliRunner(env={"RAG_EMBED_BACKEND": embedder.backend}).invoke(main, arguments)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["chunks"] > 0
    config = index_config(settings, embedder)
    same_contents(ShardedIndex(tmp_path / "index", config).open(), LocalIndex(seed_index, config).open())


@pytest.mark.ray
@pytest.mark.slow
def test_shards_served_by_actors_on_two_nodes_answer_as_one_machine(served, local_index, embedder, answering):
    import ray

    nodes = {ray.get(actor.__ray_call__.remote(lambda self: ray.get_runtime_context().get_node_id()))
             for actor in served.index.actors}
    assert len(nodes) == 2  # spread: one shard on each worker node
    local = engine_of(local_index, embedder, answering)
    same_answers(served, local, QUESTIONS + SEED_QUESTIONS)
    assert not served.ask(QUESTIONS[0]).partial
    assert served.verify() is None and served.problem is None  # each actor checked its own files
    # Writes go to the shard that owns the document, and the actors serve it from the next snapshot.
    extra = Document(text="The ferry to Batumi was cancelled on Sunday after the storm.",
                     url="https://example.org/ferry")
    served.add_documents([extra])
    owner = served.index.parts[shard_of(extra.doc_id, 2)]
    assert owner.open().document(extra.doc_id) is not None
    assert served.ask("Why was the ferry to Batumi cancelled?", top_k=1).passages[0].doc_id == extra.doc_id
    assert served.delete_document(extra.doc_id) and served.document(extra.doc_id) is None
    same_answers(served, local, QUESTIONS[:2])


@pytest.mark.ray
@pytest.mark.slow
def test_a_killed_shard_gives_partial_answers_then_comes_back(served, local_index, embedder, answering):
    import ray

    from api.main import create_app
    from api.settings import ApiSettings

    question = QUESTIONS[0]
    local = engine_of(local_index, embedder, answering)
    kept = shard_of(local.ask(question).passages[0].doc_id, 2)  # the shard with the best passage stays up
    settings = ApiSettings(_env_file=None, **answering.model_dump())
    with TestClient(create_app(settings, engine=served)) as client:
        ray.kill(served.index.actors[1 - kept], no_restart=False)  # Ray restarts it, from its files
        answer = client.post("/v1/ask", json={"question": question, "top_k": 10}).json()
    # The service answered from the other shard, and said so.
    assert answer["partial"] is True and answer["unavailable"] == [f"shard-{1 - kept:02d}"]
    assert answer["passages"] and {shard_of(p["doc_id"], 2) for p in answer["passages"]} == {kept}
    deadline = time.monotonic() + 60
    while served.ask(question).partial:
        assert time.monotonic() < deadline, "the killed shard did not come back in 60 s"
        time.sleep(0.5)
    same_up_to_ties(ranking(served, question, "hybrid"), ranking(local, question, "hybrid"))


@pytest.mark.ray
@pytest.mark.slow
def test_rag_serve_ray_puts_the_http_service_in_front_of_the_shard_actors(cluster, ray_index, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "rag.cli", "serve", "--index", str(ray_index), "--ray", cluster.address,
               "--shards", "2", "--port", str(port)]
    with open(tmp_path / "serve.log", "w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                  env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while not _ready(url):
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.5)
        answer = httpx.get(f"{url}/v1/ask", params={"q": QUESTIONS[0]}, timeout=30).json()
        assert answer["passages"] and answer["partial"] is False and answer["unavailable"] == []
    finally:
        server.terminate()
        server.wait(30)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
