"""The collection interface every store implements: one id space of items, named vector spaces, a
sparse index, metadata filters. Opening dispatches on the location (``registry``); writing, search
orchestration (``search``) and ``where`` parsing (``where``) are written here once, and each store
answers a few narrow hooks (the ``_``-prefixed abstract methods below). docs/stores.md has the list
and how to add a store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import numpy as np

from ..encoders.base import Encoder
from ..errors import CollectionError, InvalidInputError
from ..progress import ProgressCallback
from .encoding import SpaceEncoders
from .hooks import StoreHooks
from .items import Item, check_ids, check_unique, make_items
from .where import parse_where

DEFAULT_SPACE = "text"
INCLUDE = ("metadata", "text", "vectors")


@dataclass
class IdPage:
    """One page of ids in row order; pass ``next`` as ``after`` for the following page (None: the end)."""

    ids: list[str]
    next: str | None


class Collection(SpaceEncoders, StoreHooks):
    """Items with text and metadata, searchable densely (per space), sparsely and by filters, in any store.

    Example:
        >>> with Collection.create("notes", model="sentence-transformers/all-MiniLM-L6-v2") as notes:
        ...     notes.add(["The cat sat on the mat."], metadata=[{"lang": "en"}])
        >>> Collection.open("notes", readonly=True).search("a cat", k=1)[0].text
        'The cat sat on the mat.'
    """

    #: The store's name in the registry and in ``info()["store"]``.
    store_kind: ClassVar[str] = ""
    #: Where the collection lives, for messages: a folder, or a URL with its password masked.
    location: str
    readonly: bool
    #: Items worth grouping into one commit when a caller writes batch after batch (copies): 1 where a
    #: commit costs the batch; more where a commit costs more than the batch.
    commit_group: ClassVar[int] = 1
    #: The hybrid fusion when a search names none (``densekit.fusion``): "probability" suits a BM25
    #: sparse side; a store whose sparse scores are on another scale says so here.
    default_fusion: ClassVar[str] = "probability"

    # --- opening -------------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        location: Any,
        model: str | None = None,
        *,
        encoder: Encoder | None = None,
        backend: str | None = None,
        index: str = "auto",
        space: str = DEFAULT_SPACE,
        exist_ok: bool = False,
        name: str | None = None,
        read_replicas: Sequence[str] | None = None,
        models: Any = None,
    ) -> "Collection":
        """Create a collection with one space (opened for writing).

        Args:
            location: a folder (the embedded store) or a ``postgresql://`` URL; ``registry`` knows the rest.
            model: model reference for the space (default: densekit's default text model).
            encoder: an already built encoder to use instead of ``model`` (its own backend is recorded).
            backend: encoder backend for ``model``; None picks the default for the model
                (``encoders.defaults.default_backend``). An existing collection (``exist_ok``) keeps its own.
            index: the vector index kind ("auto" everywhere; the embedded store also "exact", "flat", "hnsw").
            exist_ok: open an existing collection instead of failing.
            name / read_replicas: a database store's collection name and read replica URLs.
            models: a ``densekit.loaded_models.Models`` that loads (and shares) encoders and rerankers;
                default: the library's.
        """
        store = cls._store_for(location)
        if exist_ok and store.exists(location, name=name):
            chosen = {"encoders": {space: encoder}} if encoder is not None else {"model": model}
            return store.open(location, name=name, read_replicas=read_replicas, models=models, **chosen)

        def make_encoder() -> Encoder:
            if encoder is not None:
                return encoder
            from ..loaded_models import default_models

            return (models or default_models()).encoder(model, backend)

        collection = store._create(location, make_encoder, index=index, space=space, exist_ok=exist_ok, name=name,
                                   read_replicas=read_replicas)
        collection.models = models
        return collection

    @classmethod
    def open(
        cls,
        location: Any,
        *,
        readonly: bool = False,
        model: str | None = None,
        encoder: Encoder | None = None,
        encoders: dict[str, Encoder] | None = None,
        name: str | None = None,
        read_replicas: Sequence[str] | None = None,
        allow_backend_mismatch: bool = False,
        models: Any = None,
    ) -> "Collection":
        """Open an existing collection; ``readonly=True`` for searching while another handle writes.

        ``model`` or ``encoder`` (for the text space) and ``encoders`` (space -> encoder, e.g. shared,
        already loaded ones), when given, must be the ones the collection was built with;
        ``allow_backend_mismatch=True`` accepts another backend of the same model and dimension (e.g.
        torch fp32 queries on an int8 space) with a logged warning. ``models``: who loads and shares
        encoders and rerankers (``densekit.loaded_models.Models``; default: the library's).
        """
        collection = cls._store_for(location)._open(location, readonly=readonly, name=name, read_replicas=read_replicas)
        try:
            collection.models = models
            collection.allow_backend_mismatch = allow_backend_mismatch
            if model is not None or encoder is not None:
                if DEFAULT_SPACE not in collection.spaces:
                    raise InvalidInputError(
                        f"model/encoder apply to the {DEFAULT_SPACE!r} space, which this collection lacks; "
                        f"pass encoders={{space: encoder}} for its spaces: {', '.join(collection.spaces)}"
                    )
                collection._use_encoder(DEFAULT_SPACE, model, encoder)
            for space, given in (encoders or {}).items():
                collection.set_encoder(space, given)
        except BaseException:
            collection.close()
            raise
        return collection

    @classmethod
    def exists(cls, location: Any, *, name: str | None = None) -> bool:
        """True when a collection is already at ``location``."""
        return cls._store_for(location)._exists(location, name=name)

    @classmethod
    def check_at(cls, location: Any, *, name: str | None = None) -> list[str]:
        """Problems in the collection at ``location`` (an empty list: consistent); never raises for
        what it finds, only for a location that holds no collection at all."""
        store = cls._store_for(location)
        if store is not cls:  # the store's own (the embedded one lists what opening refuses)
            return store.check_at(location, name=name)
        problems = store._check_before_open(location, name=name)
        if problems:
            return problems
        with store.open(location, readonly=True, name=name) as collection:
            return collection.check()

    @classmethod
    def repair_at(cls, location: Any, *, name: str | None = None) -> list[str]:
        """Rebuild what ``check`` found broken and can be derived again (indexes from the stored
        items); returns what was done. The items themselves are never invented."""
        return cls._store_for(location).repair_at(location, name=name) if cls is Collection else []

    @classmethod
    def _check_before_open(cls, location: Any, *, name: str | None) -> list[str]:
        """Problems that would stop ``open`` itself (e.g. files the manifest names that are missing)."""
        return []

    @classmethod
    def _store_for(cls, location: Any) -> "type[Collection]":
        if cls is not Collection:
            return cls  # a store class opens its own kind
        from .registry import store_class

        return store_class(location)

    def __enter__(self) -> "Collection":
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        try:
            if error_type is None and not self.readonly and not self.closed:
                self.commit()
        finally:
            self.close()

    def save(self) -> None:
        """The same as ``commit()``."""
        self.commit()

    def _require_writer(self) -> None:
        if self.readonly:
            raise CollectionError(f"collection {self.location!r} was opened read-only")
        if self.closed:
            raise CollectionError(f"collection {self.location!r} is closed")

    # --- reads ---------------------------------------------------------------------------------
    def get(self, ids: str | Sequence[str], *, include: Sequence[str] | None = None):
        """One item by id (None when absent), or for a list of ids the items found, in that order.

        ``include=["vectors"]`` also returns each item's stored vectors (``item.vectors``: space -> vector).

        Example:
            >>> [item.id for item in notes.get(["a", "missing", "b"], include=["vectors"])]
            ['a', 'b']
        """
        wanted = check_ids(ids)
        unknown = sorted(set(include or ()) - set(INCLUDE))
        if unknown:
            raise InvalidInputError(f"unknown include {unknown[0]!r}; valid: {', '.join(INCLUDE)}")
        self._ensure_current()
        found = {item.id: item for item in self._get_items(wanted, "vectors" in (include or ()))}
        if isinstance(ids, str):
            return found.get(ids)
        return [found[id_] for id_ in wanted if id_ in found]

    def list_ids(self, limit: int = 1000, after: str | None = None) -> IdPage:
        """Ids in row order, ``limit`` at a time; ``after`` is the ``next`` of the previous page.

        Example:
            >>> page = notes.list_ids(limit=100)
            >>> while page.next: page = notes.list_ids(limit=100, after=page.next)
        """
        from .search import check_k

        limit = check_k(limit)
        try:
            after_row = -1 if after is None else int(after)
        except ValueError:
            raise InvalidInputError(f"after={after!r} is not a page cursor; pass the previous page's next") from None
        self._ensure_current()
        rows = self._id_page(after_row, limit)
        return IdPage([id_ for _, id_ in rows], str(rows[-1][0]) if len(rows) == limit else None)

    # --- writes --------------------------------------------------------------------------------
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
        self.add_items(items, batch_size=batch_size, progress=progress)
        return [item.id for item in items]

    def upsert(
        self,
        texts: Sequence[str],
        ids: Sequence[str],
        metadata: Sequence[dict[str, Any]] | None = None,
        *,
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> list[str]:
        """Add texts, replacing any items that have the same ids."""
        if ids is None:
            raise InvalidInputError("upsert needs ids")
        items = make_items(texts, ids, metadata)
        self.add_items(items, batch_size=batch_size, progress=progress, replace=True)
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
        """Store prepared items (ingestion, copies); vectors are encoded unless given per space.
        ``replace`` replaces items with the same ids, else an id already present is an error."""
        self._require_writer()
        if not items:
            return
        check_unique([item.id for item in items])
        # Encode before touching storage: the slow, failure-prone step changes nothing.
        encoded = self.encode_items(items, vectors=vectors, batch_size=batch_size, progress=progress)
        self._write_items(items, encoded, replace=replace)

    def replace(
        self,
        parents: str | Sequence[str],
        items: list[Item],
        *,
        vectors: dict[str, np.ndarray] | None = None,
        batch_size: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Replace whole documents in one atomic write: every item of each parent in ``parents`` (and an
        item whose id is that parent) goes, ``items`` come in; a reader sees the old version or the new,
        never neither. Returns the number of items removed.

        Example:
            >>> notes.replace("doc-1", [Item("doc-1#0", "new text", parent="doc-1")])
        """
        self._require_writer()
        parents = check_ids(parents, "parent")
        check_unique([item.id for item in items])
        encoded = self.encode_items(items, vectors=vectors, batch_size=batch_size, progress=progress)
        return self._replace_documents(parents, items, encoded)

    def delete(self, ids: str | Sequence[str] | None = None, *, where: dict[str, Any] | None = None) -> int:
        """Delete items by id (an id that is a document's also deletes all its chunks), or every item
        matching ``where``; both given: items named by ``ids`` that match ``where``. Returns items removed."""
        self._require_writer()
        if ids is None and not where:
            raise InvalidInputError("delete needs ids, a where filter, or both")
        return self._delete(None if ids is None else check_ids(ids), parse_where(where) if where else None)

    def update(self, ids: str | Sequence[str], metadata: dict[str, Any] | Sequence[dict[str, Any]]) -> int:
        """Change items' metadata without re-encoding them: each dict is merged into the item's metadata,
        and a key set to None is removed. One dict for all ids, or one per id. Returns items updated.

        Example:
            >>> notes.update(["a", "b"], {"reviewed": True, "draft": None})
            2
        """
        from .items import check_metadata, check_metadata_entry

        self._require_writer()
        wanted = check_ids(ids)
        check_unique(wanted)
        if isinstance(metadata, dict):
            check_metadata_entry(metadata, 0)
            patches = [metadata] * len(wanted)
        else:
            patches = check_metadata(metadata, len(wanted))
        changes = {id_: ({k: v for k, v in patch.items() if v is not None}, [k for k, v in patch.items() if v is None])
                   for id_, patch in zip(wanted, patches)}
        return self._update_metadata(changes)

    def index_keys(self, keys: Sequence[str]) -> list[str]:
        """Index metadata keys that filters use, so a filter reads the matching rows instead of every
        row; returns the keys newly indexed. (``densekit index --index-key KEY``.)"""
        from .where import check_index_key

        self._require_writer()
        for key in keys:
            check_index_key(key)
        return [key for key in keys if self._index_key(key)]

    def compact(self) -> dict[str, int]:
        """Drop deleted items for good and return their space to the file system (``densekit compact``);
        returns the store's size in bytes before and after ({"size_before", "size_after"})."""
        raise InvalidInputError(
            f"{self.store_kind} collections reclaim the space of deleted items themselves (PostgreSQL: VACUUM); "
            "compact is for folder collections"
        )

    @property
    def generation(self) -> int | None:
        """The committed generation (folder collections count their commits); None for a store whose
        every write commits on its own (PostgreSQL)."""
        return None

    def merge_segments(self, since: int) -> int:
        """Merge the BM25 segments written by commits after generation ``since`` and commit: what
        ``ingest`` does at the end of a run that commits as it goes, so searches read a few segments
        instead of one per write (docs/retrieval.md, latency). Returns how many segments were rewritten;
        0 for a store that keeps no segments (PostgreSQL)."""
        return 0

    def reencode(self, space: str = DEFAULT_SPACE, *, encoder: Encoder | None = None, backend: str | None = None,
                 progress: ProgressCallback | None = None) -> int:
        """Encode every item of a space again with another backend of its model (e.g. into today's
        default after a change of quantisation), replacing the space's vectors and the backend its
        manifest records, in one write. Returns the items encoded.

        Args:
            encoder: the new encoder (same model and dimension); else the space's model is loaded with
                ``backend`` (None: the default backend for the model, ``encoders.defaults``).

        Example:
            >>> with Collection.open("news") as news:
            ...     news.reencode()  # onnx-int8 vectors -> the batch-invariant default
        """
        self._require_writer()
        info = self.space(space).encoder_info
        if encoder is None:
            from ..encoders.defaults import default_backend

            encoder = self.models.encoder(info["model"], backend or default_backend(info["model"], fetch=True))
        new = encoder.info().as_dict()
        if (new["model"], new["dimension"]) != (info["model"], info["dimension"]):
            from ..errors import ModelMismatchError

            raise ModelMismatchError(
                f"reencode keeps the model: space {space!r} holds {info['model']!r} ({info['dimension']}-d), "
                f"got {new['model']!r} ({new['dimension']}-d); index into a new collection to change models"
            )
        return self._reencode_space(space, encoder, progress)

    # --- search --------------------------------------------------------------------------------
    def search(self, query: str, k: int = 5, **options: Any):
        """Top-k items for a text query.

        Options: ``mode`` "dense" (meaning), "sparse" (BM25, exact words) or "hybrid" (both, fused);
        ``where`` a metadata filter, e.g. {"category": "tech"} or {"year": {"$gte": 2005}}; ``space`` the
        vector space of the dense side; ``alpha`` hybrid weighted fusion, alpha * dense + (1 - alpha) *
        sparse of normalised scores; ``fusion`` "probability" (the default: docs/retrieval.md), "rrf" (with
        ``rrf_k``) or "weighted"; ``rerank`` a cross-encoder reference (a model name or a folder that
        ``densekit train reranker`` wrote) or reranker object, which rescores the first ``rerank_depth``
        hits (default ``search.RERANK_DEPTH``, 20; documents with ``group="parent"``, each by its best
        chunk); ``candidates`` per side before fusion or reranking;
        ``group="parent"`` one hit per document (its best chunk, with that chunk's text, offsets and
        score), searching deeper until k documents are found; ``explain=True`` attaches to each hit how its
        score came about (``Hit.explain``: each side's score, rank and share of the fused score).

        Example:
            >>> collection.search("who won the match", k=3, mode="hybrid", where={"category": "sport"})
        """
        from .search import search

        return search(self, query, k, **options)

    def search_vector(self, vector: np.ndarray, k: int = 5, *, space: str = DEFAULT_SPACE, where=None):
        """Search a space with a ready vector (made by the space's model)."""
        return self.search_vectors(np.atleast_2d(vector), k, space=space, where=where)[0]

    def search_vectors(self, vectors: np.ndarray, k: int = 5, *, space: str = DEFAULT_SPACE, where=None):
        """``search_vector`` for each row of ``vectors``: a list of hit lists."""
        from .search import search_vectors

        return search_vectors(self, vectors, k, space=space, where=where)
