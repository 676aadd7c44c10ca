"""``create_app(settings)``: the FastAPI app, built fresh each call with no module-level state.

Routes are plain ``def`` functions, so FastAPI runs them in its thread pool: encoding and search
never block the event loop. Models load once per app (``ModelCache``) and collections are opened
by name through the ``CollectionRegistry``; both live on ``app.state`` and close at shutdown.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from .collections import collections_router
from .embeddings import embeddings_router
from .health import health_router
from .http_errors import install_error_handlers
from .memory import limit_malloc_arenas
from .metrics import Metrics, MetricsMiddleware, metrics_router
from .models_cache import ModelCache
from .registry import CollectionRegistry
from .security import ApiKeyMiddleware, BodyLimitMiddleware, HostCheckMiddleware, JsonBodyMiddleware
from .settings import ServerSettings
from .similarity import similarity_router

STATIC = Path(__file__).parent / "static"


def _optional_routers() -> list:
    """Routers for pipelines built separately (question answering, images), when present."""
    import importlib
    import importlib.util

    routers = []
    for module_name, factory in (("ask", "ask_router"), ("images", "images_router")):
        if importlib.util.find_spec(f"densekit.server.{module_name}") is not None:
            routers.append(getattr(importlib.import_module(f"densekit.server.{module_name}"), factory)())
    return routers


def create_app(settings: ServerSettings, *, models: ModelCache | None = None) -> FastAPI:
    """Build the HTTP service for ``settings``.

    Args:
        settings: collections, API key, limits and models (see ``ServerSettings``).
        models: a model cache to share (tests inject one); a new one by default.

    Returns:
        A FastAPI app; serve it with uvicorn (``densekit serve`` does).

    Example:
        >>> from fastapi.testclient import TestClient
        >>> app = create_app(ServerSettings(collections={"notes": Path("notes")}, default_model="hashing:64"))
        >>> TestClient(app).get("/healthz").json()["status"]
        'ok'
    """
    models = models or ModelCache(max_batch=settings.limits.max_batch)
    registry = CollectionRegistry(settings, models)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Before the first request starts a worker thread: each would otherwise get its own
        # malloc arena (see server/memory.py for the measured difference).
        limit_malloc_arenas()
        try:
            yield
        finally:
            registry.close()
            models.close()

    from .. import __version__

    app = FastAPI(
        title="densekit",
        version=__version__,
        summary="Dense embeddings, collection search and similarity over HTTP (OpenAI-compatible /v1/embeddings).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.models = models
    app.state.registry = registry
    app.state.metrics = Metrics()

    install_error_handlers(app)
    for router in (health_router(), metrics_router(), embeddings_router(), collections_router(),
                   similarity_router(), *_optional_routers()):
        app.include_router(router)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # Added last = outermost: the host (keyless) or key check, then the body limit, then the body's
    # type and JSON, run before anything else; the metrics middleware sees every answer, refusals included.
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(JsonBodyMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.limits.max_body_bytes)
    if settings.api_key:
        app.add_middleware(ApiKeyMiddleware, api_key=settings.api_key)
    else:
        app.add_middleware(HostCheckMiddleware, allowed=settings.host_allowed)
    return app
