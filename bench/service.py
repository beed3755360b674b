"""Timing POST /v1/ask through a real uvicorn server (``bench.server``) in its own process on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import httpx

from .stats import Timings

READY_TIMEOUT_S = 300  # a 1M index takes a while to checksum and load


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def server(index: Path, backend: str) -> Iterator[tuple[str, float]]:
    """A running server over ``index``: (base URL, seconds from process start to its first answer)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "bench.server", "--index", str(index), "--backend", backend,
                                "--port", str(port)], cwd=Path(__file__).resolve().parent.parent)
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"bench server exited with {process.returncode}")
                if time.perf_counter() - started > READY_TIMEOUT_S:
                    raise RuntimeError("bench server did not become ready")
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
            _ask(client, "When did the invasion of Ukraine begin?")
        yield url, time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(timeout=30)


def _ask(client: httpx.Client, question: str) -> None:
    response = client.post("/v1/ask", json={"question": question, "top_k": 5, "mode": "hybrid"})
    response.raise_for_status()


def latencies(url: str, questions: Sequence[str], rounds: int) -> Timings:
    """One client asking every question ``rounds`` times in turn (after one untimed round)."""
    timings = Timings()
    with httpx.Client(base_url=url, timeout=60) as client:
        for question in questions:
            _ask(client, question)
        for _ in range(rounds):
            for question in questions:
                with timings.measure():
                    _ask(client, question)
    return timings


def throughput(url: str, questions: Sequence[str], clients: int, seconds: float) -> float:
    """Answers a second with ``clients`` clients asking back to back for ``seconds``."""
    answered = [0] * clients
    deadline = time.perf_counter() + seconds

    def run(worker: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            i = worker
            while time.perf_counter() < deadline:
                _ask(client, questions[i % len(questions)])
                answered[worker] += 1
                i += clients

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(w,)) for w in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(answered) / (time.perf_counter() - started)
