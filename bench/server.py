"""``python -m bench.server``: the HTTP service over one index, as `rag serve` runs it, with a chosen embedding backend."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from api.main import create_app
from api.settings import ApiSettings
from rag import Engine
from rag.embedding import BACKENDS, Embedder
from rag.settings import get_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--backend", choices=BACKENDS, default="onnx")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", default="", help="a key allowed to add and delete documents (none: writes refused)")
    parser.add_argument("--reranker", default=get_settings().reranker, help="RAG_RERANKER for this server")
    args = parser.parse_args()
    settings = get_settings().model_copy(update={"reranker": args.reranker})
    engine = Engine.open(args.index, settings=settings, embedder=Embedder(backend=args.backend))
    # The default per-client rate limit would refuse a benchmark's requests; the limiter itself still runs.
    api_settings = ApiSettings(rate_limit="1000000/second", api_keys=[args.api_key] if args.api_key else [])
    app = create_app(api_settings, engine=engine)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
