"""`densekit serve`: the HTTP service and web page over some collections (FastAPI + uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def parse_collections(values: list[str]) -> dict[str, Path]:
    """``PATH`` (named after its folder) or ``NAME=PATH`` -> {name: folder}; each must be a collection.

    Example:
        >>> parse_collections(["news=./data/news-2024"])
        {'news': PosixPath('data/news-2024')}
    """
    from ..collection.manifest import read_manifest
    from ..errors import InvalidInputError
    from ..server.settings import check_name

    served: dict[str, Path] = {}
    for value in values:
        name, separator, path = value.partition("=")
        folder = Path(path if separator else value).expanduser()
        name = name if separator else folder.resolve().name
        check_name(name)
        if name in served:
            raise InvalidInputError(f"two collections named {name!r}; give one a name with NAME=PATH")
        read_manifest(folder)  # fails now, naming the folder, rather than on the first request
        served[name] = folder
    return served


def _collection_models(collections: dict[str, Path]) -> list[str]:
    from ..collection.manifest import read_manifest

    models = []
    for folder in collections.values():
        space = read_manifest(folder).get("spaces", {}).get("text")
        if space and space["encoder"].get("kind", "text") == "text" and space["encoder"]["model"] not in models:
            models.append(space["encoder"]["model"])
    return models


def serve(
    collections: Optional[List[str]] = typer.Argument(None, help="Collection folders to serve: PATH or NAME=PATH."),
    root: Optional[Path] = typer.Option(None, "--root", help="Also serve every collection folder directly under this one."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; anything but loopback needs DENSEKIT_API_KEY."),
    port: int = typer.Option(8000, "--port", help="Port to bind."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Default model for /v1/embeddings and /similarity "
                                        "(default: the first collection's model, else densekit's default)."),
    extra_models: Optional[List[str]] = typer.Option(None, "--allow-model", help="Another model clients may name (repeatable)."),
    max_body_bytes: int = typer.Option(4 * 1024 * 1024, "--max-body-bytes", help="Largest request body (413 beyond)."),
    max_batch: int = typer.Option(256, "--max-batch", help="Most texts or documents per request (413 beyond)."),
    max_text_chars: int = typer.Option(20_000, "--max-text-chars", help="Longest text in characters (413 beyond)."),
    max_k: int = typer.Option(100, "--max-k", help="Most hits per search (422 beyond)."),
    max_models: int = typer.Option(
        4, "--max-models", min=1, help="Most models kept in memory (encoders, readers, rerankers); the least "
        "recently used is released first and reloaded when asked for again.",
    ),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level: critical, error, warning, info, debug."),
) -> None:
    """Serve collections over HTTP: OpenAI-compatible /v1/embeddings, search, documents, a web page at /.

    The API key comes from DENSEKIT_API_KEY (never a command-line flag, which other users could see).
    """
    from ..errors import MissingDependencyError

    try:
        import uvicorn

        from ..server import Limits, ServerSettings, create_app
    except ImportError as error:
        raise MissingDependencyError(getattr(error, "name", None) or "fastapi", "densekit serve") from error

    served = parse_collections(collections or [])
    if root is not None and not root.is_dir():
        from ..errors import InvalidInputError

        raise InvalidInputError(f"--root {str(root)!r} is not a folder")
    models = [*_collection_models(served), *(extra_models or [])]
    settings = ServerSettings.from_environment(
        collections=served,
        root=root,
        host=host,
        port=port,
        limits=Limits(max_body_bytes=max_body_bytes, max_batch=max_batch, max_text_chars=max_text_chars, max_k=max_k),
        default_model=model or (models[0] if models else None),
        models=tuple(models),
    )
    settings.check_binding()
    from ..server.models_cache import ModelCache

    cache = ModelCache(max_batch=settings.limits.max_batch, max_models=max_models)
    uvicorn.run(create_app(settings, models=cache), host=host, port=port, log_level=log_level)
