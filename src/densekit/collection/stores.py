"""Choosing the store from a location: a folder is the embedded store (FAISS + SQLite), a
``postgresql://`` URL is the PostgreSQL + pgvector store. Both offer the same collection API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..encoders.base import Encoder


def is_postgres(location: str | Path) -> bool:
    """True when ``location`` names a PostgreSQL database rather than a folder.

    Example:
        >>> is_postgres("postgresql://me@db:5432/search?collection=news"), is_postgres("news")
        (True, False)
    """
    from .postgres.connection import is_postgres_url

    return is_postgres_url(location)


def open_collection(
    location: str | Path,
    *,
    name: str | None = None,
    readonly: bool = False,
    model: str | None = None,
    encoder: Encoder | None = None,
    read_replicas: Sequence[str] | None = None,
    allow_backend_mismatch: bool = False,
):
    """Open an existing collection in either store (``Collection.open`` dispatches on the location).

    Example:
        >>> open_collection("postgresql://me@db/search", name="news", readonly=True).search("rates", k=3)
    """
    from .collection import Collection

    return Collection.open(location, name=name, readonly=readonly, model=model, encoder=encoder,
                           read_replicas=read_replicas, allow_backend_mismatch=allow_backend_mismatch)


def create_collection(
    location: str | Path,
    model: str | None = None,
    *,
    name: str | None = None,
    encoder: Encoder | None = None,
    backend: str | None = None,
    index: str = "auto",
    space: str = "text",
    exist_ok: bool = False,
    read_replicas: Sequence[str] | None = None,
):
    """Create a collection in either store (``Collection.create`` dispatches on the location); ``backend``
    None is the default for the model (``encoders.defaults.default_backend``)."""
    from .collection import Collection

    return Collection.create(
        location, model, name=name, encoder=encoder, backend=backend, index=index, space=space,
        exist_ok=exist_ok, read_replicas=read_replicas,
    )


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
