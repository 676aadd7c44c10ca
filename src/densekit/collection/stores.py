"""Choosing the store from a location: a folder is the embedded store (FAISS + SQLite), a
``postgresql://`` URL is the PostgreSQL + pgvector store. Both offer the same collection API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..encoders.base import Encoder
from ..errors import InvalidInputError


def is_postgres(location: str | Path) -> bool:
    """True when ``location`` names a PostgreSQL database rather than a folder.

    Example:
        >>> is_postgres("postgresql://me@db:5432/search?collection=news"), is_postgres("news")
        (True, False)
    """
    from .postgres.connection import is_postgres_url

    return is_postgres_url(location)


def _no_replicas_for_folders(location: Any, read_replicas: Sequence[str] | None) -> None:
    if read_replicas:
        raise InvalidInputError(
            f"read replicas are for PostgreSQL collections; {str(location)!r} is a folder (embedded store)"
        )


def open_collection(
    location: str | Path,
    *,
    name: str | None = None,
    readonly: bool = False,
    model: str | None = None,
    encoder: Encoder | None = None,
    read_replicas: Sequence[str] | None = None,
):
    """Open an existing collection in either store.

    Args:
        location: a collection folder, or ``postgresql://user@host:port/db`` (``?collection=NAME`` allowed).
        name: the collection's name in the database (PostgreSQL only; else from the URL).
        readonly / model / encoder: as ``Collection.open``.
        read_replicas: PostgreSQL replica URLs that serve searches (writes go to ``location``).
    Returns:
        a ``Collection`` (folder) or a ``PostgresCollection`` (URL).

    Example:
        >>> open_collection("postgresql://me@db/search", name="news", readonly=True).search("rates", k=3)
    """
    if is_postgres(location):
        from .postgres import PostgresCollection

        return PostgresCollection.open(
            str(location), name=name, readonly=readonly, model=model, encoder=encoder, read_replicas=read_replicas
        )
    _no_replicas_for_folders(location, read_replicas)
    if name is not None:
        raise InvalidInputError(f"name={name!r} is for PostgreSQL collections; a folder collection is named by its path")
    from .collection import Collection

    return Collection.open(location, readonly=readonly, model=model, encoder=encoder)


def create_collection(
    location: str | Path,
    model: str | None = None,
    *,
    name: str | None = None,
    encoder: Encoder | None = None,
    backend: str = "torch",
    index: str = "auto",
    space: str = "text",
    exist_ok: bool = False,
    read_replicas: Sequence[str] | None = None,
):
    """Create a collection in either store (arguments as ``Collection.create``; see ``open_collection``).

    Example:
        >>> create_collection("postgresql://me@db/search?collection=news", model="hashing")
    """
    if is_postgres(location):
        from .postgres import PostgresCollection

        return PostgresCollection.create(
            str(location), model, name=name, encoder=encoder, backend=backend, index=index, space=space,
            exist_ok=exist_ok, read_replicas=read_replicas,
        )  # fmt: skip
    _no_replicas_for_folders(location, read_replicas)
    if name is not None:
        raise InvalidInputError(f"name={name!r} is for PostgreSQL collections; a folder collection is named by its path")
    from .collection import Collection

    return Collection.create(location, model, encoder=encoder, backend=backend, index=index, space=space, exist_ok=exist_ok)


def collection_exists(location: str | Path, *, name: str | None = None) -> bool:
    """True when a collection is already at ``location`` (a folder with a manifest, or the tables)."""
    if is_postgres(location):
        from .postgres.collection import _resolve_name
        from .postgres.connection import connect
        from .postgres.schema import exists

        url, resolved = _resolve_name(str(location), name)
        connection = connect(url, vector_type=False)
        try:
            return exists(connection, resolved)
        finally:
            connection.close()
    from .manifest import manifest_path

    return manifest_path(Path(location).expanduser()).is_file()
