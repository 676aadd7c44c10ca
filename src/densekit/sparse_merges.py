"""Merges of a SegmentedSparseIndex's segments: by size tiers after each add (bounded, so one commit
never rewrites a large part of the index), the segments an index run wrote at its end, or everything
(``densekit compact``). A merge writes one segment of the live documents and retires (or, when no
reader can show them, deletes) the segments it replaces, in the caller's transaction."""

from __future__ import annotations

import numpy as np

from . import sparse_rows
from .allocator import return_free_memory
from .sparse_generations import with_generation
from .sparse_segment import Segment, tier

# Segments are merged automatically only while the result stays this small, so one commit never
# pays for rewriting a large part of the index; bigger merges happen in merge(), called by compact.
AUTO_MERGE_DOCUMENTS = 20_000
#: The most live documents ``merge_newer`` (an index run's end) puts in one segment. A merge holds
#: about 3.4x its segment's BLOB at its peak (the merged arrays, their packed form, SQLite's copy):
#: 32,768 chunks of ~20 distinct words make a 11 MB BLOB (~40 MiB at the peak), of ~80 words ~45 MB
#: (~150 MiB), whatever the size of the run; a search pays ~12 us per extra segment and table
#: (a 1M-chunk run: 31 segments, ~0.4 ms). Measured with benchmarks/ingest_memory.py (docs/input.md).
RUN_MERGE_DOCUMENTS = 32_768
#: Memory an index run's small segments may keep their rows in (per table) until merged: read back from
#: their BLOBs, the rows cost the run's end merge a third of its time (Quoref's 7,024 chunks: 14 segments,
#: ~3.2 MB of rows for the chunks' table, ~2.1 MB for the documents'). Beyond it, rows are read back as before.
RUN_KEPT_ROW_BYTES = 8 * 2**20
#: How many smaller segments of about one size an index run merges into one while it goes (a search
#: pays ~12 us per segment and table): a write's ~100 documents would otherwise stay ~300 segments in
#: the documents' table until they filled a full one.
RUN_MERGE_SEGMENTS = 64


class SegmentMerges:
    """Mixin for ``SegmentedSparseIndex``."""

    _run_since: int | None = None

    @property
    def run_since(self) -> int | None:
        """Set by an index run's writer (the BM25 worker) to the generation before its first write: the
        run's segments are then merged into segments of ``RUN_MERGE_DOCUMENTS`` as they come
        (``_fill_run_segments``), not in tiers of 8 that the run's end merged again (Quoref's 7,024
        chunks wrote 31 MB of segments, 6.6 MB of them tier merges). None again: the rows the run
        kept for its merges go (``_keeps_rows``)."""
        return self._run_since

    @run_since.setter
    def run_since(self, since: int | None) -> None:
        ended = since is None and self._run_since is not None  # rows are kept only while a run is served
        self._run_since = since
        if ended:
            self._release_kept_rows()

    def _merge_after_add(self) -> None:
        if self.run_since is not None:
            self._fill_run_segments(self.run_since)
        else:
            self._merge(AUTO_MERGE_DOCUMENTS)

    def _fill_run_segments(self, generation: int) -> None:
        """Merge the smaller segments written after ``generation``: once they hold more than
        ``RUN_MERGE_DOCUMENTS`` live documents, the first of them (in the order written) that fit in
        one segment of that size, never merged again; else, once ``RUN_MERGE_SEGMENTS`` of about one
        size (the same power of it) are there, those, into one of the next size. So a reader of the
        run sees fewer than ``RUN_MERGE_SEGMENTS`` per size (3 sizes for one-document writes), and a
        document is merged about once per size it passes through (one-document writes: ~3 times)."""
        small = [segment for segment in self._run_segments(generation, RUN_MERGE_DOCUMENTS)
                 if not _full(segment, RUN_MERGE_DOCUMENTS)]
        group: list[Segment] = []
        if sum(int(segment.alive.sum()) for segment in small) > RUN_MERGE_DOCUMENTS:
            total = 0
            for segment in small:
                live = int(segment.alive.sum())
                if group and total + live > RUN_MERGE_DOCUMENTS:
                    break
                group.append(segment)
                total += live
        else:
            tiers: dict[int, list[Segment]] = {}
            for segment in small:
                tiers.setdefault(tier(segment, RUN_MERGE_SEGMENTS), []).append(segment)
            group = next((same for same in tiers.values() if len(same) >= RUN_MERGE_SEGMENTS), [])
        if len(group) > 1:
            self._rewrite(group)
            return_free_memory()

    def _keeps_rows(self, rows) -> bool:
        """Whether a segment an index run's writer just stored keeps its rows by document in memory: the
        run merges its small segments soon (``_fill_run_segments``, the run's end), which otherwise read
        them back from their BLOBs, while the rows kept stay within ``RUN_KEPT_ROW_BYTES``."""
        if self.run_since is None or rows.shape[0] >= RUN_MERGE_DOCUMENTS // 2:  # a full one is never merged in a run
            return False
        kept = sum(segment.kept_row_bytes for segment in self._segments)
        return kept + rows.data.nbytes + rows.indices.nbytes + rows.indptr.nbytes <= RUN_KEPT_ROW_BYTES

    def _release_kept_rows(self) -> None:
        for segment in self._segments:
            if segment.kept_row_bytes:
                segment.release(self._loader(segment.key))

    def _run_segments(self, generation: int, limit: int) -> list[Segment]:
        """The segments written after ``generation``: those of at least half ``limit`` live documents
        first (each merged alone), then the others in the order written."""
        newer = [segment for segment in self._segments if segment.added_gen > generation]
        return sorted(newer, key=lambda segment: (not _full(segment, limit), segment.key))

    def merge(self, max_documents: int | None = None) -> None:
        """Merge segments (size tiers of 8) and drop deleted documents; None merges without a size cap.

        Example:
            >>> index.merge()  # e.g. from `densekit compact`
        """
        self._merge(max_documents)
        if max_documents is None and (len(self._segments) > 1 or any(not s.alive.all() for s in self._segments)):
            self._rewrite(list(self._segments))

    def merge_newer(self, generation: int, max_documents: int | None = None) -> int:
        """Merge the segments added after ``generation`` (what an index run wrote) into as few as
        ``max_documents`` live documents each allows (default ``RUN_MERGE_DOCUMENTS``); segments of
        older generations are left alone, so the cost is that of the run. Returns how many segments
        were rewritten (0: nothing changed).

        Example:
            >>> index.merge_newer(run_started_at)  # an index run's end (Collection.merge_segments)
            13
        """
        limit = RUN_MERGE_DOCUMENTS if max_documents is None else max_documents
        rewritten = 0
        group: list[Segment] = []
        total = 0
        for segment in self._run_segments(generation, limit) + [None]:
            live = 0 if segment is None else int(segment.alive.sum())
            if segment is None or (group and total + live > limit):
                if len(group) > 1 or (group and not group[0].alive.all()):  # one whole segment stays as it is
                    self._rewrite(group)
                    rewritten += len(group)
                    return_free_memory()  # this merge's arrays, before the next one's
                group, total = [], 0
            if segment is not None:
                group.append(segment)
                total += live
        self._release_kept_rows()  # the run's end: a segment it left as it is keeps no rows
        return rewritten

    def _merge(self, max_documents: int | None) -> None:
        while True:
            tiers: dict[int, list[Segment]] = {}
            for segment in self._segments:
                tiers.setdefault(tier(segment), []).append(segment)
            groups = [group[:8] for _, group in sorted(tiers.items()) if len(group) >= 8]
            if max_documents is not None:
                groups = [group for group in groups if sum(int(s.alive.sum()) for s in group) <= max_documents]
            if not groups:
                return
            self._rewrite(groups[0])

    def _rewrite(self, group: list[Segment]) -> None:
        """Replace ``group`` by one segment of its live documents, in the caller's transaction."""
        from scipy.sparse import csr_matrix, vstack

        width = len(self._terms)
        parts = []
        for segment in group:
            released = segment.is_released
            rows = segment.by_document
            if segment.alive.all():  # its arrays as they are, wider (a run's segments: no row copied)
                rows = csr_matrix((rows.data, rows.indices, rows.indptr), shape=(rows.shape[0], width), copy=False)
            else:
                rows = rows[np.flatnonzero(segment.alive)]
                rows.resize((rows.shape[0], width))
            parts.append(rows)
            if released:  # read back for this merge only: let its postings go before the next one's
                segment.release(self._loader(segment.key))
        matrix = vstack(parts, format="csr")
        del parts
        merged = Segment(
            0,
            np.concatenate([s.rowids[s.alive] for s in group]),
            np.concatenate([s.lengths[s.alive] for s in group]),
            matrix,
        )
        del matrix
        t = self.table
        for segment in group:
            if self.view is None or segment.added_gen == self._write_gen:  # nobody else shows it: it can go
                sparse_rows.delete_segments(self.connection, t, self._blobs, "id = ?", (segment.key,))
                self.connection.execute(f"DELETE FROM {t}_deleted WHERE segment = ?", (segment.key,))
            else:  # readers of older generations still show it, until purge() (format 2: the BLOB is rewritten too)
                self.connection.execute(f"UPDATE {t}_segments SET retired_gen = ? WHERE id = ?", (self._write_gen, segment.key))
            self._segments.remove(segment)
        merged = with_generation(merged, self._write_gen)
        if len(merged.rowids):
            merged.key = self._last_segment = merged.insert(self.connection, f"{t}_segments", self._write_gen, self._blobs)
            merged.release(self._loader(merged.key))
            self._segments.append(merged)
        self._search_layout = None  # it holds the replaced segments: let them go now


def _full(segment: Segment, limit: int) -> bool:
    """At least half a merge's size ``limit``: never merged into a group of smaller segments (rewritten
    again with every group it would join)."""
    return int(segment.alive.sum()) >= limit // 2
