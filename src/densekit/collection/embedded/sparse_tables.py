"""The embedded store's BM25: segmented indexes in the content store's SQLite file, written with the
rows they describe, so a commit costs its batch (docs/storage.md).

Two ``SegmentedSparseIndex`` tables, as ``densekit.sparse.SparseIndex`` keeps two bm25s indexes:
- ``sparse_documents`` scores whole documents: an item without a parent is its own document (keyed by
  its row id); the chunks of one parent are joined into one document (overlaps counted once), keyed by
  the smallest row id among its chunks, and written again whenever its chunks change;
- ``sparse_chunks`` holds every item's own text, to show each hit document by its best chunk.
Both are versioned by the store's generations: a writer's segments and tombstones are staged at its
next generation, invisible to readers until the manifest names it (``SegmentedSparseIndex(view=...)``).
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from typing import Any

import numpy as np

from ...sparse import document_pieces
from ...sparse_generations import discard_generations_after
from ...sparse_segments import SegmentedSparseIndex

DOCUMENTS, CHUNKS = "sparse_documents", "sparse_chunks"


def tables_exist(connection: sqlite3.Connection) -> bool:
    return connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (f"{DOCUMENTS}_settings",)).fetchone() is not None


class CollectionSparse:
    """Document-level BM25 over a collection's items at one generation (``view``)."""

    def __init__(self, store, view: int):
        self.store = store
        self.documents = SegmentedSparseIndex(store.connection, DOCUMENTS, view=view)
        self.chunks = SegmentedSparseIndex(store.connection, CHUNKS, view=view)

    def __len__(self) -> int:
        return len(self.chunks)

    def ids(self) -> np.ndarray:
        """Every indexed text's row id (sorted)."""
        return self.chunks.ids()

    @property
    def stemmer_language(self) -> str | None:
        return self.chunks.stemmer_language

    @property
    def view(self) -> int:
        return int(self.documents.view)

    def reload(self) -> None:
        """Read both tables again (after the caller's transaction was rolled back)."""
        self.documents.reload()
        self.chunks.reload()

    def advance(self, view: int) -> None:
        self.documents.advance(view)
        self.chunks.advance(view)

    def discard_after(self, gen: int) -> None:
        self.documents.discard_after(gen)
        self.chunks.discard_after(gen)

    def merge(self) -> None:
        """Merge every segment into one per table, dropping deleted documents (``compact``)."""
        self.documents.merge()
        self.chunks.merge()

    def merge_newer(self, gen: int) -> int:
        """Merge the segments generations after ``gen`` wrote (an index run's), per table; returns how
        many segments were rewritten."""
        return self.documents.merge_newer(gen) + self.chunks.merge_newer(gen)

    def purge(self, gen: int) -> None:
        self.documents.purge(gen)
        self.chunks.purge(gen)

    def statistics(self) -> dict[str, Any]:
        return {"documents": self.documents.statistics(), "chunks": self.chunks.statistics()}

    # --- writes (the caller's transaction; rows already inserted / not yet marked deleted) --------
    def change(self, added: list[tuple[int, Any]], removed: list[tuple[int, Any]]) -> None:
        """Index the (rowid, item) pairs ``added`` and drop ``removed``; every parent touched is
        written again as one document from the chunks it has at this view."""
        added = [(rowid, item) for rowid, item in added if item.kind == "text" and item.text is not None]
        removed_ids = np.asarray([rowid for rowid, _ in removed], dtype=np.int64)
        if len(removed_ids):
            self.chunks.delete(removed_ids)
        if added:
            self.chunks.add(np.asarray([rowid for rowid, _ in added], dtype=np.int64), [item.text for _, item in added])
        standalone_removed = [rowid for rowid, item in removed if item.parent is None]
        if standalone_removed:
            self.documents.delete(np.asarray(standalone_removed, dtype=np.int64))
        standalone = [(rowid, item.text) for rowid, item in added if item.parent is None]
        if standalone:
            self.documents.add(np.asarray([rowid for rowid, _ in standalone], dtype=np.int64), [text for _, text in standalone])
        parents = sorted({item.parent for _, item in added + removed if item.parent is not None})
        if parents:
            self._rewrite_parents(parents, added, removed_ids)

    def _rewrite_parents(self, parents: list[str], added: list[tuple[int, Any]], removed_ids: np.ndarray) -> None:
        """Write each touched parent's document entry again. Chunks appended after the document's
        last one (how long documents are written, in parts) only add their words to the entry;
        anything else counts the document again from its chunks."""
        spans = self.store.member_spans(parents, self.view)
        added_by_parent: dict[str, list[tuple[int, Any]]] = {}
        for rowid, item in added:
            if item.parent is not None:
                added_by_parent.setdefault(item.parent, []).append((rowid, item))
        removed = set(removed_ids.tolist())
        recount = []
        for parent in parents:
            new = added_by_parent.get(parent, [])
            new_ids = {rowid for rowid, _ in new}
            before = [row for row in spans.get(parent, []) if row[0] not in new_ids]
            if not self._append(before, new, removed):
                recount.append(parent)
        if recount:
            self._recount(recount, removed_ids)

    def _append(self, before: list[tuple[int, Any, Any]], new: list[tuple[int, Any]], removed: set[int]) -> bool:
        """Add appended chunks' words to their document's entry; False when that is not the case."""
        if not new or not before or removed:
            return False
        if any(start is None or end is None for _, start, end in before) or any(
                item.start is None or item.end is None for _, item in new):
            return False
        key = min(rowid for rowid, _, _ in before)
        if min(item.start for _, item in new) < max(start for _, start, _ in before) or key > min(rowid for rowid, _ in new):
            return False
        counts = self.documents.counts_of(key)
        if counts is None:
            return False
        covered = max(end for _, _, end in before)
        for _, item in sorted(new, key=lambda pair: (pair[1].start, pair[0])):
            text = item.text if item.start >= covered else item.text[min(len(item.text), covered - item.start):]
            counts.update(self.documents.term_counts(text))
            covered = max(covered, item.end)
        self.documents.delete(np.asarray([key], dtype=np.int64))
        self.documents.add_counted(np.asarray([key], dtype=np.int64), [counts])
        return True

    def _recount(self, parents: list[str], removed_ids: np.ndarray) -> None:
        members = self.store.text_members(parents, self.view)
        # A parent's document is keyed by its smallest chunk row id at the time it was written, which is
        # one of its chunks now or one just removed: deleting all of those removes it (others are ignored).
        stale = np.concatenate([removed_ids] + [np.asarray([rowid for rowid, _, _ in rows], dtype=np.int64)
                                                for rows in members.values()])
        if len(stale):
            self.documents.delete(stale)
        keys, counters = [], []
        for parent in parents:
            rows = members.get(parent)
            if rows:
                keys.append(min(rowid for rowid, _, _ in rows))
                total: Counter = Counter()
                for piece in document_pieces([text for _, text, _ in rows], [span for _, _, span in rows]):
                    total.update(self.documents.term_counts(piece))
                counters.append(total)
        if keys:
            self.documents.add_counted(np.asarray(keys, dtype=np.int64), counters)

    # --- search ----------------------------------------------------------------------------------
    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k best documents by BM25 over whole documents, each shown by its best (allowed) chunk:
        (scores float32, rowids int64), best first, as ``SparseIndex.search`` with documents."""
        empty = (np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64))
        allowed_documents = None
        if allowed is not None:
            allowed = np.asarray(allowed, dtype=np.int64)
            if allowed.size == 0:
                return empty
            allowed_documents = self.store.document_keys(allowed, self.view)
        scores, keys = self.documents.search(query, k, allowed_documents)
        if not len(keys):
            return empty
        parent_of = self.store.parents_of(keys.tolist())
        parents = sorted({parent for parent in parent_of.values() if parent is not None})
        best: dict[str, int] = {}
        if parents:
            members = self.store.member_spans(parents, self.view)  # row ids only: no texts read
            candidates = np.asarray([rowid for rows in members.values() for rowid, _, _ in rows], dtype=np.int64)
            if allowed is not None:
                candidates = candidates[np.isin(candidates, allowed)]
            chunk_parent = {rowid: parent for parent, rows in members.items() for rowid, _, _ in rows}
            if len(candidates):
                _, ranked = self.chunks.search(query, len(candidates), candidates)
                for rowid in ranked.tolist():
                    best.setdefault(chunk_parent[rowid], rowid)
                for rowid in np.sort(candidates).tolist():  # no chunk holds a query word on its own
                    best.setdefault(chunk_parent[rowid], rowid)
        rowids = []
        for key in keys.tolist():
            parent = parent_of.get(key)
            rowids.append(key if parent is None else best.get(parent, key))
        return scores, np.asarray(rowids, dtype=np.int64)


def build_all(store, view: int) -> CollectionSparse:
    """Index every visible text at ``view`` into empty (or emptied) tables, in the caller's transaction."""
    sparse = CollectionSparse(store, view)
    live = np.concatenate([sparse.chunks.ids(), sparse.documents.ids()])
    if len(live):  # a rebuild (repair): drop what is there first
        sparse.chunks.delete(sparse.chunks.ids())
        sparse.documents.delete(sparse.documents.ids())
    for batch in store.iterate(view, kind="text"):
        sparse.change([(item.rowid, item) for item in batch], [])
    return sparse


def discard_after(connection: sqlite3.Connection, gen: int) -> None:
    """Drop what a writer staged after ``gen`` and never committed (SQL only: nothing is read)."""
    for table in (DOCUMENTS, CHUNKS):
        discard_generations_after(connection, table, gen)


def drop_tables(connection: sqlite3.Connection) -> None:
    """Remove both indexes' tables (a repair rebuilds them), in the caller's transaction."""
    for table in (DOCUMENTS, CHUNKS):
        for suffix in ("settings", "terms", "segments", "deleted"):
            connection.execute(f"DROP TABLE IF EXISTS {table}_{suffix}")
