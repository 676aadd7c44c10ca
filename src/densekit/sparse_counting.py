"""BM25 word counts for a batch of texts, each text split into words once.

A document's chunks and the document itself (its chunks without their overlaps, ``sparse.document_pieces``)
are windows of one text: it is split into runs of word characters once, and numpy counts the words of
every window. The counts equal ``Counter(words(window))`` of each window's own text, terms in the same
(first-occurrence) order, so the indexes written from them are byte for byte the ones the per-text
path writes (tests/test_sparse_counting.py checks both).

Why windows of one split are exact: BM25's words are the runs of two or more word characters of the
lowercased text, stop words dropped (``sparse_words.words``). When lowercasing turns each character
into one character on its own (true unless the text holds one that lowercases to two, such as 'İ',
or a capital sigma, whose lowercase depends on its neighbours), a window's lowercase is that window of
the text's lowercase, so its words are the runs inside it, a run cut by an edge shortened to the edge.
Texts where that does not hold, and chunks that are not slices of one text, are split window by window.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from .sparse_words import STOP_WORDS

_RUNS = re.compile(r"\w+")
_SPLIT = re.compile(r"(\W+)")  # kept separators: their lengths give every run's offsets
_EMPTY = np.zeros(0, dtype=np.int64)


class WordTable:
    """Numbers for the words of one batch: each distinct run of word characters is looked at once
    (length, stop word, stemming); -1 marks a run BM25 drops."""

    def __init__(self, stemmer=None):
        self._stemmer = stemmer
        #: The batch's terms (stemmed when the index stems), by number.
        self.terms: list[str] = []
        self._numbers: dict[str, int] = {}
        self._found: dict[str, int] = {}

    def ids(self, found: list[str]) -> np.ndarray:
        """The term number of each lowercased run in ``found`` (-1: not a BM25 word)."""
        known = self._found
        missing = set(found).difference(known)
        if missing:
            kept = [word for word in missing if len(word) >= 2 and word not in STOP_WORDS]
            stems = self._stemmer.stemWords(kept) if self._stemmer is not None and kept else kept
            for word in missing:
                known[word] = -1
            for word, stem in zip(kept, stems):
                number = self._numbers.get(stem)
                if number is None:
                    number = self._numbers[stem] = len(self.terms)
                    self.terms.append(stem)
                known[word] = number
        return np.fromiter(map(known.__getitem__, found), dtype=np.int64, count=len(found))

    def text_ids(self, text: str) -> np.ndarray:
        """The term numbers of ``text``'s words, in order (``words(text)``, numbered)."""
        return self.ids(_RUNS.findall(text.lower()))


class SplitText:
    """A text split into runs of word characters once; ``windows`` numbers the words of its slices."""

    def __init__(self, text: str):
        self.text = text
        lowered = text.lower()
        # Lowercasing character by character (same length, no context-dependent capital sigma): a
        # slice's lowercase is the slice of the lowercase.
        self.exact = len(lowered) == len(text) and "\u03a3" not in text
        self._ids: dict[int, np.ndarray] = {}
        if not self.exact:
            return
        self.lowered = lowered
        parts = _SPLIT.split(lowered)  # runs at even places (the first and last may be empty)
        lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        offsets = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        runs, run_lengths, run_starts = parts[0::2], lengths[0::2], offsets[:-1][0::2]
        first = 0 if runs[0] else 1
        last = len(runs) if runs[-1] else len(runs) - 1
        self.runs = runs[first:last] if first < last else []
        self.starts = run_starts[first:last] if first < last else _EMPTY
        self.ends = self.starts + run_lengths[first:last] if first < last else _EMPTY

    def windows(self, table: WordTable, bounds: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """The term numbers of the words of ``text[start:end]`` for each (start, end) in ``bounds``: all
        of them, one window after another, and how many each window has."""
        if not self.exact:
            return joined([table.text_ids(self.text[start:end]) for start, end in bounds])
        ids = self._ids.get(id(table))
        if ids is None:
            ids = self._ids[id(table)] = table.ids(self.runs)
        starts_at = np.fromiter((start for start, _ in bounds), dtype=np.int64, count=len(bounds))
        ends_at = np.fromiter((end for _, end in bounds), dtype=np.int64, count=len(bounds))
        if not len(ids) or not len(bounds):
            return _EMPTY, np.zeros(len(bounds), dtype=np.int64)
        low = np.searchsorted(self.ends, starts_at, side="right")  # first run ending inside
        high = np.searchsorted(self.starts, ends_at, side="left")  # first run starting after
        counts = np.maximum(high - low, 0)
        offsets = np.cumsum(counts) - counts
        found = ids[np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(low - offsets, counts)]
        # A run cut by a window's edge: its part inside is the window's word there.
        cut = (counts > 0) & ((self.starts[np.minimum(low, len(ids) - 1)] < starts_at)
                              | (self.ends[np.maximum(high - 1, 0)] > ends_at))
        for window in np.flatnonzero(cut).tolist():
            start, end, first, last = int(starts_at[window]), int(ends_at[window]), int(low[window]), int(high[window]) - 1
            run_start, run_end = int(self.starts[first]), int(self.ends[last])
            slot = int(offsets[window])
            if first == last:
                found[slot] = table.ids([self.lowered[max(run_start, start):min(run_end, end)]])[0]
                continue
            if run_start < start:
                found[slot] = table.ids([self.lowered[start:int(self.ends[first])]])[0]
            if run_end > end:
                found[slot + last - first] = table.ids([self.lowered[int(self.starts[last]):end]])[0]
        return found, counts


def joined(windows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Windows' term numbers one after another, and how many each has."""
    counts = np.fromiter(map(len, windows), dtype=np.int64, count=len(windows))
    return (np.concatenate(windows) if windows else _EMPTY), counts


class DocumentText:
    """A document's chunks as windows of one text: its pieces (each chunk without what overlaps the
    chunks before, ``sparse.document_pieces``) joined. Chunks that are not slices of one text
    (inconsistent offsets) are kept apart, each its own text."""

    def __init__(self, members: Sequence[tuple[int, str, tuple[int, int] | None]]):
        from .sparse import document_pieces_order

        pieces, chunk_bounds, piece_bounds, overlaps = [], {}, [], []
        covered, length = None, 0
        for position in document_pieces_order([span for _, _, span in members]):
            rowid, text, span = members[position]
            drop = 0
            if span is not None and covered is not None and span[0] < covered:
                drop = min(len(text), covered - span[0])
            pieces.append(text[drop:] if drop else text)
            chunk_bounds[rowid] = (length - drop, length - drop + len(text))
            piece_bounds.append((length, length + len(text) - drop))
            if drop:
                overlaps.append((length - drop, text[:drop]))
            length += len(text) - drop
            if span is not None:
                covered = span[1] if covered is None else max(covered, span[1])
        joined = "".join(pieces)
        self.whole = all(start >= 0 and joined.startswith(prefix, start) for start, prefix in overlaps)
        self.texts: dict[int, str] = {rowid: text for rowid, text, _ in members}
        self.chunk_bounds = chunk_bounds
        self.piece_bounds = piece_bounds
        self.pieces = pieces
        self.split = SplitText(joined) if self.whole else None

    def chunk_windows(self, table: WordTable, rowids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The term numbers of each chunk's words (chunks by row id), as ``SplitText.windows``."""
        if self.split is None:
            return joined([table.text_ids(self.texts[rowid]) for rowid in rowids])
        return self.split.windows(table, [self.chunk_bounds[rowid] for rowid in rowids])

    def piece_windows(self, table: WordTable) -> tuple[np.ndarray, np.ndarray]:
        """The term numbers of each piece's words: together, the document's words."""
        if self.split is None:
            return joined([table.text_ids(piece) for piece in self.pieces])
        return self.split.windows(table, self.piece_bounds)


def count_rows(terms: np.ndarray, window_lengths: np.ndarray, window_rows: np.ndarray, row_count: int,
               term_count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Term counts per row as CSR (indptr, term numbers, counts). ``terms`` holds windows one after
    another (``window_lengths`` each, window i belonging to row ``window_rows[i]``); a row made of
    several windows has them in order. A row's terms come in the order of their first occurrence,
    as a Counter's keys."""
    width = max(term_count, 1)
    row_of = np.repeat(np.asarray(window_rows, dtype=np.int64), window_lengths)
    kept = terms >= 0
    keys, first, counts = np.unique(row_of[kept] * width + terms[kept], return_index=True, return_counts=True)
    order = np.lexsort((first, keys // width))
    keys, counts = keys[order], counts[order]
    indptr = np.zeros(row_count + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys // width, minlength=row_count), out=indptr[1:])
    return indptr, keys % width, counts.astype(np.int64)
