"""BM25 word counts for a batch of texts, the batch split into words once.

A document's chunks and the document itself (its chunks without their overlaps, ``sparse.document_pieces``)
are windows of one text, and a write's texts are joined into one string: it is split into runs of word
characters once, each run numbered once, and numpy counts the words of every window. The counts equal
``Counter(words(window))`` of each window's own text, terms in the same (first-occurrence) order, so
the indexes written from them are byte for byte the ones the per-text path writes
(tests/test_sparse_counting.py checks both). Splitting per document instead cost more in numpy calls
than the per-text path (docs/storage.md).

Why windows of one split are exact: BM25's words are the runs of two or more word characters of the
lowercased text, stop words dropped (``sparse_words.words``). When lowercasing turns each character
into one character on its own (true unless the text holds one that lowercases to two, such as 'İ',
or a capital sigma, whose lowercase depends on its neighbours), a window's lowercase is that window of
the text's lowercase, so its words are the runs inside it, a run cut by an edge shortened to the edge.
Texts where that does not hold, and chunks that are not slices of one text, are split window by window.
"""

from __future__ import annotations

import itertools
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


class Windows:
    """Slices of texts whose words are counted into rows: every text of a batch is split once, together,
    so a write costs a few numpy calls however many documents it holds.

    ``add(text, bounds, rows)`` asks for the words of ``text[start:end]`` for each (start, end) in
    ``bounds``, counted into ``rows`` (a row of several windows, e.g. a document's pieces, gets them in
    the order added); ``counts`` gives every row's counts.
    """

    def __init__(self, table: WordTable):
        self.table = table
        self._lowered: list[str] = []  # texts split together (lowercasing them is exact)
        self._length = 0
        self._bounds: list[tuple[int, int]] = []  # their windows, in the joined text
        self._rows: list[int] = []
        self._apart: list[np.ndarray] = []  # the term numbers of windows of other texts
        self._apart_rows: list[int] = []
        self._added = 0  # windows asked for so far: each window's number in order
        self._order: list[int] = []
        self._apart_order: list[int] = []
        self._placed: dict[int, tuple[str, int | None]] = {}  # id(text) -> (text, its offset or None: apart)

    def add(self, text: str, bounds: Sequence[tuple[int, int]], rows: Sequence[int]) -> None:
        placed = self._placed.get(id(text))
        if placed is None:  # a text asked for again (a document's chunks, then the document) is split once
            lowered = text.lower()
            # Lowercasing character by character (same length, no context-dependent capital sigma): a
            # window's lowercase is that window of the lowercase.
            base = None
            if len(lowered) == len(text) and "\u03a3" not in text:
                base = self._length
                self._lowered.append(lowered)
                self._length += len(lowered) + 1  # joined by one non-word character: no run crosses texts
            placed = self._placed[id(text)] = (text, base)
        base = placed[1]
        order = range(self._added, self._added + len(bounds))
        self._added += len(bounds)
        if base is not None:
            self._bounds += [(base + start, base + end) for start, end in bounds]
            self._rows += rows
            self._order += order
        else:
            self._apart += [self.table.text_ids(text[start:end]) for start, end in bounds]
            self._apart_rows += rows
            self._apart_order += order

    def counts(self, row_count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each row's term counts as CSR (``count_rows``)."""
        terms, lengths = self._joined_windows()
        rows = np.asarray(self._rows, dtype=np.int64)
        if self._apart:  # back in the order the windows were asked for (a row's windows stay in order)
            apart, apart_lengths = joined(self._apart)
            order = np.argsort(np.asarray(self._order + self._apart_order, dtype=np.int64), kind="stable")
            terms, lengths = np.concatenate([terms, apart]), np.concatenate([lengths, apart_lengths])
            starts = np.cumsum(lengths) - lengths
            lengths = lengths[order]
            terms = terms[np.arange(int(lengths.sum()), dtype=np.int64)
                          + np.repeat(starts[order] - (np.cumsum(lengths) - lengths), lengths)]
            rows = np.concatenate([rows, np.asarray(self._apart_rows, dtype=np.int64)])[order]
        return count_rows(terms, lengths, rows, row_count, len(self.table.terms))

    def _joined_windows(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._bounds:
            return _EMPTY, np.zeros(0, dtype=np.int64)
        text = "\x00".join(self._lowered)
        parts = _SPLIT.split(text)  # runs at even places (the first and last may be empty)
        lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        offsets = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        runs, run_starts, run_lengths = parts[0::2], offsets[:-1][0::2], lengths[0::2]
        first = 0 if runs[0] else 1
        last = len(runs) if runs[-1] else len(runs) - 1
        runs, starts = runs[first:last], run_starts[first:last]
        ends = starts + run_lengths[first:last]
        ids = self.table.ids(runs)
        bounds = np.asarray(self._bounds, dtype=np.int64).reshape(-1, 2)
        window_starts, window_ends = bounds[:, 0], bounds[:, 1]
        if not len(ids):
            return _EMPTY, np.zeros(len(bounds), dtype=np.int64)
        low = np.searchsorted(ends, window_starts, side="right")  # first run ending inside
        high = np.searchsorted(starts, window_ends, side="left")  # first run starting after
        counts = np.maximum(high - low, 0)
        slots = np.cumsum(counts) - counts
        found = ids[np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(low - slots, counts)]
        # A run cut by a window's edge: its part inside is the window's word there.
        cut = (counts > 0) & ((starts[np.minimum(low, len(ids) - 1)] < window_starts)
                              | (ends[np.maximum(high - 1, 0)] > window_ends))
        for window in np.flatnonzero(cut).tolist():
            start, end = int(window_starts[window]), int(window_ends[window])
            head, tail = int(low[window]), int(high[window]) - 1
            run_start, run_end, slot = int(starts[head]), int(ends[tail]), int(slots[window])
            if head == tail:
                found[slot] = self.table.ids([text[max(run_start, start):min(run_end, end)]])[0]
                continue
            if run_start < start:
                found[slot] = self.table.ids([text[start:int(ends[head])]])[0]
            if run_end > end:
                found[slot + tail - head] = self.table.ids([text[int(starts[tail]):end]])[0]
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
        self.text = "".join(pieces)
        self.whole = all(start >= 0 and self.text.startswith(prefix, start) for start, prefix in overlaps)
        self.texts: dict[int, str] = {rowid: text for rowid, text, _ in members}
        self.chunk_bounds = chunk_bounds
        self.piece_bounds = piece_bounds
        self.pieces = pieces

    def add_chunks(self, windows: Windows, rowids: Sequence[int], rows: Sequence[int]) -> None:
        """Ask ``windows`` for the words of these chunks (by row id), each into its row."""
        if self.whole:
            windows.add(self.text, [self.chunk_bounds[rowid] for rowid in rowids], rows)
        else:
            for rowid, row in zip(rowids, rows):
                windows.add(self.texts[rowid], [(0, len(self.texts[rowid]))], [row])

    def add_document(self, windows: Windows, row: int) -> None:
        """Ask ``windows`` for the document's words (its pieces, in order) into ``row``."""
        if self.whole:
            windows.add(self.text, self.piece_bounds, [row] * len(self.piece_bounds))
        else:
            for piece in self.pieces:
                windows.add(piece, [(0, len(piece))], [row])


def count_rows(terms: np.ndarray, window_lengths: np.ndarray, window_rows: np.ndarray, row_count: int,
               term_count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Term counts per row as CSR (indptr, term numbers, counts). ``terms`` holds windows one after
    another (``window_lengths`` each, window i belonging to row ``window_rows[i]``); a row made of
    several windows has them in order. A row's terms come in the order of their first occurrence,
    as a Counter's keys."""
    width = max(term_count, 1)
    row_of = np.repeat(np.asarray(window_rows, dtype=np.int64), window_lengths)
    kept = terms >= 0
    occurrences = row_of[kept] * width + terms[kept]  # one key per (row, term) occurrence
    keys, counts, first = _groups(occurrences)
    order = np.argsort((keys // width) * max(len(occurrences), 1) + first)  # by row, then first occurrence (distinct)
    keys, counts = keys[order], counts[order]
    indptr = np.zeros(row_count + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys // width, minlength=row_count), out=indptr[1:])
    return indptr, keys % width, counts.astype(np.int64)


def extend_vocabulary(vocabulary: dict[str, int], terms: list[str], wanted: list[str]) -> tuple[np.ndarray, list[str]]:
    """The columns of the distinct terms ``wanted`` in ``vocabulary`` (term -> column, ``terms`` by
    column); those it lacks are appended, in the order given. Returns (columns, the appended terms).
    Looked up together: a first write brings tens of thousands of terms."""
    found = np.fromiter(map(vocabulary.get, wanted, itertools.repeat(-1)), dtype=np.int64, count=len(wanted))
    missing = np.flatnonzero(found < 0)
    found[missing] = np.arange(len(terms), len(terms) + len(missing))
    appended = [wanted[position] for position in missing.tolist()]
    vocabulary.update(zip(appended, found[missing].tolist()))
    terms.extend(appended)
    return found, appended


def in_order_of_appearance(values: np.ndarray) -> np.ndarray:
    """The distinct ``values``, in the order of their first appearance."""
    distinct, _, first = _groups(values)
    return distinct[np.argsort(first)]


def _groups(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct values sorted, how often each occurs, the position of its first occurrence).
    Grouped by numpy's unstable sort, its fastest for int64 (np.unique's first index needs a stable
    one); a group's first occurrence is its least position."""
    positions = np.argsort(values)
    grouped = values[positions]
    if not len(grouped):
        return grouped, _EMPTY, _EMPTY
    starts = np.flatnonzero(np.concatenate(([True], grouped[1:] != grouped[:-1])))
    return grouped[starts], np.diff(np.append(starts, len(grouped))), np.minimum.reduceat(positions, starts)
