"""One segment of a SegmentedSparseIndex: a batch's term counts, its BLOB form, and its BM25 scores."""

from __future__ import annotations

import io

import numpy as np

K1, B = 1.5, 0.75  # bm25s' defaults, so scores equal today's SparseIndex


class Segment:
    """One batch's term counts, by document (for deletes and merges) and by term (for search)."""

    def __init__(self, key: int, rowids: np.ndarray, lengths: np.ndarray, counts):
        self.key = key
        self.rowids = rowids
        self.lengths = lengths
        self.by_document = counts.tocsr()
        # By term, only the terms this segment has (not the whole vocabulary's width: a one-document
        # segment must stay small when the vocabulary has a million terms).
        coordinates = self.by_document.tocoo()
        order = np.lexsort((coordinates.row, coordinates.col))
        self.terms, starts = np.unique(coordinates.col[order], return_index=True)
        self.term_starts = np.append(starts, len(order)).astype(np.int64)
        self.term_documents = coordinates.row[order].astype(np.int32)
        self.term_counts = coordinates.data[order].astype(np.float32)
        self.alive = np.ones(len(rowids), dtype=bool)  # False once deleted (a tombstone row in SQLite)
        self.order = np.argsort(rowids, kind="stable")

    def positions(self, rowids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions in this segment, the rowids found) of the live documents among ``rowids``."""
        sorted_ids = self.rowids[self.order]
        slots = np.searchsorted(sorted_ids, rowids).clip(max=max(len(sorted_ids) - 1, 0))
        found = sorted_ids[slots] == rowids if len(sorted_ids) else np.zeros(len(rowids), dtype=bool)
        positions = self.order[slots[found]]
        live = self.alive[positions]
        return positions[live], rowids[found][live]

    def to_blob(self) -> bytes:
        buffer = io.BytesIO()
        matrix = self.by_document
        np.savez(buffer, rowids=self.rowids, lengths=self.lengths.astype(np.int32), indptr=matrix.indptr.astype(np.int64),
                 indices=matrix.indices.astype(np.int32), counts=matrix.data.astype(np.int32))
        return buffer.getvalue()

    @classmethod
    def from_blob(cls, key: int, blob: bytes, width: int) -> "Segment":
        from scipy.sparse import csr_matrix

        arrays = np.load(io.BytesIO(blob), allow_pickle=False)
        rowids = arrays["rowids"]
        counts = csr_matrix((arrays["counts"].astype(np.float32), arrays["indices"], arrays["indptr"]),
                            shape=(len(rowids), width))
        return cls(key, rowids, arrays["lengths"].astype(np.float32), counts)


def tier(segment: Segment) -> int:
    """Size tier: 0 for up to 7 live documents, 1 up to 63, ... (merges happen within a tier)."""
    return int(np.log(max(int(segment.alive.sum()), 1)) / np.log(8))


def segment_scores(segment: Segment, columns: np.ndarray, weights: np.ndarray, average_length: float):
    """BM25 of every document of the segment for these term columns (None when it has none of them)."""
    slots = np.searchsorted(segment.terms, columns)
    scores = None
    for column, slot, weight in zip(columns.tolist(), slots.tolist(), weights.tolist()):
        if slot == len(segment.terms) or segment.terms[slot] != column:
            continue
        if scores is None:
            scores = np.zeros(len(segment.rowids), dtype=np.float32)
        start, end = segment.term_starts[slot], segment.term_starts[slot + 1]
        documents, counts = segment.term_documents[start:end], segment.term_counts[start:end]
        norm = K1 * (1 - B + B * segment.lengths[documents] / average_length)
        scores[documents] += weight * counts / (counts + norm)
    return scores
