"""Shared fixtures: the real model, loaded once per session, and a real index of the shipped corpus."""

from __future__ import annotations

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
