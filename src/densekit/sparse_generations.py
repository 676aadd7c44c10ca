"""Generations of a SegmentedSparseIndex: what a collection's snapshot shows, and how a writer stages,
undoes and purges (densekit/collection/embedded/sparse_tables.py uses them).

Segments carry ``added_gen`` and ``retired_gen``, tombstones ``gen``. An index with ``view`` g shows the
segments added at or before g and not retired by then, with the tombstones of g and before; a writer
writes at its view (the generation it stages), and a merge retires the segments it replaces instead of
deleting them, so readers of older generations keep reading them until ``purge``.
"""

from __future__ import annotations

import re
import sqlite3

import numpy as np

from . import sparse_rows
from .errors import CollectionError, InvalidInputError
from .sparse_segment import Segment

_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SegmentGenerations:
    """Mixin for ``SegmentedSparseIndex``: catching up with other connections' writes, by generation
    (``advance``) or, for an index without generations, by row ids (``refresh``)."""

    def refresh(self) -> bool:
        """Catch up with what other connections committed since this index was read; True if anything.

        New terms, segments and tombstones are read incrementally; when a merge elsewhere replaced
        segments held here, the whole index is read again. (``PRAGMA data_version`` tells a caller
        cheaply whether another connection committed at all.) A long-lived writer calls it first
        thing inside its write transaction (``BEGIN IMMEDIATE``), so nothing lands in between.

        Example:
            >>> index.refresh()
            False
        """
        t = self.table
        keys = {key for (key,) in self.connection.execute(f"SELECT id FROM {t}_segments")}
        if not {segment.key for segment in self._segments} <= keys:
            self.reload()
            return True
        new_terms = self._read_new_terms()
        width = len(self._terms)
        added = [
            Segment.from_blob(key, blob, width)
            for key, blob, _ in sparse_rows.select_segments(self.connection, t, self._blobs, "id > ?", (self._last_segment,))
        ]
        for segment in added:
            self._take(segment, width)
        last = self._apply_tombstones(self._last_tombstone, count=True)
        changed = bool(new_terms or added or last != self._last_tombstone)
        self._last_tombstone = last
        return changed

    def _read_new_terms(self) -> list[str]:
        new_terms = [term for (term,) in self.connection.execute(
            f"SELECT term FROM {self.table}_terms WHERE id >= ? ORDER BY id", (len(self._terms),))]
        for term in new_terms:
            if term in self._vocabulary:
                raise CollectionError(f"sparse tables {self.table}_*: the vocabulary holds {term!r} twice (damaged)")
            self._vocabulary[term] = len(self._terms)
            self._terms.append(term)
        self._grow_frequency(len(self._terms))
        return new_terms

    def _take(self, segment: Segment, width: int) -> None:
        self._segments.append(segment)
        self._frequency += segment.live_frequency(width)
        self._documents += int(segment.alive.sum())
        self._total_length += int(segment.lengths[segment.alive].sum())
        self._last_segment = max(self._last_segment, segment.key)

    def _visible_segments(self, view: int | None) -> str:
        if view is None:
            return "retired_gen IS NULL"
        return f"added_gen <= {int(view)} AND (retired_gen IS NULL OR retired_gen > {int(view)})"

    @property
    def _write_gen(self) -> int:
        return 0 if self.view is None else int(self.view)

    def advance(self, view: int) -> None:
        """Show generation ``view`` (newer than the one shown): read the terms, segments and tombstones
        the generations in between added and drop the segments they retired (a reader's tail replay;
        a writer calls it after its commit with its next staging generation, which reads nothing)."""
        t, old = self.table, self.view
        if old is None or view < old:
            self.view = view
            self.reload()
            return
        self.view = view
        if view == old:
            return
        self._read_new_terms()
        width = len(self._terms)
        for key, blob, added in sparse_rows.select_segments(
                self.connection, t, self._blobs, f"added_gen > ? AND {self._visible_segments(view)}", (old,)):
            self._take(with_generation(Segment.from_blob(key, blob, width), added), width)
        self._last_tombstone = max(self._last_tombstone, self._apply_tombstones(0, count=True, through=view, after_gen=old))
        # Dropped: every segment not visible at ``view``. Not only those marked retired in between: a
        # writer that committed twice since (a merge, then the purge of what it replaced, as an index
        # run's end and compact do) has deleted the rows that carried the marks, and a reader keeping
        # those segments counted their documents twice.
        visible = {key for (key,) in self.connection.execute(f"SELECT id FROM {t}_segments WHERE {self._visible_segments(view)}")}
        for segment in [segment for segment in self._segments if segment.key not in visible]:
            self._forget(segment, np.flatnonzero(segment.alive))
            self._segments.remove(segment)

    def discard_after(self, gen: int) -> None:
        """Undo what was written at generations after ``gen`` (a writer's staged changes that were never
        committed), in the caller's transaction, and show ``gen`` + 1 afresh."""
        discard_generations_after(self.connection, self.table, gen)
        self.view = gen + 1
        self.reload()

    def retire_all(self) -> None:
        """Retire every segment this index shows (all its documents are written again), in the
        caller's transaction: readers of older generations keep reading them until ``purge``; those
        written at this index's own generation simply go."""
        t = self.table
        for segment in self._segments:
            if self.view is None or segment.added_gen == self._write_gen:
                sparse_rows.delete_segments(self.connection, t, self._blobs, "id = ?", (segment.key,))
                self.connection.execute(f"DELETE FROM {t}_deleted WHERE segment = ?", (segment.key,))
            else:
                self.connection.execute(f"UPDATE {t}_segments SET retired_gen = ? WHERE id = ?", (self._write_gen, segment.key))
        self._segments = []
        self._frequency = np.zeros(len(self._terms), dtype=np.int64)
        self._documents = self._total_length = 0
        self._search_layout = None

    def purge(self, gen: int) -> None:
        """Physically drop segments retired at or before ``gen`` and their tombstones (no reader of a
        current generation shows them)."""
        t = self.table
        self.connection.execute(f"DELETE FROM {t}_deleted WHERE segment IN (SELECT id FROM {t}_segments WHERE retired_gen <= ?)", (gen,))
        sparse_rows.delete_segments(self.connection, t, self._blobs, "retired_gen <= ?", (gen,))


def discard_generations_after(connection: sqlite3.Connection, table: str, gen: int) -> None:
    """The SQL half of ``SegmentedSparseIndex.discard_after``, without reading the index (which may
    be damaged: a repair opens the collection for writing first)."""
    if not _TABLE_NAME.fullmatch(table):
        raise InvalidInputError(f"table must be letters, digits and underscores, got {table!r}")
    sparse_rows.delete_segments(connection, table, sparse_rows.blob_table(connection, table), "added_gen > ?", (gen,))
    connection.execute(f"DELETE FROM {table}_deleted WHERE gen > ?", (gen,))
    connection.execute(f"UPDATE {table}_segments SET retired_gen = NULL WHERE retired_gen > ?", (gen,))


def with_generation(segment: Segment, added_gen: int) -> Segment:
    segment.added_gen = int(added_gen)
    return segment


