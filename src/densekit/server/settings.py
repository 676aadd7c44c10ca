"""Server settings: which collections to serve, where to listen, the API key and the request limits.

A plain dataclass that ``create_app`` receives; nothing here reads the environment except
``ServerSettings.from_environment`` (used by ``densekit serve``), so tests build settings directly.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidInputError

#: Collection names: a letter or digit, then letters, digits, "_" or "-"; no dots, so no "..".
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
API_KEY_VARIABLE = "DENSEKIT_API_KEY"
LOOPBACK_NAMES = ("localhost",)


@dataclass(frozen=True)
class Limits:
    """Per-request limits; each breach is answered with 413 (too much) or 422 (out of range)."""

    #: Largest request body in bytes (JSON or an uploaded image).
    max_body_bytes: int = 4 * 1024 * 1024
    #: Most texts (or documents) in one request.
    max_batch: int = 256
    #: Longest single text, in characters.
    max_text_chars: int = 20_000
    #: Most hits one search may ask for.
    max_k: int = 100

    def __post_init__(self) -> None:
        from ..limits import max_k

        # Upper bounds too: a limit of 10**20 is no limit at all.
        ceilings = {"max_body_bytes": 1024**3, "max_batch": 100_000, "max_text_chars": 10_000_000, "max_k": max_k()}
        for name, ceiling in ceilings.items():
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"limit {name} must be a positive integer, got {value!r}")
            if value > ceiling:
                raise InvalidInputError(f"limit {name} is {value!r:.40}; at most {ceiling}")


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid collection name, else raise naming the rule."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidInputError(
            f"invalid collection name {name!r}: expected 1-64 letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"; False for anything else (0.0.0.0 included)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_HOST_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,62})(\.[a-z0-9]([a-z0-9-]{0,62}))*$")


def check_allowed_host(name: str) -> str:
    """A host name or address for ``--allowed-host``, lower-case, without brackets; else InvalidInputError."""
    cleaned = name.strip().lower().rstrip(".") if isinstance(name, str) else ""
    cleaned = cleaned[1:-1] if cleaned.startswith("[") and cleaned.endswith("]") else cleaned
    try:
        ipaddress.ip_address(cleaned)
        return cleaned
    except ValueError:
        pass
    if not _HOST_NAME.match(cleaned) or len(cleaned) > 253:
        raise InvalidInputError(
            f"allowed host {name!r} is not a host name or IP address (give it without scheme or port, e.g. myhost.lan)"
        )
    return cleaned


@dataclass(frozen=True)
class ServerSettings:
    """Everything ``create_app`` needs.

    Args:
        collections: collection name -> folder or store URL; only these (and valid ones under ``root``) are served.
        root: a folder whose subfolders holding a collection are served under their folder names.
        host, port: where ``densekit serve`` binds (the app itself does not bind).
        api_key: when set, every route but /healthz needs ``Authorization: Bearer <key>``.
        limits: request limits.
        default_model: the model /v1/embeddings and /similarity use when the request names none.
        models: the models clients may name (the default model is always one); clients never name paths.
        reader: the extractive reader /ask uses (default: DENSEKIT_READER, else the library's default).
        allowed_hosts: without an API key, Host and Origin headers must name a loopback host
            (localhost, 127.0.0.0/8, ::1) or one of these (DNS-rebinding defence); ignored with a key.
        writer_idle_seconds: a collection's writer (which holds its writer lock) closes after this
            long without a write request, so other processes can write to it meanwhile.

    Example:
        >>> ServerSettings(collections={"notes": Path("notes")}, default_model="hashing:64")
    """

    collections: dict[str, "Path | str"] = field(default_factory=dict)
    root: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    limits: Limits = field(default_factory=Limits)
    default_model: str | None = None
    models: tuple[str, ...] = ()
    reader: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    writer_idle_seconds: float = 2.0

    def __post_init__(self) -> None:
        idle = self.writer_idle_seconds
        if isinstance(idle, bool) or not isinstance(idle, (int, float)) or not 0 < idle <= 3600:
            raise InvalidInputError(f"writer_idle_seconds is {idle!r:.40}; expected more than 0 and at most 3600 seconds")
        for name in self.collections:
            check_name(name)
        object.__setattr__(self, "allowed_hosts", tuple(check_allowed_host(host) for host in self.allowed_hosts))
        if self.api_key is not None and not self.api_key.strip():
            raise InvalidInputError("api_key is empty; unset it or give a non-empty key")
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise InvalidInputError(f"port must be an integer 0-65535, got {self.port!r}")

    @property
    def model_choices(self) -> tuple[str, ...]:
        """The models clients may ask for, default first."""
        from .. import config

        default = self.default_model or config.default_text_model()
        return (default, *[model for model in self.models if model != default])

    def check_binding(self) -> None:
        """Refuse a non-loopback host without an API key (anyone on the network could use it)."""
        if not is_loopback(self.host) and not self.api_key:
            raise InvalidInputError(
                f"refusing to bind {self.host!r} without an API key: set {API_KEY_VARIABLE} "
                "or bind 127.0.0.1"
            )

    def host_allowed(self, host: str) -> bool:
        """True if a request naming ``host`` (no port, no brackets) may reach a keyless server."""
        return is_loopback(host) or host in self.allowed_hosts

    @classmethod
    def from_environment(cls, **values) -> "ServerSettings":
        """Settings from arguments, taking the API key from DENSEKIT_API_KEY unless given."""
        if values.get("api_key") is None:
            values["api_key"] = os.environ.get(API_KEY_VARIABLE) or None
        return cls(**values)
