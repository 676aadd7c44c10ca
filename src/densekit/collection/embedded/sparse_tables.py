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
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...sparse_counting import DocumentText, Windows, WordTable
from ...sparse_generations import discard_generations_after
from ...sparse_segments import SegmentedSparseIndex

DOCUMENTS, CHUNKS = "sparse_documents", "sparse_chunks"


@dataclass
class ChangePlan:
    """What ``CollectionSparse.plan`` read for one change, for ``apply`` to count and write."""

    added: list[tuple[int, Any]]
    removed: list[tuple[int, Any]]
    removed_ids: np.ndarray
    appends: list[tuple[tuple, list]]
    recount: list[str]
    members: dict[str, list[tuple[int, str, Any]]]


def tables_exist(connection: sqlite3.Connection) -> bool:
    return connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (f"{DOCUMENTS}_settings",)).fetchone() is not None


class CollectionSparse:
    """Document-level BM25 over a collection's items at one generation (``view``)."""

    def __init__(self, store, view: int):
        self.store = store
        self.documents = SegmentedSparseIndex(store.connection, DOCUMENTS, view=view)
        self.chunks = SegmentedSparseIndex(store.connection, CHUNKS, view=view)
        self._words: tuple[WordTable, WordTable] | None = None

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

    def serve_run(self, since: int | None) -> None:
        """Merge as an index run from generation ``since`` on does (``SegmentMerges.run_since``: into
        full segments as it goes), or, with None, in size tiers as any other writer."""
        self.documents.run_since = self.chunks.run_since = since

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

    def rebuild(self) -> None:
        """Index every text visible at this view again, staged at it like any write (the segments
        shown until now are retired, not dropped), in the caller's transaction."""
        self.documents.retire_all()
        self.chunks.retire_all()
        for batch in self.store.iterate(self.view, kind="text"):
            self.change([(item.rowid, item) for item in batch], [])

    def purge(self, gen: int) -> None:
        self.documents.purge(gen)
        self.chunks.purge(gen)

    def sizes(self) -> tuple[int, int]:
        """(texts, documents) indexed: what the manifest's sparse entry counts."""
        return len(self.chunks), len(self.documents)

    def statistics(self) -> dict[str, Any]:
        return {"documents": self.documents.statistics(), "chunks": self.chunks.statistics()}

    # --- writes (the caller's transaction; rows already inserted / not yet marked deleted) --------
    def change(self, added: list[tuple[int, Any]], removed: list[tuple[int, Any]]) -> None:
        """Index the (rowid, item) pairs ``added`` and drop ``removed``; every parent touched is
        written again as one document from the chunks it has at this view.

        The batch's texts are split into words once, together (``sparse_counting.Windows``): the new
        chunks' rows and their documents' rows are counted from that one split."""
        self.apply(self.plan(added, removed))

    def plan(self, added: list[tuple[int, Any]], removed: list[tuple[int, Any]]) -> "ChangePlan":
        """The reads of ``change`` (the store's rows as they are now), apart from its counting and
        writes (``apply``): a writer in another process (``sparse_worker``) answers its caller once
        these are done, so the caller's next write cannot change what they saw."""
        added = [(rowid, item) for rowid, item in added if item.kind == "text" and item.text is not None]
        removed_ids = np.asarray([rowid for rowid, _ in removed], dtype=np.int64)
        parents = sorted({item.parent for _, item in added + removed if item.parent is not None})
        # Decided before anything is written (reads only): which parents' entries are appended to,
        # which are counted again from their chunks, and those chunks.
        appends, recount = self._plan_parents(parents, added, removed_ids) if parents else ([], [])
        members = self.store.text_members(recount, self.view) if recount else {}
        return ChangePlan(added, removed, removed_ids, appends, recount, members)

    def apply(self, plan: "ChangePlan") -> None:
        """Count and write a planned change (``plan``), in the caller's transaction."""
        self.write(plan, self.count(plan))

    def count(self, plan: "ChangePlan") -> dict[str, tuple]:
        """The word counts a planned change writes (memory only: new words get their numbers in the
        vocabulary, which a failed ``write`` leaves to ``reload``)."""
        return self._count(plan.added, plan.recount, plan.members)

    def write(self, plan: "ChangePlan", counted: dict[str, tuple]) -> None:
        """Write a planned change's counts (``count``), in the caller's transaction."""
        added, removed, removed_ids = plan.added, plan.removed, plan.removed_ids
        if len(removed_ids):
            self.chunks.delete(removed_ids)
        if added:
            self.chunks.add_rows(np.asarray([rowid for rowid, _ in added], dtype=np.int64), *counted["chunks"])
        standalone_removed = [rowid for rowid, item in removed if item.parent is None]
        if standalone_removed:
            self.documents.delete(np.asarray(standalone_removed, dtype=np.int64))
        standalone = [rowid for rowid, item in added if item.parent is None]
        if standalone:
            self.documents.add_rows(np.asarray(standalone, dtype=np.int64), *counted["standalone"])
        for before, new in plan.appends:
            self._append(before, new)
        if plan.recount:
            self._recount(plan.members, removed_ids, *counted["documents"])

    def _plan_parents(self, parents: list[str], added: list[tuple[int, Any]],
                      removed_ids: np.ndarray) -> tuple[list[tuple[tuple, list]], list[str]]:
        """Each touched parent's entry is appended to (chunks appended after the document's last one,
        how long documents are written in parts: (its earlier chunks summed up, new chunks)) or
        counted again."""
        added_by_parent: dict[str, list[tuple[int, Any]]] = {}
        for rowid, item in added:
            if item.parent is not None:
                added_by_parent.setdefault(item.parent, []).append((rowid, item))
        earlier = self.earlier_chunks(parents, [rowid for rowid, _ in added])
        removed = bool(len(removed_ids))
        appends, recount = [], []
        for parent in parents:
            new = added_by_parent.get(parent, [])
            before = earlier.get(parent)
            if self._appendable(before, new, removed):
                appends.append((before, new))
            else:
                recount.append(parent)
        return appends, recount

    def earlier_chunks(self, parents: list[str], new_rowids: list[int]) -> dict[str, tuple]:
        """Each parent's chunks other than the new ones, summed up: (count, smallest row id, largest
        start, largest end, chunks without offsets); empty when every parent is new (what
        ``sparse_worker`` checks before using words counted ahead). A write's rows have consecutive row
        ids, so SQL sums them up; otherwise they are summed here from each chunk's row."""
        low, high = (min(new_rowids), max(new_rowids)) if new_rowids else (0, -1)
        if high - low + 1 == len(new_rowids):
            return self.store.member_summaries(parents, self.view, (low, high))
        new = set(new_rowids)
        summaries = {}
        for parent, rows in self.store.member_spans(parents, self.view).items():
            rows = [row for row in rows if row[0] not in new]
            if rows:
                starts = [start for _, start, _ in rows if start is not None]
                ends = [end for _, _, end in rows if end is not None]
                summaries[parent] = (len(rows), min(rowid for rowid, _, _ in rows), max(starts, default=None),
                                     max(ends, default=None), sum(start is None or end is None for _, start, end in rows))
        return summaries

    def _appendable(self, before: tuple | None, new: list[tuple[int, Any]], removed: bool) -> bool:
        if not new or not before or removed:
            return False
        _, key, last_start, _, without_offsets = before
        if without_offsets or any(item.start is None or item.end is None for _, item in new):
            return False
        if min(item.start for _, item in new) < last_start or key > min(rowid for rowid, _ in new):
            return False
        return self.documents.counts_of(key) is not None

    def _append(self, before: tuple, new: list[tuple[int, Any]]) -> None:
        """Add appended chunks' words to their document's entry."""
        _, key, _, covered, _ = before
        counts = self.documents.counts_of(key)
        for _, item in sorted(new, key=lambda pair: (pair[1].start, pair[0])):
            text = item.text if item.start >= covered else item.text[min(len(item.text), covered - item.start):]
            counts.update(self.documents.term_counts(text))
            covered = max(covered, item.end)
        self.documents.delete(np.asarray([key], dtype=np.int64))
        self.documents.add_counted(np.asarray([key], dtype=np.int64), [counts])

    def _word_tables(self) -> tuple[WordTable, WordTable]:
        """The word numbers of the chunks' and the documents' index (one table when both stem alike),
        kept from write to write: a word is looked at once per writer, not once per batch."""
        if self._words is None:
            words = WordTable(self.chunks.stemmer)
            same = self.documents.stemmer_language == self.chunks.stemmer_language
            self._words = (words, words if same else WordTable(self.documents.stemmer))
        return self._words

    def _count(self, added: list[tuple[int, Any]], recount: list[str],
               members: dict[str, list[tuple[int, str, Any]]]) -> dict[str, tuple]:
        """The word counts of the rows a change writes, each ``(words, indptr, term numbers, counts)``:
        "chunks" (one row per added text), "standalone" (the added texts without a parent: their own
        documents) and "documents" (each recounted parent that still has chunks, in ``recount`` order,
        with the list of their keys first). A recounted parent's chunks and document are windows of one
        text (``DocumentText``)."""
        words, document_words = self._word_tables()
        chunk_windows = Windows(words)
        document_windows = chunk_windows if document_words is words else Windows(document_words)
        documents = {parent: DocumentText(members[parent]) for parent in recount if members.get(parent)}
        by_document: dict[str, tuple[list[int], list[int]]] = {}
        standalone = 0
        for row, (rowid, item) in enumerate(added):
            document = documents.get(item.parent) if item.parent is not None else None
            if document is not None and rowid in document.chunk_bounds:
                rowids, rows = by_document.setdefault(item.parent, ([], []))
                rowids.append(rowid)
                rows.append(row)
            else:
                chunk_windows.add(item.text, [(0, len(item.text))], [row])
        for parent, (rowids, rows) in by_document.items():
            documents[parent].add_chunks(chunk_windows, rowids, rows)
        # Document rows follow the chunk rows when both go through one table (one split for both).
        first = len(added) if document_windows is chunk_windows else 0
        for _, item in added:
            if item.parent is None:
                document_windows.add(item.text, [(0, len(item.text))], [first + standalone])
                standalone += 1
        keys = []
        for parent, document in documents.items():
            document.add_document(document_windows, first + standalone + len(keys))
            keys.append(min(rowid for rowid, _, _ in members[parent]))
        chunk_rows = chunk_windows.counts(len(added) if document_windows is not chunk_windows
                                          else len(added) + standalone + len(keys))
        document_rows = chunk_rows if document_windows is chunk_windows else document_windows.counts(standalone + len(keys))
        return {"chunks": (words, *_row_range(chunk_rows, 0, len(added))),
                "standalone": (document_words, *_row_range(document_rows, first, first + standalone)),
                "documents": (keys, document_words, *_row_range(document_rows, first + standalone,
                                                                first + standalone + len(keys)))}

    def _recount(self, members: dict[str, list[tuple[int, str, Any]]], removed_ids: np.ndarray, keys: list[int],
                 words: WordTable, indptr: np.ndarray, indices: np.ndarray, counts: np.ndarray) -> None:
        """Write the recounted parents' document entries again (their counts made by ``_count``)."""
        # A parent's document is keyed by its smallest chunk row id at the time it was written, which is
        # one of its chunks now or one just removed: deleting all of those removes it (others are ignored).
        stale = np.concatenate([removed_ids] + [np.asarray([rowid for rowid, _, _ in rows], dtype=np.int64)
                                                for rows in members.values()])
        if len(stale):
            self.documents.delete(stale)
        if keys:
            self.documents.add_rows(np.asarray(keys, dtype=np.int64), words, indptr, indices, counts)


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
        for suffix in ("settings", "terms", "segments", "blobs", "deleted"):
            connection.execute(f"DROP TABLE IF EXISTS {table}_{suffix}")


def _row_range(rows: tuple[np.ndarray, np.ndarray, np.ndarray], start: int, end: int):
    """Rows ``start`` to ``end`` of CSR counts (indptr, term numbers, counts)."""
    indptr, indices, counts = rows
    return indptr[start : end + 1] - indptr[start], indices[indptr[start] : indptr[end]], counts[indptr[start] : indptr[end]]
