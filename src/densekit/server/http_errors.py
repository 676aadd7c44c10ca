"""Library errors become 4xx answers with a JSON body that says what was wrong.

The body follows OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``, so OpenAI
clients show the message; every route answers errors the same way. No answer names a server path:
library messages have the served folders replaced by their collection names and any other absolute
path by ``<server path>``; a missing model is named, never the folders searched for it; and an error
no handler expected is a JSON 500 that names only its type (the server log has the traceback).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    CollectionError,
    CollectionLockedError,
    DensekitError,
    InvalidInputError,
    MissingDependencyError,
    ModelMismatchError,
    ModelNotFoundError,
)
from .registry import UnknownCollectionError


class ApiError(Exception):
    """An error a route raises on purpose, with its HTTP status."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", param: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param


def error_body(status: int, message: str, kind: str, param: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": status, **extra}}


def error_response(status: int, message: str, kind: str = "invalid_request_error", param: str | None = None,
                   headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(status, message, kind, param, **extra), status_code=status, headers=headers)


# Most specific first: the first matching class decides the status.
_STATUS: list[tuple[type[DensekitError], int, str]] = [
    (UnknownCollectionError, 404, "not_found_error"),
    (CollectionLockedError, 409, "conflict_error"),
    (ModelMismatchError, 409, "conflict_error"),
    (InvalidInputError, 422, "invalid_request_error"),
    (ModelNotFoundError, 503, "model_unavailable_error"),
    (MissingDependencyError, 501, "not_implemented_error"),
    (CollectionError, 409, "conflict_error"),
]


def status_for(error: DensekitError) -> tuple[int, str]:
    for error_type, status, kind in _STATUS:
        if isinstance(error, error_type):
            return status, kind
    return 400, "invalid_request_error"


# A quoted path (may hold spaces), else an unquoted absolute POSIX, home-relative or Windows path.
_QUOTED_PATH = re.compile(r"""(['"])(?:~|[A-Za-z]:)?[/\\][^'"]*\1""")
_BARE_PATH = re.compile(r"""(?<![\w.~/])(?:~|[A-Za-z]:)?[/\\](?:[^\s'",;)]+)""")
_log = logging.getLogger("densekit.server")


def served_paths(request: Request) -> dict[str, str]:
    """Each served folder (as configured and resolved) -> "collection NAME", longest first; the root too."""
    settings = request.app.state.settings
    names: dict[str, str] = {}
    for name, folder in settings.collections.items():
        for form in {str(folder), str(Path(folder).expanduser().resolve())}:
            names[form] = f"collection {name!r}"
    if settings.root is not None:
        for form in {str(settings.root), str(Path(settings.root).expanduser().resolve())}:
            names[form + "/"] = ROOT_CHILD  # root/NAME is the collection NAME
            names[form] = "the collections root"
    return dict(sorted(names.items(), key=lambda pair: -len(pair[0])))


ROOT_CHILD = "\0root-child"


def scrub_paths(message: str, known: dict[str, str] | None = None) -> str:
    """``message`` with known folders replaced by their names and any other absolute path by <server path>.

    Example:
        >>> scrub_paths("could not commit '/srv/c/news': disk full", {"/srv/c/news": "collection 'news'"})
        "could not commit collection 'news': disk full"
    """
    for path, name in (known or {}).items():
        if not path or path in ("/", ".", "./"):
            continue
        if name == ROOT_CHILD:
            child = re.escape(path) + r"([A-Za-z0-9][A-Za-z0-9_-]{0,63})"
            message = re.sub(f"'{child}'|{child}", lambda match: f"collection {(match[1] or match[2])!r}", message)
        else:
            message = message.replace(repr(path), name).replace(path, name)
    message = _QUOTED_PATH.sub("<server path>", message)
    return _BARE_PATH.sub("<server path>", message)


def _describe_validation(errors: list[dict[str, Any]]) -> str:
    parts = []
    for error in errors[:5]:
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        parts.append(f"{location or 'body'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into the JSON error shape."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.message, error.kind, error.param)

    @app.exception_handler(DensekitError)
    async def densekit_error(request: Request, error: DensekitError) -> JSONResponse:
        status, kind = status_for(error)
        if isinstance(error, ModelNotFoundError):  # what is missing and how to fix it, no cache folders
            message = scrub_paths(error.public_message(), served_paths(request))
            reference = error.reference
            if "/" in reference and (reference.startswith(("/", "~", ".")) or Path(reference).expanduser().exists()):
                message = message.replace(reference, f".../{Path(reference).name}")  # a configured folder: its name only
        else:
            message = scrub_paths(str(error), served_paths(request))
        return error_response(status, message, kind)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
        # Anything a route did not expect (a store's driver error, a bug): JSON, and nothing
        # of the message, which may hold paths or data; the log keeps the traceback.
        _log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
        return error_response(500, f"internal error ({type(error).__name__}); the server log has the details",
                              "server_error")

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(item.get("loc", ())), "msg": item.get("msg"), "type": item.get("type")}
            for item in error.errors()
        ]
        return error_response(422, _describe_validation(details), details=details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        message = error.detail if isinstance(error.detail, str) else str(error.detail)
        if error.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}; see /docs"
        return error_response(error.status_code, message, "http_error", headers=getattr(error, "headers", None))
