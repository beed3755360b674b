"""`rag serve`: registered under the `rag.commands` entry point group so the library never imports api/."""

from __future__ import annotations

from pathlib import Path

import click

from rag.settings import get_settings


@click.command("serve")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), default=None,
              help="Index directory [default: RAG_INDEX_DIR, or ./index].")
@click.option("--host", default=None, help="Interface to listen on [default: RAG_HOST, 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [default: RAG_PORT, 8000].")
def serve(index_dir: Path | None, host: str | None, port: int | None) -> None:
    """Serve the HTTP API (and the demo page) over an index.

    \b
      rag serve --index index/ --port 8000
    """
    import uvicorn

    from rag import Engine

    from .main import create_app

    settings = get_settings()
    engine = Engine.open(index_dir)  # load before listening, so the first request is not the slow one
    uvicorn.run(create_app(engine=engine), host=host or settings.host, port=port or settings.port)
