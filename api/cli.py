"""`rag serve`: registered under the `rag.commands` entry point group so the library never imports api/."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("serve")
@click.option("--index", "index_dir", type=click.Path(path_type=Path), default=None,
              help="Index directory [default: RAG_INDEX_DIR, or ./index].")
@click.option("--host", default=None, help="Interface to listen on [default: RAG_HOST, 127.0.0.1].")
@click.option("--port", type=int, default=None, help="Port [default: RAG_PORT, 8000].")
@click.option("--ray", "ray_address", metavar="ADDRESS|auto", default=None,
              help="Serve a sharded index's shards from actors on a Ray cluster (auto: the one this machine runs, "
              "else a new one); needs the ray extra.")
@click.option("--shards", type=click.IntRange(1, 64), default=None,
              help="With --ray: the shards the index must have (it was built with `rag index --shards N`).")
def serve(index_dir: Path | None, host: str | None, port: int | None, ray_address: str | None,
          shards: int | None) -> None:
    """Serve the HTTP API and the demo widget page over an index.

    Settings (API keys, CORS origins, rate limit, ...) come from RAG_* variables; see api/settings.py.

    \b
      rag serve --index index/ --port 8000
      rag serve --index index/ --ray auto --shards 2
      open http://127.0.0.1:8000/ (demo) or http://127.0.0.1:8000/docs (API)
    """
    import uvicorn

    from .main import create_app
    from .server import uvicorn_config
    from .settings import get_api_settings

    settings = get_api_settings()
    # Into the settings, not only uvicorn: /mcp checks Host headers only when it listens on loopback.
    changes = {"index_dir": index_dir, "host": host, "port": port}
    settings = settings.model_copy(update={k: v for k, v in changes.items() if v is not None})
    engine = None
    if ray_address:
        try:
            from rag.ray_cluster import serving_engine
        except ImportError:
            raise click.UsageError('--ray needs Ray: pip install -e ".[ray]"') from None
        engine = serving_engine(ray_address, settings, shards=shards)
    elif shards is not None:
        raise click.UsageError("--shards goes with --ray (a local sharded index is served as it was built)")
    uvicorn.Server(uvicorn_config(create_app(settings, engine=engine), settings.host, settings.port)).run()
