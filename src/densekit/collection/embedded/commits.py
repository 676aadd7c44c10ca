"""The commit of the embedded store: staged rows, vectors and sparse entries are already in SQLite at
the next generation; a commit writes the checkpoints that are due and switches the manifest to the
new generation (the commit point), then tidies what no reader needs any more. Also background
checkpoints and ``compact``."""

from __future__ import annotations

import logging
import sqlite3
import uuid
from typing import Any

from ...allocator import return_free_memory
from ...errors import CollectionError
from ..space import IN_INDEX_RUN
from . import persistence
from .checkpoints import CheckpointJob, background_checkpoints
from .manifest import checkpoint_generations, read_manifest, segmented, sparse_built, vector_keys
from .sparse_worker import SparseWorker, SparseWorkerError
from .vector_log import checkpoint_due

_log = logging.getLogger(__name__)


class EmbeddedCommits:
    """Mixin for ``EmbeddedCollection`` (with ``EmbeddedWrites``)."""

    _checkpoint_jobs: dict[str, CheckpointJob]
    _closing = False

    def commit(self, force: bool = False) -> None:
        """Make staged changes durable and visible: new files beside the old, manifest switched last."""
        self._require_writer()
        if not (force or self.dirty or self._adoptable()):
            return
        try:
            self._commit()
        except BaseException as failure:
            if self._manifest_file_is(self._manifest):  # the commit point was not passed: tidy its files
                # Not the checkpoints this commit adopted (_adopt_checkpoints): the spaces name them
                # now, and the next commit's manifest will too.
                adopted = {space.file for space in self.spaces.values() if space.file}
                try:
                    persistence.remove_unreferenced(self.folder, persistence.kept_files(self._manifest) | adopted,
                                                    self._pending_files())
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
        self._adopt_checkpoints()
        manifest = dict(self._manifest)
        manifest.setdefault("id", uuid.uuid4().hex)
        if self._staged_copy_state:
            manifest["copy_state"] = {**manifest.get("copy_state", {}), **self._staged_copy_state}
        manifest["metadata_keys"] = self.metadata_keys()
        if manifest.get("sparse") is None:  # a new collection starts with the sparse tables
            self._sparse_writer()
        sparse_entry = manifest.get("sparse")
        if self._sparse_tables is not None:
            # A BM25 worker's once it wrote everything it was sent (sparse_worker.py).
            texts, documents = self._worker_call(self._sparse_tables.sizes)
            sparse_entry = {"engine": "segments", "count": texts, "documents": documents}
            built = int(manifest["generation"]) + 1 if self._sparse_rebuilt else sparse_built(manifest)
            if built is not None:
                sparse_entry["built"] = built
        unsynced = None  # what failed or interrupted the commit once its manifest was switched
        try:
            new, new_files = persistence.write_generation(
                self.folder, manifest, self.spaces, sparse_entry, self._visible_count(), step,
                checkpoints_inline=not background_checkpoints(), store=self.store, view=self.view,
                busy=frozenset(self._checkpoint_jobs),  # jobs still running (finished ones were adopted above)
            )
        except persistence.CommitPointPassed as passed:
            new, new_files, unsynced = passed.manifest, passed.files, passed.error
        # Committed. Bookkeeping below may fail without harm: the next commit or open tidies up.
        previous_manifest = self._manifest
        previous = persistence.referenced_files(self._manifest)
        self._manifest = new
        for name, file in new_files.items():
            self.spaces[name].file = file
        for name, space in self.spaces.items():
            entry = new["spaces"][name]["index"]
            space.file_sha256 = entry.get("sha256")
            space.checkpoint_generation = int(entry.get("generation", 0))
            space.tail, space.staged_rows, space.shows = int(entry.get("tail", 0)), 0, self.generation
            space.dirty = space.rewrite = False
        self._dirty_sparse = self._sparse_rebuilt = False
        self._staged_copy_state = {}
        self._encoders_before = {}
        self._key_deltas = {}
        self._count_change = 0
        step("committed")
        try:
            if self._sparse_tables is not None:
                self._sparse_tables.advance(self.view)
            # Rows deleted after a checkpoint stay until a checkpoint covers them (readers replay them);
            # readers may still be opening the previous manifest, so its checkpoints count too.
            bound = min([self.generation - 1] + checkpoint_generations(new) + checkpoint_generations(previous_manifest))
            with self.store.connection:  # one transaction (one fsync at most) for both purges
                if self._sparse_tables is not None:
                    self._sparse_tables.purge(self.generation - 1)
                self.store.purge_before(bound, vector_keys(new) | vector_keys(previous_manifest), commit=False)
            persistence.remove_unreferenced(self.folder, persistence.referenced_files(new) | previous, self._pending_files())
        except (OSError, sqlite3.Error, SparseWorkerError) as error:
            if isinstance(self._sparse_tables, SparseWorker):  # nothing is staged now: let it go
                self._sparse_tables.kill()
                self._sparse_tables = self._sparse = None
            # Committed all the same: reported as a failed commit, its writes were taken for lost
            # (the service answered them as failed, and adds sent again met their own ids).
            _log.warning("collection %r: generation %d is committed; tidying after it failed (the next commit "
                         "tidies again): %s", str(self.folder), self.generation, error)
        self._start_checkpoints()
        if isinstance(unsynced, Exception):
            # Readers show it already: reported as failed, its writes were taken for lost and dropped.
            _log.warning("collection %r: generation %d is committed, but syncing its folder failed: a power "
                         "loss may take the commit back: %s", str(self.folder), self.generation, unsynced)
        elif unsynced is not None:
            raise unsynced  # Ctrl-C once the commit was made: made, then interrupted

    # --- background checkpoints ----------------------------------------------------------------
    def _start_checkpoints(self) -> None:
        """Start a checkpoint job for each space whose replay tail has grown past its due size (not
        during an index run: its end writes the checkpoint, without the job's copy of the index)."""
        if not background_checkpoints() or self._closing or IN_INDEX_RUN.get():
            return
        for name, space in self.spaces.items():
            if name in self._checkpoint_jobs or space.vector_key is None or not checkpoint_due(len(space.index), space.tail):
                continue
            entry = self._manifest["spaces"][name]
            self._checkpoint_jobs[name] = CheckpointJob(self.folder, name, entry, self.generation, space.tail).start()

    def _adoptable(self) -> bool:
        return any(job.done and job.error is None for job in self._checkpoint_jobs.values())

    def _adopt_checkpoints(self) -> None:
        """Name the checkpoints that finished in the next manifest (a failed one is tried again later)."""
        for name, job in list(self._checkpoint_jobs.items()):
            if not job.done:
                continue
            del self._checkpoint_jobs[name]
            space = self.spaces.get(name)
            if (job.error is not None or space is None or space.rewrite or space.vector_key != job.vector_key
                    or job.generation <= space.checkpoint_generation):
                continue
            space.file, space.file_sha256 = job.file, job.sha256
            space.checkpoint_generation = job.generation
            space.tail = max(0, space.tail - job.tail)

    def _pending_files(self) -> set[str]:
        return {job.file for job in self._checkpoint_jobs.values()}

    def finish_checkpoints(self) -> None:
        """Wait for running checkpoint jobs and name what they wrote (``close`` calls it). Not when
        writes are staged: naming the checkpoints is a commit, which would publish them too (a
        handle closed without committing, or by a ``with`` block that raised); the next commit
        removes the files, and a later checkpoint takes their place."""
        self._closing = True  # the adopting commit starts no new job
        try:
            for job in list(self._checkpoint_jobs.values()):
                job.wait()
            if self._adoptable() and not self.dirty:
                self.commit()
        finally:
            self._closing = False

    def merge_segments(self, since: int) -> int:
        """Merge the BM25 segments that commits after generation ``since`` wrote (``ingest`` calls it
        at the end of a committing run) and commit: one staged write, published by the manifest like
        any other, so a failure or a kill leaves the last commit as it was; a second commit purges the
        replaced segments. The commit also converts the index and writes its checkpoint when they are
        due (an index run holds them back, ``space.index_run``): after the merge, not under it, and
        from this handle's index, not a copy. Returns how many segments were rewritten."""
        self._require_writer()
        self.commit()
        rewritten = 0
        if isinstance(self._sparse_tables, SparseWorker):  # the run's worker merges what it wrote
            rewritten = self._worker_call(self._sparse_tables.merge_newer, since)
        elif segmented(self._manifest):  # else no sparse tables (yet): nothing was written to them
            sparse = self._sparse_writer()
            try:
                with self.store.connection:
                    rewritten = sparse.merge_newer(since)
            except BaseException:
                self._sparse_rolled_back()
                raise
            return_free_memory()  # the merge's arrays, before the graph is built
        for space in self.spaces.values():
            # What an index run held back (space.index_run): written now from this index, inline.
            if persistence.conversion_due(space) or (space.vector_key is not None and checkpoint_due(len(space.index), space.tail)):
                space.dirty = space.rewrite = True
        if rewritten:
            self._dirty_sparse = True
        self.commit()
        if rewritten:
            # Once more, as compact does: this commit purges the replaced segments (kept by the first
            # for readers of the generation before), instead of leaving them until the next write.
            self.commit(force=True)
        self.detach_sparse_worker()
        return rewritten

    def compact(self) -> dict[str, int]:
        """Write every space's checkpoint, drop deleted rows and merged sparse segments for good, and
        return their space to the file system (SQLite VACUUM). Returns the folder's size before and after."""
        self._require_writer()
        self.commit()
        before = persistence.folder_size(self.folder)
        for job in list(self._checkpoint_jobs.values()):
            job.wait()
        self._checkpoint_jobs.clear()
        for space in self.spaces.values():
            if space.vector_key is not None:
                space.rewrite = space.dirty = True
        if self._sparse_tables is not None or self._manifest.get("sparse"):
            sparse = self._sparse_writer()
            try:
                with self.store.connection:
                    sparse.merge()
            except BaseException:
                self._sparse_rolled_back()
                raise
            self._dirty_sparse = True
        self.commit(force=True)
        self.commit(force=True)  # now the previous manifest's checkpoints cover every deletion too
        self.store.vacuum()
        return {"size_before": before, "size_after": persistence.folder_size(self.folder)}
