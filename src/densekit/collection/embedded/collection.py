"""The embedded store: a collection in one folder (SQLite content, FAISS indexes per space, BM25).

Writes are staged (visible to this handle at once) and become durable and visible to other readers
at ``commit()``, which writes new files beside the old ones and switches the manifest last
(``persistence``). One writer at a time (a file lock); any number of readers.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ...encoders.base import Encoder
from ...errors import CollectionError, InvalidInputError
from ..base import Collection
from ..encoding import describe_spaces
from ..items import Item
from ..search import MATCHES_NOTHING
from ..where import Condition
from . import persistence, sparse_tables
from .commits import EmbeddedCommits
from .filters import conditions_to_sql
from .lock import WriterLock
from .manifest import manifest_path, new_manifest, read_manifest, readable_vector_keys
from .reading import EmbeddedReading, newer_commit
from .store import CONTENT_NAME, ContentStore
from .writes import EmbeddedWrites


def _folder_only(location: Any, name: str | None, read_replicas: Sequence[str] | None) -> Path:
    if read_replicas:
        raise InvalidInputError(f"read replicas are for PostgreSQL collections; {str(location)!r} is a folder (embedded store)")
    if name is not None:
        raise InvalidInputError(f"name={name!r} is for PostgreSQL collections; a folder collection is named by its path")
    text = str(location)
    return Path(text[len("file://"):] if text.startswith("file://") else location).expanduser()


class EmbeddedCollection(EmbeddedReading, EmbeddedCommits, EmbeddedWrites, Collection):
    """A collection in a folder: ``manifest.json``, ``content.sqlite``, ``spaces/*.index``, ``sparse.N/``."""

    store_kind = "embedded"
    commit_group = 20_000  # each commit rewrites the index files

    def __init__(self, folder: Path, manifest: dict[str, Any], readonly: bool, lock: WriterLock | None,
                 rebuild: set[str] = frozenset(), stamp: tuple[int, int] | None = None):
        self.folder = folder
        self.location = str(folder)
        self.readonly = readonly
        self._lock = lock
        self._closed = False
        self._manifest = manifest
        # The manifest file's stamp taken before ``manifest`` was read (a stamp taken after it may be
        # a newer commit's, which this handle would then never catch up with).
        self._manifest_stamp = stamp if stamp is not None else persistence.stamp(folder)
        self._encoders: dict[str, Encoder] = {}
        #: Each space's encoder before a staged re-encoding replaced it (None: none was loaded),
        #: put back when the staged changes are dropped (``_discard_staged``).
        self._encoders_before: dict[str, Encoder | None] = {}
        self._dirty_sparse = False
        self._sparse = None  # what searches read: CollectionSparse, or a legacy SparseIndex folder
        self._sparse_tables = None  # a writer's CollectionSparse, once it writes (collections made before convert then)
        self._sparse_rebuilt = False  # staged: the sparse tables were dropped and built again (rebuild_sparse)
        self._staged_copy_state: dict[str, dict[str, Any]] = {}
        self._key_deltas: dict[str, int] = {}  # metadata key counts changed by staged writes
        self._count_change = 0  # visible items added minus removed by staged writes
        self._run_items = 0  # items an index run of this handle wrote (when its BM25 worker pays off)
        self._checkpoint_jobs = {}  # space -> CheckpointJob writing its next checkpoint (commits.py)
        if not (folder / CONTENT_NAME).is_file() and manifest["generation"] > 0:
            # Never start an empty content store under a manifest that names items: that loses them all.
            raise CollectionError(
                f"collection {str(folder)!r}: its content store {CONTENT_NAME} is missing; restore it from a backup "
                "(densekit check lists what else is wrong)"
            )
        try:
            self.store = ContentStore(folder / CONTENT_NAME, readonly=readonly)
        except sqlite3.Error as error:
            raise CollectionError(
                f"collection {str(folder)!r}: its content store {CONTENT_NAME} cannot be opened ({error}); "
                "densekit check lists what is wrong"
            ) from error
        #: Test hook: called with the name of each step of a save (crash-injection tests raise from it).
        self.on_save_step: Callable[[str], None] | None = None
        try:
            self.spaces = persistence.load_spaces(folder, {**manifest, "spaces": {
                name: entry for name, entry in manifest["spaces"].items() if name not in rebuild}}, self.store)
            for name in rebuild:  # repair: an empty index, filled by reencode_space
                self.spaces[name] = persistence.empty_space(name, manifest["spaces"][name])
            if not readonly:
                # A save that died before its manifest left staged rows and files behind: drop them.
                # Not the vectors of the manifest before (a re-encoding's old key): readers may be opening it.
                self.store.discard_after(self.generation, readable_vector_keys(manifest))
                if sparse_tables.tables_exist(self.store.connection):
                    with self.store.connection:
                        sparse_tables.discard_after(self.store.connection, self.generation)
                persistence.remove_unreferenced(folder, persistence.kept_files(manifest))
        except BaseException:
            # A handle that did not open holds nothing: no connection, no read-only snapshot copy
            # (a reader retries up to 10 times while a writer commits).
            self.store.close()
            raise

    # --- opening -------------------------------------------------------------------------------
    @classmethod
    def _exists(cls, location: Any, *, name: str | None) -> bool:
        return manifest_path(_folder_only(location, name, None)).is_file()

    @classmethod
    def _create(cls, location, make_encoder, *, index, space, exist_ok, name, read_replicas) -> "EmbeddedCollection":
        folder = _folder_only(location, name, read_replicas)
        if manifest_path(folder).exists():
            raise CollectionError(f"a collection already exists at {str(folder)!r}; open it instead")
        if folder.is_dir() and any(folder.iterdir()) and not persistence.half_created(folder):
            raise CollectionError(f"{str(folder)!r} exists and is not an empty folder; choose a new path")
        if folder.exists() and not folder.is_dir():
            raise CollectionError(f"{str(folder)!r} is a file, not a folder; choose a new path")
        persistence.check_index_kind(index)
        encoder = make_encoder()
        folder.mkdir(parents=True, exist_ok=True)
        lock = WriterLock(folder)
        lock.acquire()
        try:
            if manifest_path(folder).exists():  # another process finished creating it meanwhile
                raise CollectionError(f"a collection already exists at {str(folder)!r}; open it instead")
            # A creation killed before its first manifest left only its own files: start afresh.
            persistence.remove_half_created(folder)
            manifest = new_manifest()
            manifest["id"] = uuid.uuid4().hex
            collection = cls(folder, manifest, readonly=False, lock=lock)
            collection._new_space(space, encoder, index)
            collection.commit(force=True)
        except BaseException:
            lock.release()
            raise
        return collection

    @classmethod
    def _open(cls, location, *, readonly, name, read_replicas) -> "EmbeddedCollection":
        folder = _folder_only(location, name, read_replicas)
        stamp = persistence.stamp(folder)
        manifest = read_manifest(folder)
        lock = None
        if not readonly:
            lock = WriterLock(folder)
            lock.acquire()
            stamp = persistence.stamp(folder)
            manifest = read_manifest(folder)  # the previous writer may have committed meanwhile
        try:
            # A writer may commit twice while a reader loads, removing the files its manifest named or
            # purging the deletions it replays (a checkpoint that then seems not to match): retry.
            for attempt in range(10):
                try:
                    collection = cls(folder, manifest, readonly=readonly, lock=lock, stamp=stamp)
                    if not readonly:
                        try:
                            collection.prepare_writes()
                        except BaseException:
                            collection.store.close()
                            raise
                    return collection
                except (FileNotFoundError, CollectionError) as error:
                    if not readonly or attempt == 9 or not newer_commit(folder, stamp, error):
                        raise
                    stamp = persistence.stamp(folder)
                    manifest = read_manifest(folder)
            raise AssertionError("unreachable")
        except BaseException:
            if lock is not None:
                lock.release()
            raise

    @property
    def collection_id(self) -> str:
        # Collections made before ids were recorded are known by their folder until their next commit.
        return self._manifest.get("id") or f"folder:{self.folder.resolve()}"

    def close(self) -> None:
        if not self.readonly and not self._closed:
            try:
                self.detach_sparse_worker()  # a run that ended early: its staged writes stay uncommitted
            except CollectionError:
                pass  # what it staged was dropped; the last commit is intact
        if not self.readonly and not self._closed and self._checkpoint_jobs:
            try:
                self.finish_checkpoints()
            except (CollectionError, OSError, sqlite3.Error):
                pass  # the next writer checkpoints again; nothing committed is lost
        self._closed = True
        self.store.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # --- state ---------------------------------------------------------------------------------
    @property
    def generation(self) -> int:
        """The committed generation the manifest names."""
        return int(self._manifest["generation"])

    @property
    def view(self) -> int:
        """The generation this handle reads: its own staged changes for a writer."""
        return self.generation if self.readonly else self.generation + 1

    @property
    def manifest(self) -> dict[str, Any]:
        """The committed manifest this handle reads (do not change it)."""
        return self._manifest

    @property
    def dirty(self) -> bool:
        return self._dirty_sparse or bool(self._staged_copy_state) or any(space.dirty for space in self.spaces.values())

    # --- reads ---------------------------------------------------------------------------------
    def count(self, kind: str | None = None) -> int:
        self.refresh()
        return self.store.count(self.view, kind=kind) if kind is not None else self._visible_count()

    def _visible_count(self) -> int:
        """Visible items, from the manifest's count and this writer's staged changes (no table scan)."""
        return int(self._manifest["count"]) + (0 if self.readonly else self._count_change)

    def document_hash(self, parent: str) -> str | None:
        return self.store.parent_hash(parent, self.view)

    def metadata_keys(self) -> dict[str, int]:
        self.refresh()
        committed = self._manifest.get("metadata_keys")
        if committed is None:  # made before the manifest kept them: count once from the rows
            return self.store.key_counts(self.view)
        counts = dict(committed)
        for key, change in ([] if self.readonly else self._key_deltas.items()):
            counts[key] = counts.get(key, 0) + change
        return {key: count for key, count in sorted(counts.items()) if count > 0}

    def info(self) -> dict[str, Any]:
        self.refresh()
        return {
            "path": str(self.folder),
            "store": self.store_kind,
            "id": self.collection_id,
            "generation": self._manifest["generation"],
            "count": self._visible_count(),
            "spaces": describe_spaces(
                self.spaces,
                {name: len(space.index) for name, space in self.spaces.items()},
                {name: space.index.kind for name, space in self.spaces.items()},
            ),
            # "folder" stays (null: the BM25 tables live in the content store) for tools that read it.
            "sparse": {"folder": None, **self._manifest["sparse"]} if self._manifest.get("sparse") else None,
            "metadata_keys": self.metadata_keys(),
            "size_bytes": persistence.folder_size(self.folder),
        }

    @classmethod
    def check_at(cls, location: Any, *, name: str | None = None) -> list[str]:
        problems = cls._check_before_open(location, name=name)
        if problems:
            return problems
        token = persistence.VERIFY_COUNTS.set(False)  # counts are compared (and listed) by check itself
        try:
            with cls.open(location, readonly=True, name=name) as collection:
                return collection.check()
        except CollectionError as error:  # what opening found wrong is a problem like any other
            return [str(error)]
        finally:
            persistence.VERIFY_COUNTS.reset(token)

    @classmethod
    def _check_before_open(cls, location: Any, *, name: str | None) -> list[str]:
        from .check import check_files

        return check_files(_folder_only(location, name, None))

    @classmethod
    def repair_at(cls, location: Any, *, name: str | None = None) -> list[str]:
        """Rebuild a broken sparse index (from the texts) and broken vector indexes (re-encoding the
        items with each space's recorded model); returns what was done.

        Raises:
            CollectionError: the content store itself is missing or damaged (restore it from a backup).
        """
        from . import check

        folder = _folder_only(location, name, None)
        content = check.content_problems(folder)
        if content:
            raise CollectionError(f"cannot repair {str(folder)!r}: {content[0]}; restore it from a backup")
        manifest = read_manifest(folder)
        broken = dict(check.space_problems(folder, manifest))
        broken.update(check.replay_problems(folder, manifest, skip=set(broken)))
        actions = []
        with cls.open_for_repair(folder, rebuild=set(broken)) as collection:
            for space in broken:
                key = collection.spaces[space].vector_key
                how = "from the stored vectors" if key and collection.store.has_vectors(key) else "re-encoded"
                count = collection.reencode_space(space)
                actions.append(f"space {space!r}: rebuilt its index from {count} items ({how})")
            if check.sparse_problems(folder, manifest) or check.sparse_agrees(collection):
                collection.rebuild_sparse()
                actions.append("sparse index rebuilt from the content store")
            if actions:
                collection.commit(force=True)
        return actions

    def check(self) -> list[str]:
        from .check import check_consistency

        self.refresh()
        return check_consistency(self)

    @property
    def local_folder(self) -> Path:
        return self.folder

    def export(self, *, after: int = -1, batch: int = 500, include_vectors: bool = True) -> Iterator[tuple[list[Item], dict[str, np.ndarray]]]:
        self.refresh()
        while True:
            items = self.store.rows(after, batch, self.view)
            if not items:
                return
            vectors = {}
            for name, space in (self.spaces if include_vectors else {}).items():
                members = np.asarray([item.rowid for item in items if item.kind == space.kind], dtype=np.int64)
                if members.size:
                    vectors[name] = space.index.vectors(members)
            yield items, vectors
            after = items[-1].rowid

    def read_copy_state(self, source: str) -> dict[str, Any]:
        if source in self._staged_copy_state:
            return self._staged_copy_state[source]
        return self._manifest.get("copy_state", {}).get(source, {})

    def write_copy_state(self, source: str, state: dict[str, Any]) -> None:
        """Staged like every write: it lands in the manifest at the commit of the rows it describes."""
        self._require_writer()
        self._staged_copy_state[source] = dict(state)

    def _get_items(self, ids: list[str], with_vectors: bool) -> list[Item]:
        items = self.store.items_for_ids(ids, self.view)
        if with_vectors:
            for item in items:
                item.vectors = {}
            for name, space in self.spaces.items():
                members = [item for item in items if item.kind == space.kind]
                if members:
                    vectors = space.index.vectors(np.asarray([item.rowid for item in members], dtype=np.int64))
                    for item, vector in zip(members, vectors):
                        item.vectors[name] = vector
        return items

    def _id_page(self, after: int, limit: int) -> list[tuple[int, str]]:
        return self.store.id_page(after, limit, self.view)

    # --- search hooks --------------------------------------------------------------------------
    def _compile_filter(self, conditions: list[Condition]) -> Any:
        if not conditions:
            return None
        allowed = self.store.filter_rowids(conditions_to_sql(conditions), self.view)
        return MATCHES_NOTHING if allowed.size == 0 else allowed

    def _dense_candidates(self, vectors, depth, space, compiled, found) -> list[list[tuple[int, float]]]:
        index = self.spaces[space].index
        if len(index) == 0:
            return [[] for _ in range(len(vectors))]
        scores, rowids = index.search(vectors, depth, compiled)
        return [[(int(r), float(s)) for r, s in zip(row_ids, row_scores) if r >= 0] for row_scores, row_ids in zip(scores, rowids)]

    def _sparse_candidates(self, query, depth, compiled, found) -> list[tuple[int, float]]:
        sparse = self.sparse_index()
        if sparse is None:
            return []
        scores, rowids = sparse.search(query, depth, compiled)
        return [(int(r), float(s)) for r, s in zip(np.ravel(rowids), np.ravel(scores)) if r >= 0]

    def _items_by_rowid(self, rowids: list[int]) -> dict[int, Item]:
        return self.store.by_rowids(rowids)

