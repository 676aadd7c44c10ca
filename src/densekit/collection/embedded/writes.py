"""The write half of the embedded store: staging items, deletes, replacements and metadata updates
at the next generation, repairs, and the commit that makes them durable (``EmbeddedCollection``
provides the folder, store and spaces)."""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from pathlib import Path
from typing import Any, Iterator, Self

import numpy as np

from ...encoders.base import Encoder
from ...errors import CollectionError, InvalidInputError
from ..items import Item
from ..space import IN_INDEX_RUN, INDEX_RUN_SINCE, VectorSpace
from . import persistence, sparse_tables, sparse_worker, vector_log
from .filters import conditions_to_sql
from .lock import WriterLock
from .manifest import read_manifest, readable_vector_keys, segmented
from .sparse_worker import SparseWorker, SparseWorkerError
from .vector_log import vector_key

#: What reading sparse tables raises when they cannot be read (missing, an unknown format, a damaged
#: segment's checksum): left to the first write (``prepare_writes``) or dropped (``rebuild_sparse``).
UNREADABLE_TABLES = (CollectionError, sqlite3.Error, ValueError)


class EmbeddedWrites:
    """Mixin for ``EmbeddedCollection``."""

    _discard_unfinished = False  # a discard of staged changes failed midway (``_discard_staged``)
    #: Counts the changes this handle began staging (rows, a new space): a call that raised with it
    #: unchanged left nothing staged, so a group of writes need not be undone for it (server/writes.py).
    staged_writes = 0

    def _new_space(self, name: str, encoder: Encoder, index: str) -> VectorSpace:
        from ...index.factory import create_index

        if name in self.spaces:
            raise InvalidInputError(f"space {name!r} already exists")
        self.staged_writes += 1
        info = encoder.info().as_dict()
        kind = persistence.resolve_kind(index, 0)
        space = VectorSpace(name, info, index, index=create_index(kind, info["dimension"]), dirty=True, rewrite=True,
                            vector_key=vector_key(name, self.view))
        self.spaces[name] = space
        self._encoders[name] = encoder
        return space

    def add_space(self, name: str, encoder: Encoder, index: str = "auto") -> None:
        """Add another vector space (e.g. CLIP images, DPR contexts); existing items are encoded into it."""
        self._require_writer()
        persistence.check_index_kind(index)
        space = self._new_space(name, encoder, index)
        try:
            self._encode_into(space, None)
        except BaseException:
            # Kept, the half-filled space went out with the next commit: items without vectors in it.
            # (Vectors stored under its key before the failure are dropped by a later commit's purge.)
            del self.spaces[name]
            self._encoders.pop(name, None)
            raise

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """Several writes as one commit: staged changes made before are committed first; on an
        exception everything staged inside is dropped and the last commit stays as it was, also
        when the exception is the transaction's own commit failing (a full disk), as PostgreSQL
        rolls back a COMMIT that fails: kept, the handle's next commit published them later."""
        self._require_writer()
        self.commit()
        try:
            yield self
            self.commit()
        except BaseException:
            self._discard_staged()
            raise

    def _discard_staged(self) -> None:
        """Drop what was staged since the last commit. A discard that fails midway (a full disk,
        Ctrl-C) is finished before the handle's next write or commit (``_require_writer``): meanwhile
        the staged rows and their BM25 entries may no longer match, and must not be published."""
        self._discard_unfinished = True
        if isinstance(self._sparse_tables, SparseWorker):
            # Ended first: nothing it still had to write lands after the discard.
            self._sparse_tables.kill()
            self._sparse_tables = self._sparse = None
        if self._sparse_tables is None and sparse_tables.tables_exist(self.store.connection):
            # A worker's (ended above), or this process's own from before a hand-over: SQL only.
            with self.store.connection:
                sparse_tables.discard_after(self.store.connection, self.generation)
        self.store.discard_after(self.generation, readable_vector_keys(self._manifest))
        if self._sparse_tables is not None:
            with self.store.connection:
                self._sparse_tables.discard_after(self.generation)
            if not segmented(self._manifest):  # the conversion itself was staged: undone
                self._sparse_tables = None
        spaces = persistence.load_spaces(self.folder, self._manifest, self.store)
        self._forget_changed_encoders(spaces)
        for name, encoder in self._encoders_before.items():  # a discarded re-encoding's: the one before it
            if encoder is not None:
                self._encoders[name] = encoder
        self._encoders_before = {}
        self.spaces = spaces
        self._dirty_sparse, self._sparse, self._staged_copy_state = False, None, {}
        self._sparse_rebuilt = False
        self._key_deltas = {}
        self._count_change = 0
        self._discard_unfinished = False

    def _require_writer(self) -> None:
        super()._require_writer()
        if self._discard_unfinished:
            self._discard_staged()

    def _write_items(self, items: list[Item], encoded: dict[str, np.ndarray], *, replace: bool) -> None:
        existing = self.store.rowids_for_ids([item.id for item in items], self.view)
        if existing and not replace:
            shown = ", ".join(repr(id_) for id_ in list(existing)[:5])
            raise InvalidInputError(f"ids already in the collection: {shown}; use upsert to replace them")
        self._change([rowid for rowids in existing.values() for rowid in rowids], items, encoded)

    def _change(self, rowids: list[int], items: list[Item], encoded: dict[str, np.ndarray]) -> None:
        """Remove the rows ``rowids`` and insert ``items`` (their vectors ``encoded``) as one write: an
        upsert, a replacement or a metadata update stages both halves or, when it fails (a full disk,
        an interruption), neither; staged apart, a failed insert left the removal staged, and the
        handle's next commit deleted what the write was replacing."""
        if not rowids and not items:
            return
        self.staged_writes += 1
        removed = sorted(self.store.by_rowids(rowids).items()) if rowids else []  # metadata for the key counts, texts for BM25
        sparse = self._sparse_writer()
        in_worker = isinstance(sparse, SparseWorker)  # an index run's: sent once the rows are staged
        if in_worker:  # its plans for the changes before read those rows as they were then
            self._worker_call(sparse.before_change, {item.parent for item in items if item.parent is not None}
                              | {item.parent for _, item in removed if item.parent is not None})
        self._store_legacy_vectors()
        masks = {name: np.array([item.kind == self.spaces[name].kind for item in items]) for name in encoded}

        def stage() -> np.ndarray:
            # The rows, their vectors and their sparse entries: one SQLite transaction.
            if rowids:
                self.store.mark_deleted(rowids, self.view, commit=False)
                if not in_worker:
                    sparse.change([], removed)
            added = np.asarray(self.store.insert(items, self.view, commit=False), dtype=np.int64)
            for name, space_vectors in encoded.items():
                self.store.insert_vectors(self.spaces[name].vector_key, added[masks[name]], space_vectors)
            if items and not in_worker:
                sparse.change(list(zip(added.tolist(), items)), [])
            return added

        failure = f"could not store {len(items)} items" if items else f"could not delete {len(rowids)} items"
        added = self._in_one_transaction(stage, failure)
        if in_worker:  # both halves in one change: the worker reads the rows after both
            self._worker_call(sparse.change, list(zip(added.tolist(), items)), removed)
        if rowids:
            self._count_keys([item.metadata for _, item in removed], -1)
            self._count_change -= len(rowids)
            array = np.asarray(rowids, dtype=np.int64)
            for space in self.spaces.values():
                space.index.remove(array)
                space.staged_rows += sum(1 for _, item in removed if item.kind == space.kind)
                space.dirty = True
        if items:
            self._count_keys([item.metadata for item in items], +1)
            self._count_change += len(items)
            if IN_INDEX_RUN.get():
                self._run_items += len(items)
            for name, space_vectors in encoded.items():
                space = self.spaces[name]
                space.index.add(added[masks[name]], space_vectors)
                space.staged_rows += int(masks[name].sum())
                space.dirty = True
        self._dirty_sparse = True

    def _in_one_transaction(self, work, failure: str):
        """Rows and their sparse entries change in one SQLite transaction: on an error (e.g. "database
        or disk is full") or an interruption (Ctrl-C, MemoryError) neither does, and the sparse tables
        are read back to match."""
        try:
            with self.store.connection:
                return work()
        except BaseException as error:
            self._sparse_rolled_back()
            if isinstance(error, sqlite3.Error):
                raise CollectionError(f"{failure} in {str(self.folder)!r}: {error}") from error
            raise

    def _sparse_rolled_back(self) -> None:
        """The transaction that changed the sparse tables was rolled back: memory (vocabulary, segments)
        is read back from the tables. Kept otherwise, the next write would number its new terms after
        ones never stored and index row ids SQLite hands out again."""
        if self._sparse_tables is None:
            return
        try:
            self._sparse_tables.reload()
        except BaseException:  # unreadable now, or interrupted again: the next write reads them afresh
            self._sparse_tables = self._sparse = None

    def _replace_documents(self, parents: list[str], items: list[Item], encoded: dict[str, np.ndarray]) -> int:
        # Staged together at the next generation: other handles see both halves at commit, or neither.
        old = self._matching_rowids(parents, documents=True)
        taken = self.store.rowids_for_ids([item.id for item in items], self.view)
        stray = {rowid for rowids in taken.values() for rowid in rowids} - set(old)
        if stray:
            raise InvalidInputError(
                f"ids already in the collection outside the replaced documents: {', '.join(map(repr, list(taken)[:5]))}"
            )
        self._change(old, items, encoded)
        return len(old)

    def _matching_rowids(self, ids: list[str], documents: bool = False) -> list[int]:
        """The items ``ids`` names and their chunks. ``documents``: ``ids`` are whole documents (a
        replace), and an item with such an id goes only when it is no other document's chunk (a JSONL
        row "a#1" replaced took chunk 1 of document "a" with it)."""
        found = self.store.rowids_for_ids(ids, self.view)
        rowids = {rowid for values in found.values() for rowid in values}
        if documents and rowids:
            rowids = {rowid for rowid, item in self.store.by_rowids(sorted(rowids)).items()
                      if item.parent is None or item.parent == item.id}
        rowids.update(self.store.rowids_for_parents(ids, self.view))
        return sorted(rowids)

    def _delete(self, ids, conditions) -> int:
        rowids = None if ids is None else set(self._matching_rowids(ids))
        if conditions:
            matching = set(self.store.filter_rowids(conditions_to_sql(conditions), self.view).tolist())
            rowids = matching if rowids is None else rowids & matching
        rowids = sorted(rowids)
        self._change(rowids, [], {})
        return len(rowids)

    def _update_metadata(self, changes: dict[str, tuple[dict[str, Any], list[str]]]) -> int:
        # Rows are versioned by generation, so an update is a new row (same text, new metadata) with
        # the old row's vectors moved over: readers of the committed generation still see the old one.
        items = self.store.items_for_ids(list(changes), self.view)
        if not items:
            return 0
        old = np.asarray([item.rowid for item in items], dtype=np.int64)
        vectors = {}
        for name, space in self.spaces.items():
            members = np.asarray([item.rowid for item in items if item.kind == space.kind], dtype=np.int64)
            if members.size:
                vectors[name] = space.index.vectors(members)
        for item in items:
            updates, removals = changes[item.id]
            item.metadata = {key: value for key, value in {**item.metadata, **updates}.items() if key not in removals}
        self._change(old.tolist(), items, vectors)
        return len(items)

    def _count_keys(self, metadata: list[dict[str, Any]], sign: int) -> None:
        for entry in metadata:
            for key in entry:
                self._key_deltas[key] = self._key_deltas.get(key, 0) + sign

    def _store_legacy_vectors(self) -> None:
        """A collection made before vectors lived in the content store keeps them only in its index
        files: store them once, at its first write (that commit then writes a checkpoint)."""
        for name, space in self.spaces.items():
            if space.vector_key is not None:
                continue
            key = vector_key(name, self.view)
            ids = np.sort(space.index.ids())

            self._in_one_transaction(functools.partial(self._store_index_vectors, space, key, ids),
                                     f"could not store the vectors of space {name!r}")
            space.vector_key, space.rewrite, space.dirty = key, True, True

    def prepare_writes(self) -> None:
        """Read the sparse tables when a writer opens, not inside its first write: at 1M items that
        read (every segment's postings) takes seconds, which one add should not pay. A collection
        still to be converted, or tables that cannot be read, are left to the first write, which
        converts them or reports the problem as before (a damaged segment's ValueError included)."""
        if segmented(self._manifest):
            try:
                self._sparse_writer()
            except UNREADABLE_TABLES:
                self._sparse_tables = self._sparse = None

    def _sparse_writer(self) -> sparse_tables.CollectionSparse | SparseWorker:
        """The sparse tables this writer stages into; a collection made before them is converted
        here, at its first write (every visible text indexed once, staged with that write). In an
        index run, a worker process writes them (``sparse_worker``); after it, this process again."""
        if isinstance(self._sparse_tables, SparseWorker) and not IN_INDEX_RUN.get():
            self.detach_sparse_worker()
        if isinstance(self._sparse_tables, SparseWorker):
            if self._sparse_tables.view != self.view:
                self._worker_call(self._sparse_tables.advance, self.view)
            self._sparse = None  # a search meanwhile reads the tables (the worker's writes included)
            return self._sparse_tables
        if IN_INDEX_RUN.get() and segmented(self._manifest) and sparse_worker.wanted() and self._worker_pays_off():
            # It reads the tables at this view itself, with what this writer staged in them.
            try:
                worker = SparseWorker(self.store.path, self.view, self._run_since())
            except (SparseWorkerError, OSError):
                worker = None  # not started, or ended before it was asked anything: BM25 stays here
            if worker is not None:
                self._sparse_tables, self._sparse = worker, None
                return worker
        if self._sparse_tables is None:
            with self.store.connection:
                if segmented(self._manifest):
                    self._sparse_tables = sparse_tables.CollectionSparse(self.store, self.view)
                else:
                    self._sparse_tables = sparse_tables.build_all(self.store, self.view)
        elif self._sparse_tables.view != self.view:
            # A commit that failed after its commit point (the manifest switched) did not move the
            # tables on to the next generation: written at the committed one, the next writes would
            # show to readers before their commit, and never to readers already showing it.
            self._sparse_tables.advance(self.view)
        self._sparse_tables.serve_run(self._run_since() if IN_INDEX_RUN.get() else None)
        self._sparse = self._sparse_tables
        return self._sparse_tables

    def encode_items(self, items: list[Item], **options) -> dict[str, np.ndarray]:
        """As every store's, and in an index run the BM25 worker counts the items' words meanwhile."""
        if IN_INDEX_RUN.get() and not self.readonly and items and not options.get("vectors"):
            sparse = self._sparse_writer()
            if isinstance(sparse, SparseWorker):
                self._worker_call(sparse.precount, items)
        return super().encode_items(items, **options)

    def _run_since(self) -> int:  # the generation this index run started from (or the last committed)
        since = INDEX_RUN_SINCE.get()
        return self.generation if since is None else since

    def _worker_pays_off(self) -> bool:
        """A worker first reads the sparse tables (~1.2 us per indexed text: 0.23 s at 200,000), which
        BM25 in this process costs for ~1.5% as many new texts (~80 us a chunk): an index run hands its
        BM25 over once it has written that many (an empty collection's, from its first write)."""
        indexed = int((self._manifest.get("sparse") or {}).get("count", 0))
        return self._run_items >= sparse_worker.PAYS_OFF_SHARE * indexed

    def _worker_call(self, call, *arguments):
        """A call to the BM25 worker: when it fails, what was staged since the last commit is dropped
        (its sparse half is incomplete), and the error raised."""
        try:
            return call(*arguments)
        except SparseWorkerError:
            self._discard_staged()
            raise

    def detach_sparse_worker(self) -> None:
        """Let an index run's BM25 worker go once it wrote what it was sent; this process reads the
        tables again at its next write (they hold the worker's staged writes)."""
        self._run_items = 0
        if isinstance(self._sparse_tables, SparseWorker):
            self._worker_call(self._sparse_tables.stop)
            self._sparse_tables = self._sparse = None

    def _store_index_vectors(self, space: VectorSpace, key: str, ids: np.ndarray) -> None:
        for start in range(0, len(ids), 5000):
            part = ids[start : start + 5000]
            self.store.insert_vectors(key, part, space.index.vectors(part))

    @classmethod
    def open_for_repair(cls, folder: Path, rebuild: set[str]) -> Self:
        """Open for writing with the spaces in ``rebuild`` started empty (their files are broken)."""
        lock = WriterLock(folder)
        lock.acquire()
        try:
            return cls(folder, read_manifest(folder), readonly=False, lock=lock, rebuild=rebuild)
        except BaseException:
            lock.release()
            raise

    def reencode_space(self, name: str, progress=None) -> int:
        """Fill a space's (empty) index again: from its stored vectors when the content store has
        them all, else by encoding every item of its kind with its recorded model; returns the count."""
        self._require_writer()
        space = self.space(name)
        if space.vector_key is not None and self.store.has_vectors(space.vector_key):
            try:
                count = vector_log.rebuild(self.store, space.index, space.vector_key, self.view, space.kind)
                space.dirty = space.rewrite = True
                return count
            except KeyError:  # some vectors are missing: encode everything again under a new key
                space.index = persistence.empty_space(name, self._manifest["spaces"][name]).index
        space.vector_key = vector_key(name, self.view)
        count = self._encode_into(space, progress)
        space.dirty = space.rewrite = True
        return count

    def _encode_into(self, space: VectorSpace, progress) -> int:
        """Encode every visible item of the space's kind into its index and the content store."""
        count = 0
        for batch in self.store.iterate(self.view, kind=space.kind):
            vectors = self._encode_members(space.name, batch, None, None)
            rowids = np.asarray([item.rowid for item in batch], dtype=np.int64)
            self._in_one_transaction(functools.partial(self.store.insert_vectors, space.vector_key, rowids, vectors),
                                     f"could not store the vectors of space {space.name!r}")
            space.index.add(rowids, vectors)
            count += len(batch)
            if progress is not None:
                progress(count, None)
        return count

    def _reencode_space(self, name: str, encoder: Encoder, progress) -> int:
        # Staged like any write: readers keep the old vectors (under the old key) until the commit.
        old, previous = self.spaces[name], self._encoders.get(name)
        first = name not in self._encoders_before
        self._encoders_before.setdefault(name, previous)
        self.spaces[name] = persistence.empty_space(name, {"encoder": encoder.info().as_dict(), "index": {
            "requested": old.index_kind, "kind": old.index_kind}})
        self.spaces[name].vector_key = vector_key(name, self.view)
        self._encoders[name] = encoder
        try:
            count = self._encode_into(self.spaces[name], progress)
            self.spaces[name].dirty = self.spaces[name].rewrite = True
            return count
        except BaseException:
            self.spaces[name] = old
            if first:
                del self._encoders_before[name]
            self._encoders.pop(name, None)
            if previous is not None:
                self._encoders[name] = previous
            raise

    def _index_key(self, key: str) -> bool:
        return self.store.index_key(key)

    def rebuild_sparse(self) -> None:
        """Index every text again for BM25 (staged; durable at the next commit).

        Tables that load are written again at the next generation, as any write: readers go on
        reading the committed segments, and a rollback (``transaction``, a handle closed without
        committing) leaves them as they were. Tables that do not load (damaged) are dropped and
        built afresh, which readers see at once."""
        self._require_writer()
        sparse = None
        if segmented(self._manifest) and sparse_tables.tables_exist(self.store.connection):
            try:
                sparse = self._sparse_writer()
            except UNREADABLE_TABLES:
                self._sparse_tables = self._sparse = None
        if sparse is not None:
            self._in_one_transaction(sparse.rebuild, "could not rebuild the sparse index")
        else:
            with self.store.connection:
                if sparse_tables.tables_exist(self.store.connection):
                    # Damaged tables cannot be trusted to load: drop them and start afresh.
                    sparse_tables.drop_tables(self.store.connection)
                self._sparse_tables = sparse_tables.build_all(self.store, self.view)
        self._sparse = self._sparse_tables
        self._dirty_sparse = self._sparse_rebuilt = True
