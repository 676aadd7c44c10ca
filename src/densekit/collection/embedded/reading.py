"""How a handle follows the commits of the collection's writer: a reader catches up with the newest
manifest (its vector spaces replayed from their checkpoints, its BM25 tables advanced segment by
segment) and must answer as a reader opened afresh at that generation would. Mixin for
``EmbeddedCollection``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import CollectionError
from . import persistence, sparse_tables
from .manifest import read_manifest, segmented, sparse_built
from .sparse_worker import SparseWorker


def _shows_manifest(sparse, manifest: dict[str, Any]) -> bool:
    """True when sparse tables read at the manifest's generation hold the texts and documents it counts."""
    entry = manifest.get("sparse") or {}
    return entry.get("count") in (None, len(sparse)) and entry.get("documents") in (None, len(sparse.documents))


def newer_commit(folder: Path, stamp: tuple[int, int], error: BaseException) -> bool:
    """True when loading the manifest read at ``stamp`` may have failed because a writer committed
    since: a file it names removed, or (a CollectionError) rows it replays purged by two commits."""
    return isinstance(error, FileNotFoundError) or persistence.stamp(folder) != stamp


class EmbeddedReading:
    """Mixin for ``EmbeddedCollection``: ``refresh``, the catch-up behind it, and ``sparse_index``."""

    def refresh(self) -> None:
        """Readers pick up a newer committed generation, if a writer made one."""
        if self.readonly and persistence.stamp(self.location) != self._manifest_stamp:
            self._reload()

    _ensure_current = refresh

    def _reload(self) -> None:
        # Retried: a writer may commit again while we load the files the manifest names.
        # The stamp is taken as this manifest's only once it is read through: a catch-up that
        # failed (files removed under it each time, an interruption) is tried again at the next
        # read, instead of leaving the handle at its old generation until the writer's next commit.
        current = self.spaces
        if self.store.follow():  # opened immutable: the file as it was then; read it as it is now
            self._sparse = None  # it read through the connection just closed
        for attempt in range(5):
            stamp = persistence.stamp(self.folder)
            manifest = read_manifest(self.folder)
            try:
                spaces = persistence.load_spaces(self.folder, manifest, self.store, current)
            except (FileNotFoundError, CollectionError) as error:
                if attempt == 4 or not newer_commit(self.folder, stamp, error):
                    raise
                current = None  # load the next manifest's spaces afresh
                continue
            if (isinstance(self._sparse, sparse_tables.CollectionSparse) and segmented(manifest)
                    and sparse_built(manifest) == sparse_built(self._manifest)):
                try:
                    self._sparse.advance(int(manifest["generation"]))  # a reader's tail replay
                except BaseException:
                    self._sparse = None  # caught up in part: read afresh when next searched
                    raise
                if not _shows_manifest(self._sparse, manifest):  # segments purged by later commits meanwhile
                    self._sparse = None
            else:  # none loaded, or tables built again since (a repair): read afresh when searched
                self._sparse = None
            self._forget_changed_encoders(spaces)
            self._manifest, self.spaces, self._manifest_stamp = manifest, spaces, stamp
            return

    def _forget_changed_encoders(self, spaces: dict) -> None:
        """Drop the encoders held for spaces that ``spaces`` (the ones about to be read) no longer
        describe alike: a space re-encoded with another backend (``reencode``) or gone. The next query
        loads the encoder its manifest names, as a handle opened afresh does; kept, a reader went on
        encoding queries with the old backend against the new vectors (one opened afresh with that
        encoder is refused)."""
        for name in list(self._encoders):
            old, new = self.spaces.get(name), spaces.get(name)
            if old is None or new is None or new.encoder_info != old.encoder_info:
                del self._encoders[name]

    def sparse_index(self):
        """The BM25 index for what this handle sees (None when the collection has none yet).

        The segmented tables in the content store (sparse_tables.py) at this handle's generation; a
        collection made before them reads its BM25 folder until its first write converts it.
        """
        if self._sparse is not None:
            return self._sparse
        from ...sparse import SparseIndex

        if segmented(self._manifest):
            if isinstance(self._sparse_tables, SparseWorker):  # an index run's: what it was sent, written first
                self._worker_call(self._sparse_tables.sizes)
            for attempt in range(10):
                sparse = sparse_tables.CollectionSparse(self.store, self.view)
                # A writer that committed twice since this handle's manifest (a merge, then the purge
                # of what it replaced) has deleted segments this generation shows: read the newer one.
                if (not self.readonly or attempt == 9 or _shows_manifest(sparse, self._manifest)
                        or persistence.stamp(self.folder) == self._manifest_stamp):
                    break
                self._reload()
            self._sparse = sparse
        elif self._manifest.get("sparse"):
            for attempt in range(10):
                folder = self.folder / self._manifest["sparse"]["folder"]
                try:
                    self._sparse = SparseIndex.load(folder)
                    break
                except (FileNotFoundError, CollectionError):
                    # A writer committed twice since our manifest and removed (or is removing) that
                    # folder: catch up with the newer manifest. Unchanged manifest: a real problem.
                    if not self.readonly or attempt == 9 or persistence.stamp(self.folder) == self._manifest_stamp:
                        raise
                    self._reload()
                    if segmented(self._manifest):
                        return self.sparse_index()
        return self._sparse
