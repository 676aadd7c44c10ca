"""Access control and body-size limits, as ASGI middleware so no route can forget them.

- API key: when set, every path but /healthz needs ``Authorization: Bearer <key>``. Browsers can
  also send it as HTTP Basic credentials (any user name, the key as password): the page at ``/``
  then works after the browser's own login prompt, with the key never in a URL.
- Body size: a body larger than the limit is refused with 413 before any route reads it, whether
  the client declared a Content-Length or streamed it in chunks.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from typing import Any, Awaitable, Callable

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/healthz"})


async def send_json_error(send: Send, status: int, message: str, kind: str,
                          headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"error": {"message": message, "type": kind, "param": None, "code": status}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                        *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": body})


def presented_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The key from ``Authorization: Bearer KEY`` or ``Basic base64(user:KEY)``, else None."""
    for name, value in headers:
        if name.lower() != b"authorization":
            continue
        scheme, _, credentials = value.decode("latin-1").strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer":
            return credentials
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            return decoded.partition(":")[2]
    return None


class ApiKeyMiddleware:
    """Refuses (401) every request but those to OPEN_PATHS that lacks the right key."""

    def __init__(self, app: ASGIApp, api_key: str):
        self.app = app
        self._key = api_key.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        key = presented_key(scope.get("headers", []))
        # Constant-time comparison: response timing must not reveal how much of a guess was right.
        if key is not None and hmac.compare_digest(key.encode("utf-8"), self._key):
            await self.app(scope, receive, send)
            return
        message = "missing API key: send 'Authorization: Bearer <key>'" if key is None else "wrong API key"
        await send_json_error(
            send, 401, message, "authentication_error",
            headers=[(b"www-authenticate", b'Basic realm="densekit", charset="UTF-8"')]
            if scope["path"] == "/" else [(b"www-authenticate", b"Bearer")],
        )


class BodyLimitMiddleware:
    """Reads the body up to ``max_bytes`` and replays it to the app; more is a 413."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name.lower() == b"content-length" and value.strip().isdigit() and int(value) > self.max_bytes:
                await self._refuse(send, int(value))
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, size)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body only a disconnect can come

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, size: int) -> None:
        await send_json_error(
            send, 413,
            f"request body is {size} bytes or more; the limit is {self.max_bytes} bytes",
            "request_too_large",
        )
