"""Library errors become 4xx answers with a JSON body that says what was wrong.

The body follows OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``, so OpenAI
clients show the message; every route answers errors the same way.
"""

from __future__ import annotations

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
        return error_response(status, str(error), kind)

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
