"""The stores, keyed by the scheme of a collection's location: the only place that knows them.

A location without a scheme (a folder path) is the embedded store. Adding a store is one line here
(``scheme -> "module:Class"``, imported on first use so an unused store's client library is never
loaded) plus a ``Collection`` subclass that passes tests/collection/test_stores_shared.py.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import InvalidInputError

if TYPE_CHECKING:
    from ..encoders.base import Encoder
    from .base import Collection

#: URL scheme -> "module:Class" of its store; "" is a plain path (a folder).
STORES: dict[str, str] = {
    "": "densekit.collection.embedded.collection:EmbeddedCollection",
    "file": "densekit.collection.embedded.collection:EmbeddedCollection",
    "postgresql": "densekit.collection.postgres.collection:PostgresCollection",
    "postgres": "densekit.collection.postgres.collection:PostgresCollection",
}


def scheme(location: Any) -> str:
    """The registry key of a location: its URL scheme, or "" for a path.

    Example:
        >>> scheme("postgresql://me@db/search"), scheme("news/"), scheme(Path("news"))
        ('postgresql', '', '')
    """
    if isinstance(location, Path) or not isinstance(location, str) or "://" not in location:
        return ""
    return location.split("://", 1)[0].lower()


def is_url(location: Any) -> bool:
    """True when ``location`` names a store by URL (anything but a folder path)."""
    return scheme(location) not in ("", "file")


def store_class(location: Any) -> "type[Collection]":
    """The Collection subclass that stores collections at ``location``."""
    key = scheme(location)
    if key not in STORES:
        known = ", ".join(f"{name}://" for name in STORES if name)
        raise InvalidInputError(f"unknown store {key + '://'!r} in {mask(str(location))!r}; known: a folder path, {known}")
    module, _, name = STORES[key].partition(":")
    return getattr(importlib.import_module(module), name)


def mask(location: str) -> str:
    """``location`` with any password replaced by ***, for messages (user:secret@host -> user:***@host)."""
    from urllib.parse import urlsplit, urlunsplit

    if not is_url(location):
        return location
    try:
        parts = urlsplit(location)
        password = parts.password
    except ValueError:
        return location.split("://", 1)[0] + "://***"
    if password is None:
        return location
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{password}@", ":***@", 1)))


def open_collection(location: Any, **options: Any) -> "Collection":
    """``Collection.open`` for any store (the options are its keywords)."""
    return store_class(location).open(location, **options)


def create_collection(
    location: Any, model: str | None = None, *, encoder: "Encoder | None" = None, read_replicas: Sequence[str] | None = None,
    **options: Any,
) -> "Collection":
    """``Collection.create`` for any store (the options are its keywords)."""
    return store_class(location).create(location, model, encoder=encoder, read_replicas=read_replicas, **options)


def collection_exists(location: Any, *, name: str | None = None) -> bool:
    """True when a collection is already at ``location`` (a folder with a manifest, or the tables)."""
    return store_class(location).exists(location, name=name)
