"""Access control and body-size limits, as ASGI middleware so no route can forget them.

- API key: when set, every path but /healthz needs ``Authorization: Bearer <key>``. Browsers can
  also send it as HTTP Basic credentials (any user name, the key as password): the page at ``/``
  then works after the browser's own login prompt, with the key never in a URL.
- Body size: a body larger than the limit is refused with 413 before any route reads it, whether
  the client declared a Content-Length or streamed it in chunks.
- Host and Origin (keyless servers): a web page whose domain rebinds to 127.0.0.1 reaches a loopback
  server under its own name, so without a key every request must name a loopback host (localhost,
  127.0.0.0/8, [::1]) or an ``--allowed-host``, and any Origin header must too (403 otherwise).
- Bodies: every request with a body but the image upload form must be ``application/json`` (415), so
  a cross-site HTML form, which can only send form or plain-text bodies, never reaches a route; and
  JSON must be JSON: NaN / Infinity literals, numbers too large for a float and lone surrogates
  ("\\ud800") are refused with 422 before any route sees them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import re
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/healthz"})
#: Routes that take a multipart upload instead of JSON (read-only: they search, never write).
FORM_PATHS = re.compile(r"^/collections/[^/]+/images/search$")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", []):
        if name.lower() == wanted:
            return value.decode("latin-1")
    return None


def host_name(authority: str) -> str:
    """The host of ``name:port`` or ``[v6]:port``, lower-case, without a trailing dot.

    Example:
        >>> host_name("[::1]:8000"), host_name("LocalHost.:80")
        ('::1', 'localhost')
    """
    authority = authority.strip()
    if authority.startswith("["):
        return authority[1:].partition("]")[0].lower()
    if authority.count(":") > 1:  # a bare IPv6 address
        return authority.lower()
    return authority.partition(":")[0].rstrip(".").lower()


class HostCheckMiddleware:
    """Refuses (403) requests whose Host or Origin names a host not in ``allowed`` (DNS rebinding)."""

    def __init__(self, app: ASGIApp, allowed: Callable[[str], bool]):
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host")
        if host is not None and not self.allowed(host_name(host)):
            await self._refuse(send, f"Host {host!r}")
            return
        origin = _header(scope, b"origin")
        if origin is not None and not self._origin_allowed(origin):
            await self._refuse(send, f"Origin {origin!r}")
            return
        await self.app(scope, receive, send)

    def _origin_allowed(self, origin: str) -> bool:
        try:
            parts = urlsplit(origin.strip())
            return parts.scheme in ("http", "https") and bool(parts.netloc) and self.allowed(host_name(parts.netloc))
        except ValueError:
            return False

    @staticmethod
    async def _refuse(send: Send, what: str) -> None:
        await send_json_error(
            send, 403,
            f"{what:.200} is not allowed: a server without an API key answers only loopback names "
            "(localhost, 127.0.0.1, [::1]) and --allowed-host names; set DENSEKIT_API_KEY to serve others",
            "permission_error",
        )


class _NonFinite(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NonFinite(f"{name} is not JSON; numbers must be finite")


def json_problem(body: bytes) -> str | None:
    """Why a JSON body cannot be accepted (non-finite number, lone surrogate), or None.

    Bodies that are not JSON at all are left to the route's own validation (a 422 naming the error).
    """
    try:
        value = json.loads(body, parse_constant=_reject_constant)
    except _NonFinite as error:
        return str(error)
    except ValueError:
        return None
    except RecursionError:
        return "JSON nested too deeply"
    if not _has_problem(value):  # the common case, walked without building any path strings
        return None
    stack = [(value, "body")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return f"{where} is a number too large for a float; numbers must be finite"
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return f"{where} holds a lone surrogate; expected valid Unicode text"
        elif isinstance(item, dict):
            for key, child in item.items():
                stack.append((key, f"{where} key"))
                stack.append((child, f"{where}.{key[:40]}"))
        elif isinstance(item, list):
            stack += [(child, f"{where}[{position}]") for position, child in enumerate(item)]
    return None


def _has_problem(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif isinstance(item, dict):
            stack += item.keys()
            stack += item.values()
        elif isinstance(item, list):
            stack += item
    return False


class JsonBodyMiddleware:
    """Bodies must be application/json (415), valid as JSON proper (422); see the module docstring.

    Runs inside BodyLimitMiddleware, so the body it reads is already bounded.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS or FORM_PATHS.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body:
            media_type = (_header(scope, b"content-type") or "").partition(";")[0].strip().lower()
            if media_type != "application/json" and not media_type.endswith("+json"):
                await send_json_error(
                    send, 415, f"Content-Type {media_type or 'missing'!r:.80} is not accepted; send application/json",
                    "unsupported_media_type",
                )
                return
            problem = json_problem(body)
            if problem is not None:
                await send_json_error(send, 422, problem, "invalid_request_error")
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
