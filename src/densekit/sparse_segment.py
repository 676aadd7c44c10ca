"""One segment of a SegmentedSparseIndex: a batch's term counts and its BLOB form (its BM25 scores: sparse_scoring.py)."""

from __future__ import annotations

import zlib
from typing import Callable

import numpy as np

K1, B = 1.5, 0.75  # bm25s' defaults, so scores equal today's SparseIndex


class Segment:
    """One batch's term counts, by document (for deletes and merges) and by term (for search).

    Both layouts are stored in the BLOB, so opening a collection only copies arrays: no sorting.
    """

    def __init__(self, key: int, rowids: np.ndarray, lengths: np.ndarray, counts, layout=None, order=None):
        self.key = key
        self.added_gen = 0  # the generation that wrote it (sparse_generations.with_generation)
        self.rowids = rowids
        self.lengths = lengths
        self._set_postings(counts.tocsr(), layout)
        self._load: Callable[[], "Segment"] | None = None
        self.alive = np.ones(len(rowids), dtype=bool)  # False once deleted (a tombstone row in SQLite)
        self.order = np.argsort(rowids, kind="stable") if order is None else order

    def _set_postings(self, by_document, layout) -> None:
        self._by_document = by_document
        self._terms, self._term_starts, self._term_documents, self._term_counts = (
            _term_layout(by_document) if layout is None else layout
        )

    def release(self, load: Callable[[], "Segment"], keep_rows: bool = False) -> None:
        """Drop the postings from memory (they are in the segment's BLOB): a writer that only writes
        keeps memory flat however much it indexes; ``load`` reads them back when a search or a merge
        needs them. ``keep_rows``: the rows by document stay (a merge soon reads them, and nothing else
        does); only the postings by term go."""
        self._load = load
        if not keep_rows:
            self._by_document = None
        self._terms = self._term_starts = self._term_documents = self._term_counts = None

    @property
    def is_released(self) -> bool:
        """True while the postings by term are only in the BLOB (``release``)."""
        return self._terms is None

    @property
    def kept_row_bytes(self) -> int:
        """Memory the rows kept by ``release(keep_rows=True)`` hold (0 when none are)."""
        rows = self._by_document
        if rows is None or self._terms is not None:
            return 0
        return rows.data.nbytes + rows.indices.nbytes + rows.indptr.nbytes

    def _postings(self) -> None:
        if self._terms is None:
            stored = self._load()
            self._set_postings(stored._by_document, (stored._terms, stored._term_starts, stored._term_documents, stored._term_counts))

    @property
    def by_document(self):
        if self._by_document is None:
            self._postings()
        return self._by_document

    @property
    def terms(self) -> np.ndarray:
        self._postings()
        return self._terms

    @property
    def term_starts(self) -> np.ndarray:
        self._postings()
        return self._term_starts

    @property
    def term_documents(self) -> np.ndarray:
        self._postings()
        return self._term_documents

    @property
    def term_counts(self) -> np.ndarray:
        self._postings()
        return self._term_counts

    def positions(self, rowids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions in this segment, the rowids found) of the live documents among ``rowids``."""
        sorted_ids = self.rowids[self.order]
        slots = np.searchsorted(sorted_ids, rowids).clip(max=max(len(sorted_ids) - 1, 0))
        found = sorted_ids[slots] == rowids if len(sorted_ids) else np.zeros(len(rowids), dtype=bool)
        positions = self.order[slots[found]]
        live = self.alive[positions]
        return positions[live], rowids[found][live]

    def _arrays(self) -> dict[str, np.ndarray]:
        matrix = self.by_document
        kind = count_dtype(matrix.data)
        return dict(rowids=self.rowids, lengths=self.lengths.astype(np.float32, copy=False), order=self.order,
                    indptr=matrix.indptr.astype(np.int64, copy=False), indices=matrix.indices.astype(np.int32, copy=False),
                    counts=matrix.data.astype(kind, copy=False), terms=self.terms.astype(np.int64, copy=False),
                    term_starts=self.term_starts, term_documents=self.term_documents.astype(
                        np.uint16 if len(self.rowids) <= 2**16 else np.int32, copy=False),  # positions in this segment
                    term_counts=self.term_counts.astype(kind, copy=False))

    def to_blob(self) -> bytes:
        return pack_arrays(**self._arrays())

    def insert(self, connection, table: str, added_gen: int, blobs: str | None = None) -> int:
        """Write the segment as a new row of ``table`` (columns data, added_gen), or with ``blobs`` a
        row of ``table`` (column added_gen) and its BLOB as a row of ``blobs`` (columns segment, data;
        sparse_rows.py); returns its id. The BLOB is written piece by piece (sqlite3 blob I/O): no copy
        of the whole segment in memory."""
        head, arrays = packed_parts(**self._arrays())
        size = len(head) + sum(array.nbytes for array in arrays)
        if blobs is None:
            key = connection.execute(f"INSERT INTO {table} (data, added_gen) VALUES (zeroblob(?), ?)", (size, added_gen)).lastrowid
        else:
            key = connection.execute(f"INSERT INTO {table} (added_gen) VALUES (?)", (added_gen,)).lastrowid
            connection.execute(f"INSERT INTO {blobs} (segment, data) VALUES (?, zeroblob(?))", (key, size))
        with connection.blobopen(table if blobs is None else blobs, "data", key) as blob:
            blob.write(head)
            for array in arrays:
                if array.nbytes:
                    blob.write(memoryview(array).cast("B"))
        return key

    @classmethod
    def from_blob(cls, key: int, blob: bytes, width: int) -> "Segment":
        from scipy.sparse import csr_matrix

        arrays = unpack_arrays(blob)
        rowids = arrays["rowids"]
        counts = csr_matrix((arrays["counts"], arrays["indices"], arrays["indptr"]), shape=(len(rowids), width))
        layout = (arrays["terms"], arrays["term_starts"], arrays["term_documents"], arrays["term_counts"])
        return cls(key, rowids, arrays["lengths"], counts, layout=layout, order=arrays["order"])

    def live_frequency(self, width: int) -> np.ndarray:
        """How many live documents of this segment hold each term (length ``width``)."""
        frequency = np.zeros(width, dtype=np.int64)
        frequency[self.terms] = np.diff(self.term_starts)
        dead = np.flatnonzero(~self.alive)
        if len(dead):
            rows = self.by_document[dead]
            frequency[: rows.shape[1]] -= np.bincount(rows.indices, minlength=rows.shape[1])
        return frequency


_MAGIC = b"DKSEG2\n"
#: Read as well: BLOBs written before 3 December 2026 (float32 counts, int32 positions). Written as 2
#: since, so a densekit from before refuses a segment whose uint16 positions it would add to without
#: casting (past 65,535 documents its searches scored the wrong documents) instead of misreading it.
_MAGICS = (b"DKSEG1\n", _MAGIC)


def count_dtype(counts: np.ndarray) -> np.dtype:
    """The type a segment's BLOB stores its word counts as: the smallest unsigned integer that holds
    them all exactly (uint8 for chunk-sized texts), else float32. Stored as float32 until 3 Dec 2026:
    a third of every BLOB, written by each write and again by each merge (~1/3 of an index run's
    BM25 bytes). Read back as they are: BM25 mixes them with float32 weights and lengths, which gives
    float32 arithmetic on the same values (whole numbers below 2**24 are exact in float32), so the
    scores are the same bits whatever type a segment holds."""
    if not len(counts):
        return np.dtype(np.uint8)
    low, high = counts.min(), counts.max()
    for kind in (np.uint8, np.uint16):
        if low >= 0 and high <= np.iinfo(kind).max and np.array_equal(counts, counts.astype(kind)):
            return np.dtype(kind)
    return np.dtype(np.float32)


def pack_arrays(**arrays: np.ndarray) -> bytes:
    """Named arrays as one BLOB: a JSON header (dtype, shape, offset of each) and their raw bytes.
    (np.savez's zip container cost milliseconds per small segment; this reads back without copying.)"""
    head, parts = packed_parts(**arrays)
    return head + b"".join(memoryview(part).cast("B") for part in parts)


def packed_parts(**arrays: np.ndarray) -> tuple[bytes, list[np.ndarray]]:
    """The BLOB's header (magic, length, JSON) and the arrays whose bytes follow it, uncopied."""
    import json

    header, parts, offset, crc = {}, [], 0, 0
    for name, array in arrays.items():
        data = np.ascontiguousarray(array).reshape(-1) if np.ndim(array) else np.ascontiguousarray(array)
        header[name] = [data.dtype.str, list(np.shape(array)), offset]
        if data.nbytes:
            crc = zlib.crc32(memoryview(data).cast("B"), crc)
        parts.append(data)
        offset += data.nbytes
    header["crc32"] = crc  # a flipped byte is found when the segment is read
    encoded = json.dumps(header).encode()
    return _MAGIC + len(encoded).to_bytes(4, "little") + encoded, parts


def unpack_arrays(blob: bytes) -> dict[str, np.ndarray]:
    import json

    if not blob.startswith(_MAGICS):
        raise ValueError("not a sparse segment (unknown format)")
    size = int.from_bytes(blob[len(_MAGIC): len(_MAGIC) + 4], "little")
    start = len(_MAGIC) + 4 + size
    header = json.loads(blob[len(_MAGIC) + 4: start])
    if zlib.crc32(memoryview(blob)[start:]) != header.pop("crc32", None):
        raise ValueError("sparse segment is damaged (checksum mismatch)")
    found = {}
    for name, (dtype, shape, offset) in header.items():
        count = int(np.prod(shape)) if shape else 1
        array = np.frombuffer(blob, dtype=np.dtype(dtype), count=count, offset=start + offset).reshape(shape)
        found[name] = array
    return found


def _term_layout(by_document):
    """(terms, starts, documents, counts): postings of only the terms present, ordered by term.

    Not a full CSC matrix when the vocabulary is much wider than the segment: a one-document segment
    must stay small when the vocabulary has a million terms.
    """
    total = by_document.nnz
    if by_document.shape[1] <= 4 * total + 1024:
        by_term = by_document.tocsc()  # a counting sort in C
        terms = np.flatnonzero(np.diff(by_term.indptr))
        starts = np.append(by_term.indptr[terms], total).astype(np.int64)
        return terms, starts, by_term.indices.astype(np.int32), by_term.data.astype(np.float32)
    coordinates = by_document.tocoo()
    order = np.lexsort((coordinates.row, coordinates.col))
    terms, starts = np.unique(coordinates.col[order], return_index=True)
    return (terms.astype(np.int64), np.append(starts, total).astype(np.int64),
            coordinates.row[order].astype(np.int32), coordinates.data[order].astype(np.float32))


def tier(segment: Segment, base: int = 8) -> int:
    """Size tier: 0 for up to ``base - 1`` live documents, 1 up to ``base**2 - 1``, ... (merges
    happen within a tier)."""
    return int(np.log(max(int(segment.alive.sum()), 1)) / np.log(base))
