"""Late-interaction reranking: the best fused candidates reread token by token with the embedding model.

No package ships a cross-encoder's weights for an offline install, so the reranker is the bi-encoder
itself used the ColBERT way: each word of the question finds its most similar token in the passage,
read in context with its title, and the passage scores the mean of those similarities. One vector per
passage blurs the sentence that answers into the rest of the chunk; token matches do not, which helps pick
the right chunk of a long briefing (and on no other eval set, SciFact included: see ``rag eval``). It costs
a forward pass over every candidate (hundreds of milliseconds), so it is a retrieval mode a request asks
for (``rerank``), not the default.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .embedding import Embedder


def late_interaction(embedder: Embedder, question: str, passages: Sequence[str]) -> np.ndarray:
    """Each passage's MaxSim score: the mean over the question's words of their best token cosine."""
    ((vectors, pieces),) = embedder.encode_tokens([question])
    # Punctuation and word pieces of one or two characters ("?", "of", "##s") match something in any text.
    words = [i for i, piece in enumerate(pieces) if piece.isalnum() and len(piece) > 2]
    question_vectors = vectors[words] if words else vectors
    if not len(question_vectors):  # nothing the tokenizer reads as text ("\u200b"): no signal, no reordering
        return np.zeros(len(passages), dtype=np.float32)
    return np.array([float((question_vectors @ tokens.T).max(axis=1).mean()) if len(tokens) else 0.0
                     for tokens, _ in embedder.encode_tokens(passages)], dtype=np.float32)
