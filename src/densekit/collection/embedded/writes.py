"""The write half of the embedded store: staging items, deletes, replacements and metadata updates
at the next generation, repairs, and the commit that makes them durable (``EmbeddedCollection``
provides the folder, store and spaces)."""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ...encoders.base import Encoder
from ...errors import CollectionError, InvalidInputError
from ..items import Item
from ..space import VectorSpace
from . import persistence
from .filters import conditions_to_sql
from .lock import WriterLock
from .manifest import read_manifest


class EmbeddedWrites:
    """Mixin for ``EmbeddedCollection``."""

    def _new_space(self, name: str, encoder: Encoder, index: str) -> VectorSpace:
        from ...index.factory import create_index

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
        space = self._new_space(name, encoder, index)
        for batch in self.store.iterate(self.view, kind=space.kind):
            vectors = self._encode_members(name, batch, None, None)
            space.index.add(np.asarray([item.rowid for item in batch], dtype=np.int64), vectors)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """Several writes as one commit: staged changes made before are committed first; on an
        exception everything staged inside is dropped and the last commit stays as it was."""
        self._require_writer()
        self.commit()
        try:
            yield self
        except BaseException:
            self._discard_staged()
            raise
        self.commit()

    def _discard_staged(self) -> None:
        self.store.discard_after(self.generation)
        self.spaces = persistence.load_spaces(self.folder, self._manifest)
        self._dirty_sparse, self._sparse, self._staged_copy_state = False, None, {}
        self._key_deltas = {}

    def _write_items(self, items: list[Item], encoded: dict[str, np.ndarray], *, replace: bool) -> None:
        existing = self.store.rowids_for_ids([item.id for item in items], self.view)
        if existing and not replace:
            shown = ", ".join(repr(id_) for id_ in list(existing)[:5])
            raise InvalidInputError(f"ids already in the collection: {shown}; use upsert to replace them")
        self._remove_rowids([rowid for rowids in existing.values() for rowid in rowids])
        self._insert(items, encoded)

    def _insert(self, items: list[Item], encoded: dict[str, np.ndarray]) -> None:
        try:
            rowids = np.asarray(self.store.insert(items, self.view), dtype=np.int64)
        except sqlite3.Error as error:  # e.g. "database or disk is full": nothing of this batch was stored
            raise CollectionError(f"could not store {len(items)} items in {str(self.folder)!r}: {error}") from error
        self._count_keys([item.metadata for item in items], +1)
        for name, space_vectors in encoded.items():
            mask = np.array([item.kind == self.spaces[name].kind for item in items])
            self.spaces[name].index.add(rowids[mask], space_vectors)
            self.spaces[name].dirty = True
        self._dirty_sparse = True
        self._sparse = None

    def _replace_documents(self, parents: list[str], items: list[Item], encoded: dict[str, np.ndarray]) -> int:
        # Staged together at the next generation: other handles see both halves at commit, or neither.
        old = self._matching_rowids(parents)
        taken = self.store.rowids_for_ids([item.id for item in items], self.view)
        stray = {rowid for rowids in taken.values() for rowid in rowids} - set(old)
        if stray:
            raise InvalidInputError(
                f"ids already in the collection outside the replaced documents: {', '.join(map(repr, list(taken)[:5]))}"
            )
        self._remove_rowids(old)
        self._insert(items, encoded)
        return len(old)

    def _matching_rowids(self, ids: list[str]) -> list[int]:
        found = self.store.rowids_for_ids(ids, self.view)
        rowids = {rowid for values in found.values() for rowid in values}
        rowids.update(self.store.rowids_for_parents(ids, self.view))
        return sorted(rowids)

    def _delete(self, ids, conditions) -> int:
        rowids = None if ids is None else set(self._matching_rowids(ids))
        if conditions:
            matching = set(self.store.filter_rowids(conditions_to_sql(conditions), self.view).tolist())
            rowids = matching if rowids is None else rowids & matching
        rowids = sorted(rowids)
        self._remove_rowids(rowids)
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
        self._remove_rowids(old.tolist())
        self._insert(items, vectors)
        return len(items)

    def _count_keys(self, metadata: list[dict[str, Any]], sign: int) -> None:
        for entry in metadata:
            for key in entry:
                self._key_deltas[key] = self._key_deltas.get(key, 0) + sign

    def _remove_rowids(self, rowids: list[int]) -> None:
        if not rowids:
            return
        self._count_keys(self.store.metadata_of(list(rowids)), -1)
        array = np.asarray(rowids, dtype=np.int64)
        for space in self.spaces.values():
            space.index.remove(array)
            space.dirty = True
        self.store.mark_deleted(rowids, self.view)
        self._dirty_sparse = True
        self._sparse = None

    @classmethod
    def open_for_repair(cls, folder: Path, rebuild: set[str]) -> "EmbeddedCollection":
        """Open for writing with the spaces in ``rebuild`` started empty (their files are broken)."""
        lock = WriterLock(folder)
        lock.acquire()
        try:
            return cls(folder, read_manifest(folder), readonly=False, lock=lock, rebuild=rebuild)
        except BaseException:
            lock.release()
            raise

    def reencode_space(self, name: str, progress=None) -> int:
        """Encode every item of a space's kind into it again (its recorded model); returns the count."""
        self._require_writer()
        space = self.space(name)
        count = 0
        for batch in self.store.iterate(self.view, kind=space.kind):
            vectors = self._encode_members(name, batch, None, None)
            space.index.add(np.asarray([item.rowid for item in batch], dtype=np.int64), vectors)
            count += len(batch)
            if progress is not None:
                progress(count, None)
        space.dirty = True
        return count

    def _reencode_space(self, name: str, encoder: Encoder, progress) -> int:
        # Staged like any write: readers keep the old vectors until the commit.
        old, previous = self.spaces[name], self._encoders.get(name)
        self.spaces[name] = persistence.empty_space(name, {"encoder": encoder.info().as_dict(), "index": {
            "requested": old.index_kind, "kind": old.index_kind}})
        self._encoders[name] = encoder
        try:
            return self.reencode_space(name, progress)
        except BaseException:
            self.spaces[name] = old
            self._encoders.pop(name, None)
            if previous is not None:
                self._encoders[name] = previous
            raise

    def _index_key(self, key: str) -> bool:
        return self.store.index_key(key)

    def rebuild_sparse(self) -> None:
        """Index every text again for BM25 at the next commit."""
        self._require_writer()
        self._dirty_sparse, self._sparse = True, None

    # --- commit --------------------------------------------------------------------------------
    def commit(self, force: bool = False) -> None:
        """Make staged changes durable and visible: new files beside the old, manifest switched last."""
        self._require_writer()
        if not (force or self.dirty):
            return
        try:
            self._commit()
        except BaseException as failure:
            if self._manifest_file_is(self._manifest):  # the commit point was not passed: tidy its files
                try:
                    persistence.remove_unreferenced(self.folder, persistence.kept_files(self._manifest))
                except OSError:
                    pass
            if not isinstance(failure, (OSError, sqlite3.Error)):
                raise
            error = failure
            raise CollectionError(
                f"could not commit {str(self.folder)!r}: {error}. The collection keeps its previous state "
                f"(generation {self.generation}); staged changes are still held by this handle."
            ) from error

    def _manifest_file_is(self, manifest: dict[str, Any]) -> bool:
        try:
            return int(read_manifest(self.folder)["generation"]) == int(manifest["generation"])
        except (CollectionError, OSError, KeyError, ValueError):
            return False

    def _commit(self) -> None:
        step = self.on_save_step or (lambda name: None)
        manifest = dict(self._manifest)
        manifest.setdefault("id", uuid.uuid4().hex)
        if self._staged_copy_state:
            manifest["copy_state"] = {**manifest.get("copy_state", {}), **self._staged_copy_state}
        manifest["metadata_keys"] = self.metadata_keys()
        sparse = self.sparse_index if (self._dirty_sparse or manifest.get("sparse") is None) else None
        new, new_files = persistence.write_generation(
            self.folder, manifest, self.spaces, sparse, self.store.count(self.view), step
        )
        # Committed. Bookkeeping below may fail without harm: the next commit or open tidies up.
        previous = persistence.referenced_files(self._manifest)
        self._manifest = new
        for name, file in new_files.items():
            self.spaces[name].file = file
        for space in self.spaces.values():
            space.dirty = False
        self._dirty_sparse = False
        self._staged_copy_state = {}
        self._key_deltas = {}
        step("committed")
        self.store.purge_before(self.generation - 1)
        persistence.remove_unreferenced(self.folder, persistence.referenced_files(new) | previous)
