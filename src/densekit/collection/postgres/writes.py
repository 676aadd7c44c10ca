"""Writes of the PostgreSQL store: each call is one transaction (add, upsert, delete, add_items, add_space)."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

from ...encoders.base import Encoder
from ...errors import InvalidInputError
from ..items import Item
from ..space import VectorSpace
from . import rows, schema
from .filters import conditions_to_sql

INDEX_KINDS = ("auto", "hnsw")


def check_index_kind(kind: str) -> None:
    if kind not in INDEX_KINDS:
        raise InvalidInputError(f"unknown index kind {kind!r} for the PostgreSQL store; valid: {', '.join(INDEX_KINDS)}")


class Writes:
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

    def _reencode_space(self, space: str, encoder: Encoder, progress) -> int:
        # One transaction: every reader sees the old vectors with the old manifest, or the new with the new.
        info = encoder.info().as_dict()
        count = 0
        with self._write() as connection:
            manifest = schema.read_manifest(connection, self.name, self.location, lock="update")
            kind = self.spaces[space].kind
            previous = self._encoders.get(space)
            self._encoders[space] = encoder
            try:
                for items, _ in rows.export(connection, self.name, {}, kind=kind):
                    vectors = self._encode_members(space, items, None, None)
                    self._set_vectors(connection, space, [item.rowid for item in items], vectors)
                    count += len(items)
                    if progress is not None:
                        progress(count, None)
            except BaseException:
                self._encoders[space] = previous
                raise
            manifest["spaces"][space]["encoder"] = info
            schema.write_manifest(connection, self.name, manifest)
        self.spaces[space].encoder_info = info
        self._manifest = manifest
        return count

    def _index_key(self, key: str) -> bool:
        # Equality and $in are served by the GIN index on metadata already; ranges ($gt ...) compare
        # metadata -> key, which this expression index serves.
        import hashlib

        from psycopg import sql

        name = f"{self.name}_key_{hashlib.sha256(key.encode('utf-8')).hexdigest()[:12]}"
        with self._write() as connection:
            found = connection.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{name}"',)).fetchone()[0]
            connection.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ((metadata -> {}))").format(
                sql.Identifier(name), schema.identifiers(self.name)["items"], sql.Literal(key)))
        return not found

    def _set_vectors(self, connection, space: str, rowids: list[int], vectors: np.ndarray) -> None:
        from psycopg import sql

        query = sql.SQL("UPDATE {} SET {} = %b WHERE rowid = %s").format(
            schema.identifiers(self.name)["items"], sql.Identifier(schema.vector_column(space))
        )
        with connection.cursor() as cursor:
            cursor.executemany(query, list(zip(vectors, rowids)))

    # --- write hooks -------------------------------------------------------------------------
    @contextlib.contextmanager
    def _writing(self, items: list[Item], encoded: dict[str, np.ndarray]) -> Iterator[tuple[Any, dict[str, np.ndarray]]]:
        """The write transaction with the manifest row share-locked (add_space, exclusive, cannot slip
        a new space in meanwhile); items are encoded for a space another handle added since."""
        with self._write() as connection:
            manifest = schema.read_manifest(connection, self.name, self.location, lock="share")
            if set(manifest["spaces"]) != set(self.spaces):
                self._load_spaces(manifest)
                encoded = self.encode_items(items, vectors=encoded)
            yield connection, encoded

    def _insert(self, connection, items: list[Item], encoded: dict[str, np.ndarray], replace: bool) -> None:
        import psycopg

        if not replace:
            taken = rows.existing_ids(connection, self.name, [item.id for item in items])
            if taken:
                raise _duplicates(taken)
        kinds = {space: entry.kind for space, entry in self.spaces.items()}
        try:
            rows.write_items(connection, self.name, items, encoded, kinds, replace=replace)
        except psycopg.errors.UniqueViolation as error:  # a concurrent writer added the same id first
            raise _duplicates([str(error.diag.message_detail or error)]) from error

    def _write_items(self, items: list[Item], encoded: dict[str, np.ndarray], *, replace: bool) -> None:
        with self._writing(items, encoded) as (connection, encoded):
            self._insert(connection, items, encoded, replace)

    def _replace_documents(self, parents: list[str], items: list[Item], encoded: dict[str, np.ndarray]) -> int:
        # One transaction: a crash of the writer or the server between the delete and the insert
        # rolls both back, so every document stays in its old version or its new one.
        with self._writing(items, encoded) as (connection, encoded):
            removed = self._delete_rows(connection, parents, None, documents=True)
            self.on_write_step("replace:deleted")
            self._insert(connection, items, encoded, replace=False)
        return removed

    #: Test hook: called with the name of each step inside a write transaction (kill tests use it).
    def on_write_step(self, step: str) -> None:
        pass

    def _delete(self, ids, conditions) -> int:
        with self._write() as connection:
            return self._delete_rows(connection, ids, conditions)

    def _delete_rows(self, connection, ids: list[str] | None, conditions, documents: bool = False) -> int:
        """Delete the items ``ids`` names and their chunks. ``documents``: ``ids`` are whole documents
        (a replace), and an item with such an id goes only when it is no other document's chunk."""
        from psycopg import sql

        clauses, parameters = [], []
        if ids is not None:
            own = "(parent IS NULL OR parent = id)" if documents else "TRUE"
            clauses.append(f"((id = ANY(%s) AND {own}) OR parent = ANY(%s))")
            parameters += [ids, ids]
        if conditions:
            clause, values = conditions_to_sql(conditions)
            clauses.append(f"({clause})")
            parameters += values
        query = sql.SQL("DELETE FROM {} WHERE " + " AND ".join(clauses)).format(schema.identifiers(self.name)["items"])
        return connection.execute(query, parameters).rowcount

    def _update_metadata(self, changes: dict[str, tuple[dict[str, Any], list[str]]]) -> int:
        from psycopg import sql
        from psycopg.types.json import Jsonb

        query = sql.SQL("UPDATE {} SET metadata = (metadata || %s) - %s::text[] WHERE id = %s").format(
            schema.identifiers(self.name)["items"]
        )
        updated = 0
        with self._write() as connection:
            for id_, (updates, removals) in changes.items():
                updated += connection.execute(query, (Jsonb(updates), removals, id_)).rowcount
        return updated


def _duplicates(ids: list[str]) -> InvalidInputError:
    shown = ", ".join(repr(id_) for id_ in ids[:5])
    return InvalidInputError(f"ids already in the collection: {shown}; use upsert to replace them")
