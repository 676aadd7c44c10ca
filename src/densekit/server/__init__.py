"""The HTTP service: ``create_app(ServerSettings(...))`` builds a FastAPI app (``densekit serve`` runs it)."""

from .app import create_app
from .settings import Limits, ServerSettings

__all__ = ["create_app", "Limits", "ServerSettings"]
