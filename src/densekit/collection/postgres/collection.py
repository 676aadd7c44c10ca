"""A collection on PostgreSQL + pgvector, behind the same API as the embedded ``Collection``.

Differences a caller can notice:
- every write call (add, upsert, delete, add_items, add_space) is one transaction, durable and
  visible to every reader when it returns; ``commit()`` has nothing left to do. Group several
  calls into one transaction with ``with collection.transaction(): ...``;
- many writers may work at once (row locks, not a collection lock);
- the sparse side is PostgreSQL full-text search (``ts_rank`` over an English tsvector), not BM25,
  so sparse scores differ from the embedded store's while matching the same words.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Iterator, TypeVar

import numpy as np

from ...encoders.base import Encoder
from ...errors import CollectionError, InvalidInputError
from ..base import Collection
from ..encoding import describe_spaces
from ..items import Item
from ..space import VectorSpace
from ..where import Condition
from . import rows, schema
from .connection import Router, redact, split_url
from .filters import conditions_to_sql
from .writes import Writes, check_index_kind

DEFAULT_SPACE = "text"
T = TypeVar("T")


def resolve_name(url: str, name: str | None) -> tuple[str, str]:
    connection_url, from_url = split_url(url)
    chosen = name or from_url
    if chosen is None:
        raise InvalidInputError(
            f"no collection name for {redact(connection_url)!r}; pass name=... or add ?collection=NAME to the URL"
        )
    return connection_url, schema.check_name(chosen)


class PostgresCollection(Writes, Collection):
    """Items with text, JSONB metadata and one pgvector column per space, in one PostgreSQL database.

    Example:
        >>> with PostgresCollection.create("postgresql://me@db/search", name="notes", model="hashing") as notes:
        ...     notes.add(["The cat sat on the mat."], metadata=[{"lang": "en"}])
        >>> PostgresCollection.open("postgresql://me@db/search?collection=notes").search("a cat", k=1)[0].text
        'The cat sat on the mat.'
    """

    store_kind = "postgres"
    # Its sparse side is PostgreSQL's ts_rank (about 0 to 0.1), not BM25: probability fusion was
    # measured on BM25 scores only, so hybrid searches here keep reciprocal rank fusion.
    default_fusion = "rrf"

    def __init__(self, router: Router, name: str, manifest: dict[str, Any], readonly: bool):
        self._router = router
        self.name = name
        self.readonly = readonly
        self.location = f"{redact(router.url)}?collection={name}"
        self._manifest = manifest
        self._encoders: dict[str, Encoder] = {}
        self.spaces: dict[str, VectorSpace] = {}
        self._load_spaces(manifest)
        self._closed = False
        self._pin = threading.local()  # the server one search reads from (``_reading``)

    # --- opening -----------------------------------------------------------------------------
    @classmethod
    def _exists(cls, location: Any, *, name: str | None) -> bool:
        from .connection import connect

        url, resolved = resolve_name(str(location), name)
        connection = connect(url, vector_type=False)
        try:
            return schema.exists(connection, resolved)
        finally:
            connection.close()

    @classmethod
    def _create(cls, location, make_encoder, *, index, space, exist_ok, name, read_replicas) -> "PostgresCollection":
        """Create the collection's tables with one space (and the vector extension if missing).

        ``location`` is ``postgresql://user@host:port/database`` (``?collection=NAME`` may name the
        collection); the name is lower-case letters, digits and '_' (tables NAME_items, NAME_manifest);
        ``index`` "auto" or "hnsw" (both: an HNSW index per space); ``read_replicas`` serve searches.
        """
        url = str(location)
        connection_url, name = resolve_name(url, name)
        check_index_kind(index)
        schema.check_name(space, "space")
        router = Router(connection_url, read_replicas, readonly=False, create=True)
        try:
            if schema.exists(router.primary, name):
                raise CollectionError(f"a collection {name!r} already exists in {redact(connection_url)!r}; open it instead")
            encoder = make_encoder()
            manifest = schema.new_manifest(name)
            info = encoder.info().as_dict()
            import psycopg  # present: the router connected with it

            try:
                with router.primary.transaction():
                    schema.create_tables(router.primary, name)
                    schema.create_key_counts(router.primary, name)
                    manifest["spaces"][space] = {
                        "encoder": info,
                        "index": schema.add_vector_column(router.primary, name, space, info["dimension"]),
                    }
                    schema.write_manifest(router.primary, name, manifest, insert=True)
            except psycopg.errors.DuplicateTable as error:  # another process created it meanwhile
                raise CollectionError(f"a collection {name!r} already exists in {redact(connection_url)!r}; open it instead") from error
            collection = cls(router, name, manifest, readonly=False)
            collection._encoders[space] = encoder
        except BaseException:
            router.close()
            raise
        return collection

    @classmethod
    def _open(cls, location, *, readonly, name, read_replicas) -> "PostgresCollection":
        connection_url, name = resolve_name(str(location), name)
        router = Router(connection_url, read_replicas, readonly=readonly, create=False)
        try:
            manifest = schema.read_manifest(router.primary, name, repr(redact(connection_url)))
            if not readonly and not schema.has_key_counts(router.primary, name):
                import psycopg

                try:  # a collection made before key counts: add them on its first writer
                    with router.primary.transaction():
                        schema.create_key_counts(router.primary, name)
                except psycopg.errors.DuplicateTable:
                    pass  # another writer added them meanwhile
            return cls(router, name, manifest, readonly=readonly)
        except BaseException:
            router.close()
            raise

    @property
    def collection_id(self) -> str:
        return self._manifest.get("id") or f"postgres:{self.location}"

    def close(self) -> None:
        self._closed = True
        self._router.close()

    def commit(self, force: bool = False) -> None:
        """Nothing to do: each write call commits its own transaction (kept for the shared API)."""
        self._require_open()

    @contextlib.contextmanager
    def transaction(self) -> Iterator["PostgresCollection"]:
        """Make several write calls one transaction: all of them commit, or none (on an exception)."""
        self._require_writer()
        with self._router.primary_lock, self._router.primary.transaction():
            yield self

    @contextlib.contextmanager
    def _write(self):
        import psycopg

        self._require_writer()
        try:
            with self._router.primary_lock, self._router.primary.transaction():
                yield self._router.primary
        except psycopg.DataError as error:  # e.g. a NUL character in a text: the whole batch is refused
            raise InvalidInputError(f"PostgreSQL refused the write, nothing was stored: {str(error).strip()}") from error
        except psycopg.errors.ReadOnlySqlTransaction as error:  # a hot standby given as the primary
            raise CollectionError(
                f"{self.location!r} refuses writes (a read replica or a read-only server): {str(error).strip()}; "
                "open the primary's URL to write"
            ) from error

    @contextlib.contextmanager
    def _read(self):
        """The primary's connection for reading (single items, counts, the manifest)."""
        self._require_open()
        with self._router.primary_lock:
            yield self._router.primary

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        if getattr(self._pin, "active", False):
            yield
            return
        self._pin.active, self._pin.target = True, None
        try:
            yield
        finally:
            self._pin.active, self._pin.target = False, None

    def run_on_reader(self, work: Callable[[Any], T]) -> T:
        """``work(connection)`` on a replica in turn (the primary when there is none). When the replica's
        connection fails, it is marked down (a logged warning) and ``work`` runs again elsewhere."""
        import psycopg

        self._require_open()
        pinned = getattr(self._pin, "active", False)
        while True:
            # Inside one search (``_reading``) every statement goes to the server the first one chose.
            chosen = self._pin.target if pinned and self._pin.target is not None else self._router.for_search()
            if pinned:
                self._pin.target = chosen
            connection, lock, position = chosen
            try:
                with lock:
                    return work(connection)
            except (psycopg.OperationalError, psycopg.InterfaceError) as error:
                # Only a lost connection means the server is gone; a query error on a live
                # connection (e.g. a statement timeout) is the query's, and is raised as such.
                shutdown = (psycopg.errors.AdminShutdown, psycopg.errors.CrashShutdown, psycopg.errors.CannotConnectNow)
                lost = connection.closed or connection.broken or isinstance(error, shutdown)
                if position is None or not lost:
                    raise CollectionError(f"searching {self.location!r} failed: {str(error).strip()}") from error
                self._router.mark_down(position, error)
                if pinned:
                    self._pin.target = None

    # --- state -------------------------------------------------------------------------------
    def _load_spaces(self, manifest: dict[str, Any]) -> None:
        for space, entry in manifest["spaces"].items():
            if space not in self.spaces:
                self.spaces[space] = VectorSpace(space, entry["encoder"], "hnsw", index=None, index_params=entry["index"])
        self._manifest = manifest

    def refresh(self) -> None:
        """Pick up spaces another handle added."""
        with self._read() as connection:
            self._load_spaces(schema.read_manifest(connection, self.name, self.location))

    def count(self, kind: str | None = None) -> int:
        from psycopg import sql

        with self._read() as connection:
            query = sql.SQL("SELECT count(*) FROM {}" + ("" if kind is None else " WHERE kind = %s")).format(
                schema.identifiers(self.name)["items"]
            )
            return int(connection.execute(query, () if kind is None else (kind,)).fetchone()[0])

    def document_hash(self, parent: str) -> str | None:
        from psycopg import sql

        with self._read() as connection:
            query = sql.SQL("SELECT hash FROM {} WHERE parent = %s LIMIT 1").format(schema.identifiers(self.name)["items"])
            row = connection.execute(query, (parent,)).fetchone()
        return row[0] if row else None

    def metadata_keys(self) -> dict[str, int]:
        from psycopg import sql

        names = schema.identifiers(self.name)
        with self._read() as connection:
            if schema.has_key_counts(connection, self.name):
                query = sql.SQL("SELECT key, count FROM {} WHERE count > 0 ORDER BY key").format(names["keys"])
            else:  # made before key counts, and no writer has opened it since: count once
                query = sql.SQL("SELECT key, count(*) FROM {}, jsonb_object_keys(metadata) AS key GROUP BY key ORDER BY key").format(names["items"])
            return {key: int(count) for key, count in connection.execute(query).fetchall()}

    def info(self) -> dict[str, Any]:
        from psycopg import sql

        self.refresh()
        table = schema.identifiers(self.name)["items"]
        counts = sql.SQL(", ").join(
            sql.SQL("count({})").format(sql.Identifier(schema.vector_column(space))) for space in self.spaces
        )
        with self._read() as connection:
            row = connection.execute(
                sql.SQL("SELECT count(*), pg_total_relation_size(%s::regclass), count(*) FILTER (WHERE kind = 'text'), {} FROM {}").format(counts, table),
                (f'"{self.name}_items"',),
            ).fetchone()
        return {
            "path": self.location,
            "store": self.store_kind,
            "id": self.collection_id,
            "name": self.name,
            "count": int(row[0]),
            "spaces": describe_spaces(
                self.spaces, dict(zip(self.spaces, row[3:])), {space: "hnsw" for space in self.spaces}
            ),
            "generation": None,  # no generations: every write call commits
            "sparse": {**self._manifest.get("sparse", {}), "count": int(row[2])},
            "metadata_keys": self.metadata_keys(),
            "size_bytes": int(row[1]),
            "read_replicas": len(self._router.replicas),
        }

    def check(self) -> list[str]:
        """Every item has a vector in each space of its kind, and none in the others."""
        from psycopg import sql

        self.refresh()
        problems = []
        table = schema.identifiers(self.name)["items"]
        with self._read() as connection:
            for space, entry in self.spaces.items():
                column = sql.Identifier(schema.vector_column(space))
                missing, stray = connection.execute(
                    sql.SQL("SELECT count(*) FILTER (WHERE kind = %s AND {0} IS NULL), "
                            "count(*) FILTER (WHERE kind <> %s AND {0} IS NOT NULL) FROM {1}").format(column, table),
                    (entry.kind, entry.kind),
                ).fetchone()
                if missing or stray:
                    problems.append(f"space {space!r}: {missing} items without vectors, {stray} vectors on items of another kind")
        return problems

    @classmethod
    def repair_at(cls, location: Any, *, name: str | None = None) -> list[str]:
        """Encode again the items whose vector is missing in a space of their kind."""
        from psycopg import sql

        actions = []
        with cls.open(location, name=name) as collection:
            table = schema.identifiers(collection.name)["items"]
            for space, entry in collection.spaces.items():
                column = sql.Identifier(schema.vector_column(space))
                query = sql.SQL("SELECT {} FROM {} WHERE kind = %s AND {} IS NULL ORDER BY rowid").format(
                    rows.select_columns(), table, column)
                with collection._read() as connection:
                    missing = [rows.item_from_row(row) for row in connection.execute(query, (entry.kind,)).fetchall()]
                for start in range(0, len(missing), 500):
                    batch = missing[start:start + 500]
                    vectors = collection._encode_members(space, batch, None, None)
                    with collection._write() as connection:
                        collection._set_vectors(connection, space, [item.rowid for item in batch], vectors)
                if missing:
                    actions.append(f"space {space!r}: encoded {len(missing)} items that had no vector")
        return actions

    def export(self, *, after: int = -1, batch: int = 500, include_vectors: bool = True) -> Iterator[tuple[list[Item], dict[str, np.ndarray]]]:
        """Items past rowid ``after`` in row order, with their stored vectors per space (for copies)."""
        kinds = {space: entry.kind for space, entry in self.spaces.items()} if include_vectors else {}
        with self._read() as connection:
            yield from rows.export(connection, self.name, kinds, after=after, batch=batch)

    def read_copy_state(self, source: str) -> dict[str, Any]:
        from .copy_state import read_state

        with self._read() as connection:
            return read_state(connection, self.name, source)

    def write_copy_state(self, source: str, state: dict[str, Any]) -> None:
        from .copy_state import write_state

        with self._write() as connection:
            write_state(connection, self.name, source, state)

    def _require_open(self) -> None:
        if self._closed:
            raise CollectionError(f"collection {self.location!r} is closed")

    # --- reads and search hooks ----------------------------------------------------------------
    def _get_items(self, ids: list[str], with_vectors: bool) -> list[Item]:
        kinds = {space: entry.kind for space, entry in self.spaces.items()} if with_vectors else {}
        with self._read() as connection:
            return rows.by_ids(connection, self.name, ids, kinds)

    def _id_page(self, after: int, limit: int) -> list[tuple[int, str]]:
        with self._read() as connection:
            return rows.id_page(connection, self.name, after, limit)

    def _compile_filter(self, conditions: list[Condition]) -> Any:
        return conditions_to_sql(conditions)

    def _dense_candidates(self, vectors, depth, space, compiled, found) -> list[list[tuple[int, float]]]:
        from .search import counts_of, dense_candidates

        counts = counts_of(self)
        ranked = []
        for vector in vectors:
            def run(connection, vector=vector) -> list:
                return dense_candidates(connection, self.name, vector, space, depth, compiled, found, counts)

            ranked.append(self.run_on_reader(run))
        return ranked

    def _sparse_candidates(self, query, depth, compiled, found) -> list[tuple[int, float]]:
        from .search import sparse_candidates

        return self.run_on_reader(lambda connection: sparse_candidates(connection, self.name, query, depth, compiled, found))

    def _items_by_rowid(self, rowids: list[int]) -> dict[int, Item]:
        return self.run_on_reader(lambda connection: rows.by_rowids(connection, self.name, rowids))
