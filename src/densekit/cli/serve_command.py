"""`densekit serve`: the HTTP service and web page over some collections (FastAPI + uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def parse_collections(values: list[str]) -> dict[str, "Path | str"]:
    """``PATH`` (named after its folder) or ``NAME=LOCATION`` -> {name: location}; each must hold a collection.

    LOCATION is a folder, a store URL (``postgresql://me@db/search``; the collection there is NAME unless
    the URL says ``?collection=``), or ``env:VARIABLE`` to read the URL from the environment, so that a
    password stays out of the process list.

    Example:
        >>> parse_collections(["news=./data/news-2024", "live=env:NEWS_DB"])
        {'news': PosixPath('data/news-2024'), 'live': 'postgresql://me:secret@db/search?collection=live'}
    """
    import os

    from ..collection import Collection
    from ..collection.registry import is_url, mask
    from ..errors import InvalidInputError
    from ..server.settings import check_name

    served: dict[str, Path | str] = {}
    for value in values:
        name, separator, raw = value.partition("=")
        if separator and not name:
            raise InvalidInputError(f"{value!r}: expected PATH or NAME=LOCATION")
        raw = raw if separator else value
        if raw.startswith("env:"):
            variable = raw[len("env:"):]
            if not os.environ.get(variable):
                raise InvalidInputError(f"{value!r}: the environment variable {variable!r} is not set")
            raw = os.environ[variable]
        location: Path | str
        if is_url(raw):
            if not separator:
                raise InvalidInputError(f"{mask(raw)!r}: name a store URL, as NAME={mask(raw)}")
            location = raw if "collection=" in raw else f"{raw}{'&' if '?' in raw else '?'}collection={name}"
        else:
            location = Path(raw).expanduser()
            name = name if separator else location.resolve().name
        check_name(name)
        if name in served:
            raise InvalidInputError(f"two collections named {name!r}; give one a name with NAME=PATH")
        # Fails now, naming the location, rather than on the first request.
        Collection.open(location, readonly=True).close()
        served[name] = location
    return served


def _collection_models(collections: dict[str, "Path | str"]) -> list[str]:
    from ..collection import Collection

    models = []
    for location in collections.values():
        with Collection.open(location, readonly=True) as collection:
            space = collection.spaces.get("text")
        if space and space.kind == "text" and space.encoder_info["model"] not in models:
            models.append(space.encoder_info["model"])
    return models


def serve(
    collections: Optional[List[str]] = typer.Argument(None, help="Collections to serve: PATH, NAME=PATH, NAME=postgresql://... or NAME=env:VARIABLE (a URL kept out of the process list)."),
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
    allowed_hosts: Optional[List[str]] = typer.Option(
        None, "--allowed-host", help="Without an API key only loopback Host/Origin names are answered "
        "(DNS-rebinding defence); also answer this name (repeatable, e.g. myhost.lan)."),
    writer_idle_seconds: float = typer.Option(
        2.0, "--writer-idle-seconds", help="Close a collection's writer after this long without writes, so other "
        "processes (densekit index) can write to it meanwhile."),
) -> None:
    """Serve collections over HTTP: OpenAI-compatible /v1/embeddings, search, documents, a web page at /.

    The API key comes from DENSEKIT_API_KEY (never a command-line flag, which other users could see).
    """
    from ..optional import require

    for module in ("fastapi", "uvicorn", "python_multipart"):
        require(module, extra="server", feature="densekit serve")
    import uvicorn

    from ..server import Limits, ServerSettings, create_app

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
        allowed_hosts=tuple(allowed_hosts or ()),
        writer_idle_seconds=writer_idle_seconds,
    )
    settings.check_binding()
    from ..server.models_cache import ModelCache

    cache = ModelCache(max_batch=settings.limits.max_batch, max_models=max_models)
    uvicorn.run(create_app(settings, models=cache), host=host, port=port, log_level=log_level)
