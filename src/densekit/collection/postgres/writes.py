"""Writes of the PostgreSQL store: each call is one transaction (add, upsert, delete, add_items, add_space)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...encoders.base import Encoder
from ...errors import InvalidInputError
from ...progress import ProgressCallback
from ..space import VectorSpace
from ..encoding import SpaceEncoders, make_items
from ..store import Item
from . import rows, schema

INDEX_KINDS = ("auto", "hnsw")


def check_index_kind(kind: str) -> None:
    if kind not in INDEX_KINDS:
        raise InvalidInputError(f"unknown index kind {kind!r} for the PostgreSQL store; valid: {', '.join(INDEX_KINDS)}")


class Writes(SpaceEncoders):
    """The write half of ``PostgresCollection`` (it provides _write, _read, spaces, encoder, ...)."""

    def add_space(self, name: str, encoder: Encoder, index: str = "auto") -> None:
        """Add another vector space; existing items of its kind are encoded into it, in the same transaction."""
        check_index_kind(index)
        schema.check_name(name, "space")
        info = encoder.info().as_dict()
        with self._write() as connection:
            manifest = schema.read_manifest(connection, self.name, self.location, lock="update")
            if name in manifest["spaces"]:
                raise InvalidInputError(f"space {name!r} already exists")
            entry = {"encoder": info, "index": schema.add_vector_column(connection, self.name, name, info["dimension"])}
            manifest["spaces"][name] = entry
            schema.write_manifest(connection, self.name, manifest)
            self.spaces[name] = VectorSpace(name, info, "hnsw", index=None, index_params=entry["index"])
            self._encoders[name] = encoder
            try:
                for items, _ in rows.export(connection, self.name, {}, kind=self.spaces[name].kind):
                    vectors = self._encode_members(name, items, None, None)
                    self._set_vectors(connection, name, [item.rowid for item in items], vectors)
            except BaseException:
                del self.spaces[name], self._encoders[name]
                raise
            self._manifest = manifest

    def _set_vectors(self, connection, space: str, rowids: list[int], vectors: np.ndarray) -> None:
        from psycopg import sql

        query = sql.SQL("UPDATE {} SET {} = %b WHERE rowid = %s").format(
            schema.identifiers(self.name)["items"], sql.Identifier(schema.vector_column(space))
        )
        with connection.cursor() as cursor:
            cursor.executemany(query, list(zip(vectors, rowids)))

    # --- writes ------------------------------------------------------------------------------
    def add(self, texts, ids=None, metadata=None, *, batch_size=None, progress=None) -> list[str]:
        """Add new texts; returns their ids. An id already present is an error (use ``upsert``)."""
        items = make_items(texts, ids, metadata)
        self.add_items(items, batch_size=batch_size, progress=progress)
        return [item.id for item in items]

    def add_items(
        self,
        items: list[Item],
        *,
        vectors: dict[str, np.ndarray] | None = None,
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
        replace: bool = False,
    ) -> None:
        """Store prepared items in one transaction; vectors are encoded unless given per space."""
        import psycopg

        self._require_writer()
        if not items:
            return
        self.refresh()
        # Encode before the transaction: the slow, failure-prone step holds no locks.
        encoded = self.encode_items(items, vectors=vectors, batch_size=batch_size, progress=progress)
        with self._write() as connection:
            # Shared lock on the manifest: add_space (exclusive) cannot slip a new space in meanwhile.
            manifest = schema.read_manifest(connection, self.name, self.location, lock="share")
            if set(manifest["spaces"]) != set(self.spaces):
                self._load_spaces(manifest)
                encoded = self.encode_items(items, vectors=encoded, batch_size=batch_size)
            if not replace:
                taken = rows.existing_ids(connection, self.name, [item.id for item in items])
                if taken:
                    raise _duplicates(taken)
            kinds = {space: entry.kind for space, entry in self.spaces.items()}
            try:
                rows.write_items(connection, self.name, items, encoded, kinds, replace=replace)
            except psycopg.errors.UniqueViolation as error:  # a concurrent writer added the same id first
                raise _duplicates([str(error.diag.message_detail or error)]) from error

    def delete(self, ids: Sequence[str]) -> int:
        """Delete items by id, and every chunk of a document by the document's id. Returns items removed."""
        from psycopg import sql

        if isinstance(ids, str):
            ids = [ids]
        ids = list(ids)
        with self._write() as connection:
            query = sql.SQL("DELETE FROM {} WHERE id = ANY(%s) OR parent = ANY(%s)").format(
                schema.identifiers(self.name)["items"]
            )
            return connection.execute(query, (ids, ids)).rowcount

def _duplicates(ids: list[str]) -> InvalidInputError:
    shown = ", ".join(repr(id_) for id_ in ids[:5])
    return InvalidInputError(f"ids already in the collection: {shown}; use upsert to replace them")


