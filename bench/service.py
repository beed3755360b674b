"""Timing POST /v1/ask through a real uvicorn server (``bench.server``) in its own process on 127.0.0.1.

Clients are the standard library's ``http.client`` on one keep-alive connection each: it adds about
0.45 ms a request on this machine against httpx's 0.8 ms (a trivial FastAPI endpoint, measured), and the
benchmark is about the service's time, not the client's.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence
from urllib.parse import urlsplit


from .stats import Timings, rss_mb

READY_TIMEOUT_S = 300  # a 1M index takes a while to checksum and load


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Running:
    """A bench server that has answered once."""

    url: str
    first_answer_s: float  # from process start to its first answer
    pid: int

    def rss_mb(self) -> float:
        return rss_mb(self.pid)


@contextmanager
def server(index: Path, backend: str, api_key: str = "", reranker: str = "none") -> Iterator[Running]:
    """A running server over ``index``. With ``api_key``, that key may add and delete documents.
    ``reranker`` is its RAG_RERANKER: ``none`` by default, so the hybrid figures stay the retrieval alone,
    comparable across versions."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    command = [sys.executable, "-m", "bench.server", "--index", str(index), "--backend", backend, "--port", str(port),
               "--reranker", reranker]
    process = subprocess.Popen(command + (["--api-key", api_key] if api_key else []),
                               cwd=Path(__file__).resolve().parent.parent)
    try:
        while not _ready(url):
            if process.poll() is not None:
                raise RuntimeError(f"bench server exited with {process.returncode}")
            if time.perf_counter() - started > READY_TIMEOUT_S:
                raise RuntimeError("bench server did not become ready")
            time.sleep(0.05)
        first = _Client(url)
        first.ask("When did the invasion of Ukraine begin?")
        first.close()
        yield Running(url, time.perf_counter() - started, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


def _ready(url: str) -> bool:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        connection.request("GET", "/readyz")
        return connection.getresponse().status == 200
    except OSError:  # not listening yet
        return False
    finally:
        connection.close()


class _Client:
    """One keep-alive connection asking POST /v1/ask."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)

    def ask(self, question: str) -> None:
        body = json.dumps({"question": question, "top_k": 5, "mode": "hybrid"})
        self._connection.request("POST", "/v1/ask", body, {"Content-Type": "application/json"})
        response = self._connection.getresponse()
        content = response.read()
        if response.status != 200:
            raise RuntimeError(f"POST /v1/ask answered {response.status}: {content[:200]!r}")

    def close(self) -> None:
        self._connection.close()


class Writer(_Client):
    """One keep-alive connection adding (POST /v1/documents) and deleting documents with an API key."""

    def __init__(self, url: str, api_key: str) -> None:
        super().__init__(url)
        self._headers = {"Content-Type": "application/json", "Authorization": f"Bearer {api_key}"}

    def _call(self, method: str, path: str, body: str | None, expected: int) -> bytes:
        self._connection.request(method, path, body, self._headers)
        response = self._connection.getresponse()
        content = response.read()
        if response.status != expected:
            raise RuntimeError(f"{method} {path} answered {response.status}: {content[:200]!r}")
        return content

    def add(self, document: dict) -> dict:
        """POST one document (the API's fields); the service's answer (doc_ids, embedded, index)."""
        return json.loads(self._call("POST", "/v1/documents", json.dumps({"documents": [document]}), 201))

    def delete(self, doc_id: str) -> None:
        self._call("DELETE", f"/v1/documents/{doc_id}", None, 204)


def latencies(url: str, questions: Sequence[str], rounds: int) -> Timings:
    """One client asking every question ``rounds`` times in turn (after one untimed round)."""
    timings = Timings()
    client = _Client(url)
    try:
        for question in questions:
            client.ask(question)
        for _ in range(rounds):
            for question in questions:
                with timings.measure():
                    client.ask(question)
    finally:
        client.close()
    return timings


def throughput(url: str, questions: Sequence[str], clients: int, seconds: float) -> float:
    """Answers a second with ``clients`` clients asking back to back for ``seconds``."""
    answered = [0] * clients
    deadline = time.perf_counter() + seconds

    def run(worker: int) -> None:
        client = _Client(url)
        i = worker
        while time.perf_counter() < deadline:
            client.ask(questions[i % len(questions)])
            answered[worker] += 1
            i += clients
        client.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(w,)) for w in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(answered) / (time.perf_counter() - started)
