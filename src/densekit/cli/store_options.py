"""The --store / --read-replica options every collection command shares, and opening by them."""

from __future__ import annotations

from typing import List, Optional

import typer

STORE_HELP = "postgresql:// URL of a PostgreSQL + pgvector store; COLLECTION is then the collection's name there."
REPLICA_HELP = "PostgreSQL read replica URL that serves searches (repeatable)."


def store_option() -> Optional[str]:
    return typer.Option(None, "--store", help=STORE_HELP)


def replica_option() -> Optional[List[str]]:
    return typer.Option(None, "--read-replica", help=REPLICA_HELP)


def location(collection: str, store: str | None) -> tuple[str, str | None]:
    """(where, name): the folder itself, or the store URL with the collection's name in it."""
    return (store, collection) if store else (collection, None)


def open_target(collection: str, store: str | None, *, readonly: bool, model: str | None = None,
                read_replicas: list[str] | None = None, backend: str | None = None):
    from ..collection import Collection

    where, name = location(collection, store)
    target = Collection.open(where, readonly=readonly, model=model, name=name, read_replicas=read_replicas or None)
    if backend is not None:
        try:
            target.check_backend(backend)
        except BaseException:
            target.close()
            raise
    return target


def exists(collection: str, store: str | None) -> bool:
    from ..collection.stores import collection_exists

    where, name = location(collection, store)
    return collection_exists(where, name=name)


BACKEND_HELP = "Encoder backend: torch, onnx or onnx-int8 (int8 is ~2.5x faster on a CPU; its vectors differ, so a space keeps one)."


def backend_option(default: str | None = None):
    return typer.Option(default, "--backend", "-b", help=BACKEND_HELP)
