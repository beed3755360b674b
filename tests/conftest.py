"""Shared fixtures: the real model, loaded once per session, and a real index of the shipped corpus."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag import Engine, build_index, read_paths
from rag.embedding import Embedder
from rag.retrieve import index_config
from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "corpus" / "000_af7db79aeb653981.md"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture(scope="session")
def chunker(settings, embedder):
    return index_config(settings, embedder).chunker


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory, embedder, chunker) -> Path:
    """An index of the shipped corpus (the seed article), built once."""
    path = tmp_path_factory.mktemp("seed-index")
    build_index(path, read_paths([ROOT / "corpus"]), embedder, chunker)
    return path


@pytest.fixture(scope="session")
def seed_engine(seed_index, settings, embedder) -> Engine:
    return Engine.open(seed_index, settings=settings, embedder=embedder)


# The fault suite's table: tests of tests/test_faults.py (and the crash tests) add a row each; the summary
# prints them as the README's reliability section shows them. `make faults` runs the full sizes.
FAULTS_FULL = os.environ.get("RAG_FAULTS") == "full"
_FAULT_ROWS: list[tuple[str, str, str, bool]] = []


@pytest.fixture(scope="session")
def fault_row():
    """Record a row of the fault table: what was done, what was measured, the goal, whether it was met."""
    def record(fault: str, measured: str, goal: str, met: bool) -> None:
        _FAULT_ROWS.append((fault, measured, goal, met))
    return record


def pytest_terminal_summary(terminalreporter) -> None:
    if not _FAULT_ROWS:
        return
    lines = ["| fault | measured | goal | met |", "|---|---|---|---|"]
    lines += [f"| {fault} | {measured} | {goal} | {'yes' if met else '**no**'} |" for fault, measured, goal, met in _FAULT_ROWS]
    terminalreporter.write_sep("=", f"fault suite ({'full' if FAULTS_FULL else 'short'} sizes)")
    for line in lines:
        terminalreporter.write_line(line)
    report = os.environ.get("RAG_FAULTS_REPORT")
    if report:
        Path(report).write_text("\n".join(lines) + "\n")
