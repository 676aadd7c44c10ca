"""A persistent collection: content, named vector spaces and a sparse index sharing one id space.

Writes are staged (visible to this handle at once) and become durable and visible to other readers
at ``commit()``, which writes new files beside the old ones and switches the manifest last.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..encoders.base import Encoder
from ..errors import CollectionError, InvalidInputError
from ..progress import ProgressCallback
from . import persistence
from .lock import WriterLock
from .manifest import manifest_path, new_manifest, read_manifest
from .encoding import SpaceEncoders, make_items
from .space import VectorSpace
from .store import ContentStore, Item

CONTENT_NAME = "content.sqlite"


def _is_postgres(location: Any) -> bool:
    from .postgres.connection import is_postgres_url  # light: psycopg loads only when connecting

    return is_postgres_url(location)


def _folder_only(location: Any, name: str | None, read_replicas: Sequence[str] | None) -> None:
    if read_replicas:
        raise InvalidInputError(f"read replicas are for PostgreSQL collections; {str(location)!r} is a folder (embedded store)")
    if name is not None:
        raise InvalidInputError(f"name={name!r} is for PostgreSQL collections; a folder collection is named by its path")

DEFAULT_SPACE = "text"


class Collection(SpaceEncoders):
    """Items with text and metadata, searchable densely (per space), sparsely and by filters.

    Example:
        >>> with Collection.create("notes", model="sentence-transformers/all-MiniLM-L6-v2") as notes:
        ...     notes.add(["The cat sat on the mat."], metadata=[{"lang": "en"}])
        >>> Collection.open("notes", readonly=True).search("a cat", k=1)[0].text
        'The cat sat on the mat.'
    """

    def __init__(self, folder: Path, manifest: dict[str, Any], readonly: bool, lock: WriterLock | None):
        self.folder = folder
        self.readonly = readonly
        self._lock = lock
        self._manifest = manifest
        self._manifest_stamp = persistence.stamp(folder)
        self._encoders: dict[str, Encoder] = {}
        self._dirty_sparse = False
        self._sparse = None
        self.store = ContentStore(folder / CONTENT_NAME, readonly=readonly)
        self.spaces: dict[str, VectorSpace] = persistence.load_spaces(folder, manifest)
        #: Test hook: called with the name of each step of a save (crash-injection tests raise from it).
        self.on_save_step: Callable[[str], None] | None = None
        if not readonly:
            # A save that died before its manifest left staged rows behind: drop them.
            self.store.discard_after(self.generation)

    # --- opening -----------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: str | Path,
        model: str | None = None,
        *,
        encoder: Encoder | None = None,
        backend: str | None = None,
        index: str = "auto",
        space: str = DEFAULT_SPACE,
        exist_ok: bool = False,
        name: str | None = None,
        read_replicas: Sequence[str] | None = None,
    ) -> "Collection":
        """Create a collection with one text space (opened for writing).

        Args:
            path: the collection folder (created), or a ``postgresql://`` URL for the PostgreSQL store
                (``name`` and ``read_replicas`` apply there).
            model: model reference for the space (default: densekit's default text model).
            encoder: an already built encoder to use instead of ``model`` (its own backend is recorded).
            backend: encoder backend for ``model``; None picks the default for the model
                (``encoders.defaults.default_backend``: DENSEKIT_BACKEND, else "onnx-int8" for
                sentence-transformers text models the ONNX backend reproduces, else "torch").
                An existing collection (``exist_ok``) keeps the backend its manifest records.
            index: "auto" (exact, then HNSW past the threshold), "exact", "flat" or "hnsw".
            exist_ok: open an existing collection instead of failing.
        """
        if _is_postgres(path):
            from .postgres import PostgresCollection

            return PostgresCollection.create(
                str(path), model, name=name, encoder=encoder, backend=backend, index=index, space=space,
                exist_ok=exist_ok, read_replicas=read_replicas,
            )
        _folder_only(path, name, read_replicas)
        folder = Path(path).expanduser()
        if manifest_path(folder).exists():
            if not exist_ok:
                raise CollectionError(f"a collection already exists at {str(folder)!r}; open it instead")
            return cls.open(folder, encoders={space: encoder}) if encoder is not None else cls.open(folder, model=model)
        if folder.exists() and any(folder.iterdir()):
            raise CollectionError(f"{str(folder)!r} exists and is not an empty folder; choose a new path")
        persistence.check_index_kind(index)
        if encoder is None:
            from ..encoders.factory import load_encoder

            encoder = load_encoder(model, backend=backend)
        folder.mkdir(parents=True, exist_ok=True)
        lock = WriterLock(folder)
        lock.acquire()
        try:
            manifest = new_manifest()
            collection = cls(folder, manifest, readonly=False, lock=lock)
            collection._add_space(space, encoder, index)
            collection.commit(force=True)
        except BaseException:
            lock.release()
            raise
        return collection

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        readonly: bool = False,
        model: str | None = None,
        encoder: Encoder | None = None,
        encoders: dict[str, Encoder] | None = None,
        name: str | None = None,
        read_replicas: Sequence[str] | None = None,
        allow_backend_mismatch: bool = False,
    ) -> "Collection":
        """Open an existing collection; ``readonly=True`` takes no lock (many readers, one writer).

        ``model`` or ``encoder`` (for the text space), and ``encoders`` (space name -> encoder, e.g.
        shared, already loaded ones), when given, must be the ones the collection was built with.
        ``allow_backend_mismatch=True`` accepts an encoder of another backend of the same model and
        dimension (e.g. torch fp32 queries on an onnx-int8 space; see also ``use_backend``), with a
        logged warning. A ``postgresql://`` URL opens the PostgreSQL store (with ``name`` and ``read_replicas``).
        """
        if _is_postgres(path):
            from .postgres import PostgresCollection

            return PostgresCollection.open(
                str(path), name=name, readonly=readonly, model=model, encoder=encoder, read_replicas=read_replicas,
                allow_backend_mismatch=allow_backend_mismatch,
            )
        _folder_only(path, name, read_replicas)
        folder = Path(path).expanduser()
        manifest = read_manifest(folder)
        lock = None
        if not readonly:
            lock = WriterLock(folder)
            lock.acquire()
            manifest = read_manifest(folder)  # the previous writer may have committed meanwhile
        try:
            collection = cls._load(folder, manifest, readonly, lock)
            collection.allow_backend_mismatch = allow_backend_mismatch
            if model is not None or encoder is not None:
                if DEFAULT_SPACE not in collection.spaces:
                    raise InvalidInputError(
                        f"model/encoder apply to the {DEFAULT_SPACE!r} space, which this collection lacks; "
                        f"pass encoders={{space: encoder}} for its spaces: {', '.join(collection.spaces)}"
                    )
                collection._use_encoder(DEFAULT_SPACE, model, encoder)
            for space, given in (encoders or {}).items():
                if space not in collection.spaces:
                    raise InvalidInputError(f"no space {space!r} in this collection; spaces: {', '.join(collection.spaces)}")
                collection._use_encoder(space, None, given)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        return collection

    @classmethod
    def _load(cls, folder: Path, manifest: dict[str, Any], readonly: bool, lock: WriterLock | None) -> "Collection":
        # A writer may commit twice while a reader loads, removing the files its manifest named: retry.
        for attempt in range(10):
            try:
                return cls(folder, manifest, readonly=readonly, lock=lock)
            except FileNotFoundError:
                if not readonly or attempt == 9:
                    raise
                manifest = read_manifest(folder)
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.store.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> "Collection":
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        try:
            if error_type is None and not self.readonly:
                self.commit()
        finally:
            self.close()

    # --- state -------------------------------------------------------------------------------
    @property
    def generation(self) -> int:
        """The committed generation the manifest names."""
        return int(self._manifest["generation"])

    @property
    def view(self) -> int:
        """The generation this handle reads: its own staged changes for a writer."""
        return self.generation if self.readonly else self.generation + 1

    @property
    def dirty(self) -> bool:
        return self._dirty_sparse or any(space.dirty for space in self.spaces.values())

    def count(self) -> int:
        self.refresh()
        return self.store.count(self.view)

    def get(self, id: str) -> Item | None:
        self.refresh()
        return self.store.get(id, self.view)

    def info(self) -> dict[str, Any]:
        self.refresh()
        return persistence.describe(self)

    def refresh(self) -> None:
        """Readers pick up a newer committed generation, if a writer made one."""
        if self.readonly and persistence.stamp(self.folder) != self._manifest_stamp:
            persistence.reload(self)

    def _add_space(self, name: str, encoder: Encoder, index: str) -> VectorSpace:
        from ..index.factory import create_index

        if name in self.spaces:
            raise InvalidInputError(f"space {name!r} already exists")
        info = encoder.info().as_dict()
        kind = persistence.resolve_kind(index, 0)
        space = VectorSpace(name, info, index, index=create_index(kind, info["dimension"]), dirty=True)
        self.spaces[name] = space
        self._encoders[name] = encoder
        return space

    def add_space(self, name: str, encoder: Encoder, index: str = "auto") -> None:
        """Add another vector space (e.g. CLIP images, DPR contexts); existing items are encoded into it."""
        self._require_writer()
        persistence.check_index_kind(index)
        space = self._add_space(name, encoder, index)
        for batch in self.store.iterate(self.view, kind=space.kind):
            self._index_items(batch, spaces=[space])

    # --- writes ------------------------------------------------------------------------------
    def add(
        self,
        texts: Sequence[str],
        ids: Sequence[str] | None = None,
        metadata: Sequence[dict[str, Any]] | None = None,
        *,
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> list[str]:
        """Add new texts; returns their ids. An id already present is an error (use ``upsert``)."""
        items = make_items(texts, ids, metadata)
        existing = self.store.rowids_for_ids([item.id for item in items], self.view)
        if existing:
            shown = ", ".join(repr(id_) for id_ in list(existing)[:5])
            raise InvalidInputError(f"ids already in the collection: {shown}; use upsert to replace them")
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
        """Stage prepared items (ingestion, copies). Vectors are encoded unless given per space."""
        self._require_writer()
        if not items:
            return
        # Encode before touching storage: the slow, failure-prone step changes nothing.
        encoded = self.encode_items(items, vectors=vectors, batch_size=batch_size, progress=progress)
        if replace:
            old = self.store.rowids_for_ids([item.id for item in items], self.view)
            self._remove_rowids([rowid for rowids in old.values() for rowid in rowids])
        try:
            rowids = np.asarray(self.store.insert(items, self.view), dtype=np.int64)
        except sqlite3.Error as error:  # e.g. "database or disk is full": nothing of this batch was stored
            raise CollectionError(f"could not store {len(items)} items in {str(self.folder)!r}: {error}") from error
        for name, space_vectors in encoded.items():
            mask = np.array([item.kind == self.spaces[name].kind for item in items])
            self.spaces[name].index.add(rowids[mask], space_vectors)
            self.spaces[name].dirty = True
        self._dirty_sparse = True
        self._sparse = None

    def delete(self, ids: Sequence[str]) -> int:
        """Delete items by id, and every chunk of a document by the document's id. Returns items removed."""
        self._require_writer()
        if isinstance(ids, str):
            ids = [ids]
        found = self.store.rowids_for_ids(list(ids), self.view)
        rowids = [rowid for values in found.values() for rowid in values]
        for id_ in ids:
            rowids += self.store.rowids_for_parent(id_, self.view)
        rowids = sorted(set(rowids))
        self._remove_rowids(rowids)
        return len(rowids)

    def document_hash(self, parent: str) -> str | None:
        return self.store.parent_hash(parent, self.view)

    def _remove_rowids(self, rowids: list[int]) -> None:
        if not rowids:
            return
        array = np.asarray(rowids, dtype=np.int64)
        for space in self.spaces.values():
            space.index.remove(array)
            space.dirty = True
        self.store.mark_deleted(rowids, self.view)
        self._dirty_sparse = True
        self._sparse = None

    def _index_items(self, items: list[Item], spaces: list[VectorSpace]) -> None:
        for space in spaces:
            members = [item for item in items if item.kind == space.kind]
            if members:
                vectors = self._encode_members(space.name, members, None, None)
                space.index.add(np.asarray([item.rowid for item in members], dtype=np.int64), vectors)
                space.dirty = True

    def _require_writer(self) -> None:
        if self.readonly:
            raise CollectionError(f"collection {str(self.folder)!r} was opened read-only")
        if self._lock is None:
            raise CollectionError(f"collection {str(self.folder)!r} is closed")

    # --- commit ------------------------------------------------------------------------------
    def commit(self, force: bool = False) -> None:
        """Make staged changes durable and visible: new files beside the old, manifest switched last."""
        self._require_writer()
        if force or self.dirty:
            persistence.commit(self)

    save = commit

    # --- search ------------------------------------------------------------------------------
    def search(self, query: str, k: int = 5, **options: Any):
        """Search by text; see ``densekit.collection.search.search`` for the options."""
        from .search import search

        return search(self, query, k, **options)

    def search_vector(self, vector: np.ndarray, k: int = 5, *, space: str = DEFAULT_SPACE, where=None):
        """Search a space with a ready vector (made by the same model)."""
        from .search import search_vectors

        return search_vectors(self, np.atleast_2d(vector), k, space=space, where=where)[0]
