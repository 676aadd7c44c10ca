"""BM25 scoring of a SegmentedSparseIndex in one pass across its segments.

A search used to score each segment on its own, one Python loop per segment and query word, so its
cost grew with the number of segments a run of small commits leaves (docs/retrieval.md, latency). Here
each segment only hands over the postings of the query's words (a few numpy calls, no arithmetic);
the BM25 arithmetic, the sum per document and the top k run once over all of them, on positions in
the segments laid end to end (``Layout``). A document's terms are summed in the order of the query's
words whatever segment holds it, so a merge never changes a score by a bit.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .sparse_segment import K1, B, Segment


class Layout:
    """The segments' documents end to end: row ids, lengths and where each segment starts. Built once
    per set of segments (a segment's row ids and lengths never change; only ``alive`` does, and that
    is read at each search)."""

    def __init__(self, segments: Sequence[Segment]):
        self.segments = tuple(segments)
        sizes = [len(segment.rowids) for segment in self.segments]
        self.starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.rowids = _joined([segment.rowids for segment in self.segments], np.int64)
        self.lengths = _joined([segment.lengths for segment in self.segments], np.float32)
        self._order = self._sorted = None

    def matches(self, segments: Sequence[Segment]) -> bool:
        return len(segments) == len(self.segments) and all(a is b for a, b in zip(segments, self.segments))

    def alive(self) -> np.ndarray:
        return _joined([segment.alive for segment in self.segments], bool)

    def positions(self, rowids: np.ndarray) -> np.ndarray:
        """Positions (end to end) of the live documents among ``rowids`` (unique), in row id order.
        A row id may be in several segments: a document written again (its chunks changed) is dead
        in the older one and live in the newer, so every copy is looked at (only the first was: a
        filtered search lost every document written again since the last merge)."""
        if self._order is None:
            self._order = np.argsort(self.rowids, kind="stable")
            self._sorted = self.rowids[self._order]
        left = np.searchsorted(self._sorted, rowids, side="left")
        counts = np.searchsorted(self._sorted, rowids, side="right") - left
        total = int(counts.sum())
        if not total:
            return np.zeros(0, dtype=np.int64)
        firsts = np.cumsum(counts) - counts
        positions = self._order[np.repeat(left, counts) + np.arange(total) - np.repeat(firsts, counts)]
        return positions[self.alive()[positions]]


def scan(layout: Layout, columns: np.ndarray, weights: np.ndarray, average_length: float) -> np.ndarray:
    """BM25 of every document (end to end positions; 0 where none of the words occur) for the term
    ``columns`` with their IDF ``weights`` (float32)."""
    documents, counts, words = [], [], []
    for segment, start in zip(layout.segments, layout.starts.tolist()):
        found = _postings(segment, columns)
        if found is not None:
            documents.append(found[0] + start)
            counts.append(found[1])
            words.append(found[2])
    if not documents:
        return np.zeros(len(layout.rowids), dtype=np.float32)
    documents = np.concatenate(documents)
    contributions = _contributions(np.concatenate(counts), layout.lengths[documents], weights[np.concatenate(words)], average_length)
    # bincount adds in the order given: each document's words in query order, however segmented.
    return np.bincount(documents, weights=contributions, minlength=len(layout.rowids)).astype(np.float32)


def score_rows(layout: Layout, positions: np.ndarray, columns: np.ndarray, weights: np.ndarray, average_length: float) -> np.ndarray:
    """BM25 of the documents at ``positions`` only, equal to what ``scan`` gives them: for a search
    restricted to a few documents, which reads their rows instead of the words' postings."""
    segment_of = np.searchsorted(layout.starts, positions, side="right") - 1
    rows, counts, words = [], [], []
    for number in np.unique(segment_of).tolist():
        mine = np.flatnonzero(segment_of == number)
        found = _row_entries(layout.segments[number], positions[mine] - layout.starts[number], columns)
        rows.append(mine[found[0]])
        counts.append(found[1])
        words.append(found[2])
    if not rows:
        return np.zeros(len(positions), dtype=np.float32)
    rows, counts, words = np.concatenate(rows), np.concatenate(counts), np.concatenate(words)
    order = np.lexsort((words, rows))  # each row's words in query order, as ``scan`` adds them
    rows, counts, words = rows[order], counts[order], words[order]
    contributions = _contributions(counts, layout.lengths[positions[rows]], weights[words], average_length)
    return np.bincount(rows, weights=contributions, minlength=len(positions)).astype(np.float32)


def best(scores: np.ndarray, rowids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k highest positive scores, ties by the smaller row id: (scores, rowids)."""
    hits = np.flatnonzero(scores > 0)
    if len(hits) > k:
        # Keep every document tied with the k-th score so the tie-break sees them all.
        threshold = np.partition(scores[hits], len(hits) - k)[len(hits) - k]
        hits = hits[scores[hits] >= threshold]
    found_scores, found_ids = scores[hits], rowids[hits]
    order = np.lexsort((found_ids, -found_scores))[: int(k)]
    return found_scores[order], found_ids[order]


def _contributions(counts, lengths, weights, average_length: float) -> np.ndarray:
    norm = K1 * (1 - B + B * lengths / average_length)
    return weights * counts / (counts + norm)


def _postings(segment: Segment, columns: np.ndarray):
    """(documents, counts, word numbers) of the segment's postings of ``columns``, word by word in the
    order of ``columns``; None when the segment has none of them."""
    # Plain ndarray methods only: this runs once per segment and query, where numpy's Python-level
    # wrappers (np.clip, np.flatnonzero, np.repeat) cost as much as the work.
    terms = segment.terms
    if not len(terms):
        return None
    slots = terms.searchsorted(columns)
    slots[slots == len(terms)] = 0
    present = (terms[slots] == columns).nonzero()[0]
    if not len(present):
        return None
    slots = slots[present]
    bounds = segment.term_starts
    starts, ends = bounds[slots], bounds[slots + 1]
    sizes = ends - starts
    entries = ranges(starts, ends, sizes)
    # Positions as int64: a BLOB keeps them as uint16 in a segment of up to 2**16 documents, and
    # ``scan`` adds the segment's start to them.
    return segment.term_documents[entries].astype(np.int64), segment.term_counts[entries], present.repeat(sizes)


def _row_entries(segment: Segment, positions: np.ndarray, columns: np.ndarray):
    """(row numbers into ``positions``, counts, word numbers) of the query's words in those rows."""
    matrix = segment.by_document
    starts, ends = matrix.indptr[positions], matrix.indptr[positions + 1]
    entries = ranges(starts, ends)
    row_of = np.repeat(np.arange(len(positions)), ends - starts)
    order = np.argsort(columns, kind="stable")
    sorted_columns = columns[order]
    entry_columns = matrix.indices[entries]
    slots = np.searchsorted(sorted_columns, entry_columns).clip(max=len(columns) - 1)
    wanted = np.flatnonzero(sorted_columns[slots] == entry_columns)
    return row_of[wanted], matrix.data[entries[wanted]], order[slots[wanted]]


def ranges(starts: np.ndarray, ends: np.ndarray, sizes: np.ndarray | None = None) -> np.ndarray:
    """``np.concatenate([np.arange(s, e) for s, e in zip(starts, ends)])`` without the Python loop."""
    sizes = ends - starts if sizes is None else sizes
    total = int(sizes.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    shift = (starts - sizes.cumsum() + sizes).repeat(sizes)
    return shift + np.arange(total)


def _joined(arrays: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype=dtype)
