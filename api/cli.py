"""`rag serve`: registered under the `rag.commands` entry point group so the library never imports api/."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("serve")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), default=None,
              help="Index directory [default: RAG_INDEX_DIR, or ./index].")
@click.option("--host", default=None, help="Interface to listen on [default: RAG_HOST, 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [default: RAG_PORT, 8000].")
def serve(index_dir: Path | None, host: str | None, port: int | None) -> None:
    """Serve the HTTP API and the demo widget page over an index.

    Settings (API keys, CORS origins, rate limit, ...) come from RAG_* variables; see api/settings.py.

    \b
      rag serve --index index/ --port 8000
      open http://127.0.0.1:8000/ (demo) or http://127.0.0.1:8000/docs (API)
    """
    import uvicorn

    from .main import create_app
    from .settings import get_api_settings

    settings = get_api_settings()
    # Into the settings, not only uvicorn: /mcp checks Host headers only when it listens on loopback.
    changes = {"index_dir": index_dir, "host": host, "port": port}
    settings = settings.model_copy(update={k: v for k, v in changes.items() if v is not None})
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port)
