"""GET /healthz: liveness, open to everyone (no API key), says nothing about the data."""

from __future__ import annotations

from fastapi import APIRouter


def health_router() -> APIRouter:
    router = APIRouter(tags=["service"])

    @router.get("/healthz", summary="Liveness check (needs no API key)")
    def healthz() -> dict[str, str]:
        from .. import __version__

        return {"status": "ok", "version": __version__}

    return router
