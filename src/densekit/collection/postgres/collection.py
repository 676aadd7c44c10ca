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
from typing import Any, Callable, Iterator, Sequence, TypeVar

import numpy as np

from ...encoders.base import Encoder
from ...errors import CollectionError, InvalidInputError
from ..space import VectorSpace
from ..store import Item
from . import rows, schema
from .connection import Router, redact, split_url
from .writes import Writes, check_index_kind

DEFAULT_SPACE = "text"
T = TypeVar("T")


def _resolve_name(url: str, name: str | None) -> tuple[str, str]:
    connection_url, from_url = split_url(url)
    chosen = name or from_url
    if chosen is None:
        raise InvalidInputError(
            f"no collection name for {redact(connection_url)!r}; pass name=... or add ?collection=NAME to the URL"
        )
    return connection_url, schema.check_name(chosen)


class PostgresCollection(Writes):
    """Items with text, JSONB metadata and one pgvector column per space, in one PostgreSQL database.

    Example:
        >>> with PostgresCollection.create("postgresql://me@db/search", name="notes", model="hashing") as notes:
        ...     notes.add(["The cat sat on the mat."], metadata=[{"lang": "en"}])
        >>> PostgresCollection.open("postgresql://me@db/search?collection=notes").search("a cat", k=1)[0].text
        'The cat sat on the mat.'
    """

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

    # --- opening -----------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        url: str,
        model: str | None = None,
        *,
        name: str | None = None,
        encoder: Encoder | None = None,
        backend: str | None = None,
        index: str = "auto",
        space: str = DEFAULT_SPACE,
        exist_ok: bool = False,
        read_replicas: Sequence[str] | None = None,
    ) -> "PostgresCollection":
        """Create the collection's tables with one text space (and the vector extension if missing).

        Args:
            url: ``postgresql://user@host:port/database`` (``?collection=NAME`` may name the collection).
            model / encoder / backend / space: as ``Collection.create``.
            name: the collection name (lower-case letters, digits, '_'); tables are NAME_items, NAME_manifest.
            index: "auto" or "hnsw" (both: an HNSW index per space).
            exist_ok: open an existing collection instead of failing.
            read_replicas: URLs of streaming replicas that serve searches.
        """
        connection_url, name = _resolve_name(url, name)
        check_index_kind(index)
        schema.check_name(space, "space")
        router = Router(connection_url, read_replicas, readonly=False, create=True)
        try:
            if schema.exists(router.primary, name):
                if not exist_ok:
                    raise CollectionError(f"a collection {name!r} already exists in {redact(connection_url)!r}; open it instead")
                router.close()
                return cls.open(url, name=name, model=model, encoder=encoder, read_replicas=read_replicas)
            if encoder is None:
                from ...encoders.factory import load_encoder

                encoder = load_encoder(model, backend=backend)
            manifest = schema.new_manifest(name)
            info = encoder.info().as_dict()
            import psycopg  # present: the router connected with it

            try:
                with router.primary.transaction():
                    schema.create_tables(router.primary, name)
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
    def open(
        cls,
        url: str,
        *,
        name: str | None = None,
        readonly: bool = False,
        model: str | None = None,
        encoder: Encoder | None = None,
        read_replicas: Sequence[str] | None = None,
        allow_backend_mismatch: bool = False,
    ) -> "PostgresCollection":
        """Open an existing collection; ``model`` or ``encoder``, when given, must be the ones it was built with
        (``allow_backend_mismatch``: as ``Collection.open``)."""
        connection_url, name = _resolve_name(url, name)
        router = Router(connection_url, read_replicas, readonly=readonly, create=False)
        try:
            manifest = schema.read_manifest(router.primary, name, repr(redact(connection_url)))
            collection = cls(router, name, manifest, readonly=readonly)
            collection.allow_backend_mismatch = allow_backend_mismatch
            if model is not None or encoder is not None:
                if DEFAULT_SPACE not in collection.spaces:
                    raise InvalidInputError(
                        f"model/encoder apply to the {DEFAULT_SPACE!r} space, which this collection lacks; "
                        f"its spaces: {', '.join(collection.spaces)}"
                    )
                collection._use_encoder(DEFAULT_SPACE, model, encoder)
        except BaseException:
            router.close()
            raise
        return collection

    def close(self) -> None:
        self._closed = True
        self._router.close()

    def __enter__(self) -> "PostgresCollection":
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        self.close()

    def commit(self, force: bool = False) -> None:
        """Nothing to do: each write call commits its own transaction (kept for the shared API)."""
        self._require_open()

    save = commit

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

    def _searching(self, work: Callable[[Any], T]) -> T:
        """``work(connection)`` on a replica in turn (the primary when there is none). When the replica's
        connection fails, it is marked down (a logged warning) and ``work`` runs again elsewhere."""
        import psycopg

        self._require_open()
        while True:
            connection, lock, position = self._router.for_search()
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

    def count(self) -> int:
        from psycopg import sql

        with self._read() as connection:
            query = sql.SQL("SELECT count(*) FROM {}").format(schema.identifiers(self.name)["items"])
            return int(connection.execute(query).fetchone()[0])

    def get(self, id: str) -> Item | None:
        with self._read() as connection:
            return rows.by_id(connection, self.name, id)

    def document_hash(self, parent: str) -> str | None:
        from psycopg import sql

        with self._read() as connection:
            query = sql.SQL("SELECT hash FROM {} WHERE parent = %s LIMIT 1").format(schema.identifiers(self.name)["items"])
            row = connection.execute(query, (parent,)).fetchone()
        return row[0] if row else None

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
            "store": "postgres",
            "name": self.name,
            "count": int(row[0]),
            "spaces": {
                space: {
                    "model": entry.encoder_info["model"],
                    "dimension": entry.dimension,
                    "backend": entry.encoder_info.get("backend"),
                    "kind": entry.kind,
                    "index": "hnsw",
                    "vectors": int(vectors),
                }
                for (space, entry), vectors in zip(self.spaces.items(), row[3:])
            },
            "generation": None,  # no generations: every write call commits
            "sparse": {**self._manifest.get("sparse", {}), "count": int(row[2])},
            "size_bytes": int(row[1]),
            "read_replicas": len(self._router.replicas),
        }

    # --- encoders ----------------------------------------------------------------------------
    def export(self, *, after: int = -1, batch: int = 500) -> Iterator[tuple[list[Item], dict[str, np.ndarray]]]:
        """Items past rowid ``after`` in row order, with their stored vectors per space (for copies)."""
        kinds = {space: entry.kind for space, entry in self.spaces.items()}
        with self._read() as connection:
            yield from rows.export(connection, self.name, kinds, after=after, batch=batch)

    def _require_open(self) -> None:
        if self._closed:
            raise CollectionError(f"collection {self.location!r} is closed")

    def _require_writer(self) -> None:
        if self.readonly:
            raise CollectionError(f"collection {self.location!r} was opened read-only")
        self._require_open()

    # --- search ------------------------------------------------------------------------------
    def search(self, query: str, k: int = 5, **options: Any):
        """Search by text; see ``densekit.collection.search.search`` for the options."""
        from .search import search

        return search(self, query, k, **options)

    def search_vector(self, vector: np.ndarray, k: int = 5, *, space: str = DEFAULT_SPACE, where=None):
        """Search a space with a ready vector (made by the same model)."""
        from .search import search_vector

        return search_vector(self, np.atleast_2d(np.asarray(vector, dtype=np.float32)), k, space=space, where=where)

