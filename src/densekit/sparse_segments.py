"""Incremental BM25 kept in SQLite: the sparse side of a collection whose commits cost the batch.

Each ``add`` call becomes one segment (the batch's term counts, a BLOB row) and each deleted row one
tombstone, written with the caller's connection inside the caller's transaction, so the sparse index
commits and rolls back with the rows it describes and needs no checkpoint of its own. Segments hold
raw term counts, not finished scores: IDF and the average length come from the live totals at query
time, so the scores equal a BM25 built from scratch over the live documents (bm25s' "lucene" formula,
k1=1.5, b=0.75, the same tokenization as ``densekit.sparse.SparseIndex``; docs/storage.md has the
measurements that chose this design over SQLite FTS5 and tantivy).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from typing import Sequence

import numpy as np

from . import sparse_rows
from .errors import CollectionError, InvalidInputError
from .sparse_counting import extend_vocabulary, in_order_of_appearance
from .sparse_generations import SegmentGenerations, with_generation
from .sparse_merges import SegmentMerges
from .sparse_scoring import Layout, best, scan, score_rows
from .sparse_segment import Segment
from .sparse_words import english_stemmer, words

FORMAT_VERSION = 3  # 2: segments and tombstones carry generations; 3: segment BLOBs in a table of their own
_READABLE_FORMATS = ("2", "3")
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: A search allowed at most this many documents scores them one by one instead of scanning postings.
FEW_ALLOWED = 512


class SegmentedSparseIndex(SegmentGenerations, SegmentMerges):
    """BM25 over texts keyed by int64 row ids, stored in tables ``<table>_*`` of a SQLite database.

    Writes run on the given connection and never begin, commit or roll back: they belong to whatever
    transaction the caller has open. After rolling one back, call ``reload()`` so memory matches the
    database again.

    Args:
        connection: an open ``sqlite3.Connection``; the index reads its tables on construction.
        table: prefix of the index's tables (letters, digits, underscores).
        stem: stem words with PyStemmer ("english"). False (default, as SparseIndex on main: stemming
            cost 0.0046 MRR@10 on Quoref) never stems; True requires PyStemmer; None stems when it is
            installed. An existing index keeps the setting it was made with.

    Example:
        >>> index = SegmentedSparseIndex(sqlite3.connect("items.sqlite"), "sparse")
        >>> with index.connection:
        ...     index.add([7, 9], ["cats purr", "dogs bark"])
        >>> index.search("dogs", k=5)
        (array([0.2772589], dtype=float32), array([9]))
    """

    def __init__(self, connection: sqlite3.Connection, table: str = "sparse", stem: bool | None = False,
                 view: int | None = None):
        if not isinstance(table, str) or not _TABLE_NAME.fullmatch(table):
            raise InvalidInputError(f"table must be letters, digits and underscores, got {table!r}")
        self.connection = connection
        self.table = table
        self._requested_stem = stem
        #: The generation this index shows (a collection's snapshot; writes are made at it, see
        #: densekit/collection/embedded/sparse_tables.py), or None: everything, writes at 0.
        self.view = view
        self.reload()

    # ---- storage -------------------------------------------------------------------------------

    def _create(self) -> None:
        t = self.table
        language, _ = english_stemmer(self._requested_stem)
        self.connection.execute(f"CREATE TABLE {t}_settings (key TEXT PRIMARY KEY, value TEXT)")
        # No UNIQUE index on term: a batch's new terms land all over such an index, so every write
        # rewrote most of its pages (~0.1 s of an index run of Quoref, docs/storage.md); the vocabulary
        # is unique in memory, and loading refuses a table that repeats a term.
        self.connection.execute(f"CREATE TABLE {t}_terms (id INTEGER PRIMARY KEY, term TEXT NOT NULL)")
        sparse_rows.create_tables(self.connection, t)
        self.connection.execute(
            f"CREATE TABLE {t}_deleted (id INTEGER PRIMARY KEY AUTOINCREMENT, segment INTEGER NOT NULL, item INTEGER NOT NULL,"
            " gen INTEGER NOT NULL DEFAULT 0)"
        )
        # Generation lookups read these indexes (format 2 rows hold their BLOBs before the columns).
        self.connection.execute(f"CREATE INDEX {t}_segments_by_added ON {t}_segments(added_gen)")
        self.connection.execute(f"CREATE INDEX {t}_segments_by_retired ON {t}_segments(retired_gen)")
        self.connection.execute(f"CREATE INDEX {t}_deleted_by_gen ON {t}_deleted(gen)")
        self.connection.executemany(
            f"INSERT INTO {t}_settings VALUES (?, ?)",
            [("format", str(FORMAT_VERSION)), ("stemmer", language or ""), ("stopwords", "en")],
        )

    def reload(self) -> None:
        """Read the whole index from the database (creating its tables when missing)."""
        t = self.table
        exists = self.connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (f"{t}_settings",)
        ).fetchone()
        if not exists:
            self._create()
        settings = dict(self.connection.execute(f"SELECT key, value FROM {t}_settings"))
        if settings.get("format") not in _READABLE_FORMATS:
            raise CollectionError(
                f"sparse tables {t}_* have format {settings.get('format')!r}; this densekit reads formats "
                f"{', '.join(_READABLE_FORMATS)}"
            )
        self._blobs = None if settings["format"] == "2" else f"{t}_blobs"  # where segment BLOBs are (sparse_rows.py)
        self.stemmer_language = settings.get("stemmer") or None
        if self.stemmer_language is None:
            self._stemmer = None
        else:
            language, self._stemmer = english_stemmer(True)
            if language != self.stemmer_language:
                raise CollectionError(f"sparse tables {t}_* use stemmer {self.stemmer_language!r}")
        self._terms = [term for (term,) in self.connection.execute(f"SELECT term FROM {t}_terms ORDER BY id")]
        self._vocabulary = {term: column for column, term in enumerate(self._terms)}
        if len(self._vocabulary) != len(self._terms):
            raise CollectionError(f"sparse tables {t}_*: the vocabulary holds a term twice (damaged)")
        self._word_columns = None  # add_rows' columns for a WordTable's numbers (the vocabulary is new)
        width = len(self._terms)
        self._search_layout: Layout | None = None  # searches' view of the segments (sparse_scoring.Layout)
        self._segments = [
            with_generation(Segment.from_blob(key, blob, width), added)
            for key, blob, added in sparse_rows.select_segments(self.connection, t, self._blobs,
                                                                self._visible_segments(self.view))
        ]
        self._last_segment = max((segment.key for segment in self._segments), default=0)
        self._last_tombstone = self._apply_tombstones(0, count=False, through=self.view)
        self._frequency = np.zeros(width, dtype=np.int64)
        self._documents = 0
        self._total_length = 0
        for segment in self._segments:
            self._frequency += segment.live_frequency(width)
            self._documents += int(segment.alive.sum())
            self._total_length += int(segment.lengths[segment.alive].sum())

    def _apply_tombstones(self, after: int, count: bool, through: int | None = None, after_gen: int | None = None) -> int:
        """Mark the documents of tombstones newer than ``after`` (id) deleted, only those of generations
        in (after_gen, through] when given; returns the newest tombstone id."""
        by_key = {segment.key: segment for segment in self._segments}
        last = after
        window = "" if through is None else f" AND gen <= {int(through)}"
        window += "" if after_gen is None else f" AND gen > {int(after_gen)}"
        for tombstone, key, rowid in self.connection.execute(
            f"SELECT id, segment, item FROM {self.table}_deleted WHERE id > ?{window} ORDER BY id", (after,)
        ):
            segment = by_key.get(key)
            if segment is None:
                if through is not None:  # a segment this view does not show (retired, or not yet added)
                    continue
                raise CollectionError(f"sparse tables {self.table}_*: a tombstone names segment {key}, which does not exist")
            positions, _ = segment.positions(np.array([rowid], dtype=np.int64))
            if count and len(positions):
                self._forget(segment, positions)
            segment.alive[positions] = False
            last = tombstone
        return last

    def _loader(self, key: int):
        """Reads a released segment's postings back from its row (written in this connection)."""
        def load() -> Segment:
            data = sparse_rows.segment_data(self.connection, self.table, self._blobs, key)
            if data is None:
                raise CollectionError(f"sparse tables {self.table}_*: segment {key} is gone")
            return Segment.from_blob(key, data, len(self._terms))
        return load

    def _forget(self, segment: Segment, positions: np.ndarray) -> None:
        """Take live documents out of the totals (their tombstones are written or read elsewhere)."""
        rows = segment.by_document[positions]
        self._frequency[: rows.shape[1]] -= np.bincount(rows.indices, minlength=rows.shape[1])
        self._documents -= len(positions)
        self._total_length -= int(segment.lengths[positions].sum())

    # ---- writing -------------------------------------------------------------------------------

    @property
    def stemmer(self):
        """The stemmer this index's words go through, or None (``sparse_counting`` counts with it)."""
        return self._stemmer

    def _tokens(self, text: str) -> list[str]:
        return words(text, self._stemmer)

    def _columns(self, tokens: list[str], new_terms: list[str]) -> list[int]:
        columns = []
        for token in tokens:
            column = self._vocabulary.get(token)
            if column is None:
                column = self._vocabulary[token] = len(self._terms)
                self._terms.append(token)
                new_terms.append(token)
            columns.append(column)
        return columns

    def add(self, rowids: Sequence[int] | np.ndarray, texts: Sequence[str]) -> None:
        """Index new documents (one segment); an id already indexed and not deleted is an error.

        Example:
            >>> index.add(np.array([3, 4]), ["a red fox", "a lazy dog"])
        """
        items = list(texts)
        if len(items) != len(_int_ids(rowids, "rowids")):
            raise InvalidInputError(f"got {len(_int_ids(rowids, 'rowids'))} rowids but {len(items)} texts; expected one rowid per text")
        for position, text in enumerate(items):
            if not isinstance(text, str):
                raise InvalidInputError(f"text {position} is {type(text).__name__}; expected a string")
        self.add_counted(rowids, [self.term_counts(text) for text in items])

    def term_counts(self, text: str) -> Counter:
        """How often each indexed word occurs in ``text`` (the tokenization ``add`` uses)."""
        return Counter(self._tokens(text))

    def counts_of(self, rowid: int) -> Counter | None:
        """The word counts a live document was indexed with (None when it is not indexed)."""
        ids = np.array([rowid], dtype=np.int64)
        for segment in self._segments:
            positions, _ = segment.positions(ids)
            if len(positions):
                row = segment.by_document[positions[0]]
                return Counter({self._terms[column]: int(count) for column, count in zip(row.indices, row.data)})
        return None

    def add_counted(self, rowids: Sequence[int] | np.ndarray, counters: Sequence[Counter]) -> None:
        """``add`` with each document given as its word counts (e.g. summed over a document's parts)."""
        ids = self._new_ids(rowids, len(counters))
        if not len(ids):
            return
        new_terms: list[str] = []
        indptr, indices, values = [0], [], []
        for counted in counters:
            indices.extend(self._columns(list(counted.keys()), new_terms))
            values.extend(counted.values())
            indptr.append(len(indices))
        self._store_segment(ids, np.array(indptr, dtype=np.int64), np.array(indices, dtype=np.int64),
                            np.array(values, dtype=np.int64), new_terms)

    def add_rows(self, rowids: Sequence[int] | np.ndarray, words, indptr: np.ndarray, indices: np.ndarray,
                 counts: np.ndarray) -> None:
        """``add_counted`` with the counts as CSR rows over the term numbers of ``words`` (a
        ``sparse_counting.WordTable``; ``count_rows`` makes the rows): row i's terms are
        ``words.terms[indices[indptr[i]:indptr[i + 1]]]``, in order of first occurrence, with their counts."""
        ids = self._new_ids(rowids, len(indptr) - 1)
        if not len(ids):
            return
        columns = self._columns_of(words)
        # Terms new to this table's mapping, in order of first appearance: new terms get columns in
        # that order, as add_counted gives them.
        numbers = in_order_of_appearance(indices[columns[indices] < 0])
        columns[numbers], new_terms = extend_vocabulary(self._vocabulary, self._terms,
                                                        list(map(words.terms.__getitem__, numbers.tolist())))
        self._store_segment(ids, np.asarray(indptr, dtype=np.int64), columns[indices], np.asarray(counts, dtype=np.int64),
                            new_terms)

    def _columns_of(self, words) -> np.ndarray:
        """This index's column of each of ``words``' term numbers (-1: not looked up yet), kept while the
        same table writes here and the vocabulary is only appended to (``reload`` builds a new one)."""
        cached = self._word_columns
        if cached is None or cached[0] is not words or cached[1] is not self._terms:
            cached = self._word_columns = (words, self._terms, np.full(0, -1, dtype=np.int64))
        columns = cached[2]
        if len(columns) < len(words.terms):
            columns = np.concatenate([columns, np.full(len(words.terms) - len(columns), -1, dtype=np.int64)])
            self._word_columns = (words, self._terms, columns)
        return columns

    def _new_ids(self, rowids, documents: int) -> np.ndarray:
        ids = _int_ids(rowids, "rowids")
        if documents != len(ids):
            raise InvalidInputError(f"got {len(ids)} rowids but {documents} documents; expected one rowid per document")
        if not len(ids):
            return ids
        unique, counts = np.unique(ids, return_counts=True)
        if (counts > 1).any():
            raise InvalidInputError(f"rowids must be unique; repeated: {unique[counts > 1][:10].tolist()}")
        present = self._present(ids)
        if len(present):
            raise InvalidInputError(f"rowids already indexed (delete them first): {present[:10].tolist()}")
        return ids

    def _store_segment(self, ids: np.ndarray, indptr: np.ndarray, columns: np.ndarray, counts: np.ndarray,
                       new_terms: list[str]) -> None:
        """Write one segment of the documents ``ids`` (CSR rows over the index's columns) and the
        terms it introduced (columns after the existing ones), in the caller's transaction."""
        from scipy.sparse import csr_matrix

        totals = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=totals[1:])
        lengths = totals[indptr[1:]] - totals[indptr[:-1]]
        width = len(self._terms)
        matrix = csr_matrix((counts.astype(np.float32), columns.astype(np.int32), indptr), shape=(len(ids), width))
        t = self.table
        first_new = width - len(new_terms)
        if new_terms:  # one statement: a first batch brings tens of thousands of terms
            self.connection.execute(f"INSERT INTO {t}_terms (id, term) SELECT key + ?, value FROM json_each(?)",
                                    (first_new, json.dumps(new_terms, ensure_ascii=False)))
        segment = with_generation(Segment(0, ids, lengths.astype(np.float32), matrix), self._write_gen)
        segment.key = self._last_segment = segment.insert(self.connection, f"{t}_segments", self._write_gen, self._blobs)
        segment.release(self._loader(segment.key), keep_rows=self._keeps_rows(matrix))
        self._segments.append(segment)
        self._grow_frequency(width)
        self._frequency += np.bincount(matrix.indices, minlength=width)
        self._documents += len(ids)
        self._total_length += int(lengths.sum())
        self._merge_after_add()

    def delete(self, rowids: Sequence[int] | np.ndarray) -> int:
        """Remove documents by row id; ids not indexed are ignored. Returns how many were removed.

        Example:
            >>> index.delete([3])
            1
        """
        ids = np.unique(_int_ids(rowids, "rowids"))
        removed = 0
        for segment in self._segments:
            positions, found = segment.positions(ids)
            if not len(positions):
                continue
            self.connection.executemany(
                f"INSERT INTO {self.table}_deleted (segment, item, gen) VALUES (?, ?, ?)",
                [(segment.key, int(rowid), self._write_gen) for rowid in found],
            )
            self._forget(segment, positions)
            segment.alive[positions] = False
            removed += len(positions)
        if removed:
            self._last_tombstone = self.connection.execute(f"SELECT max(id) FROM {self.table}_deleted").fetchone()[0]
        return removed

    # ---- reading -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._documents

    def ids(self) -> np.ndarray:
        """All live row ids (int64), sorted."""
        parts = [segment.rowids[segment.alive] for segment in self._segments]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def statistics(self) -> dict[str, int]:
        """Live documents, their total length in tokens, distinct terms and segments (for checks)."""
        return {"documents": self._documents, "total_length": self._total_length,
                "terms": int((self._frequency > 0).sum()), "segments": len(self._segments)}

    def _present(self, ids: np.ndarray) -> np.ndarray:
        # Each segment's largest row id is its last in row-id order: no scan of every row id.
        largest = max((int(segment.rowids[segment.order[-1]]) for segment in self._segments if len(segment.rowids)), default=-1)
        if ids.min() > largest:
            return np.zeros(0, dtype=np.int64)  # ids beyond every indexed one (new rows): nothing to look up
        found = [segment.positions(ids)[1] for segment in self._segments]
        return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)

    def _grow_frequency(self, width: int) -> None:
        if width > len(self._frequency):
            grown = np.zeros(width, dtype=np.int64)
            grown[: len(self._frequency)] = self._frequency
            self._frequency = grown

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The k best live documents by BM25, best first; ties by the smaller row id.

        Args:
            query: free text; words no document has are ignored, and a repeated word counts again
                (as in bm25s).
            k: most hits to return.
            allowed: optional int64 row ids; only these may be returned.
        Returns:
            (scores float32, rowids int64), each of length <= k; documents scoring zero never appear.

        Example:
            >>> index.search("lazy dog", k=2, allowed=np.array([4]))
        """
        if not isinstance(query, str) or not query.strip():
            raise InvalidInputError(f"query must be a non-empty string, got {query!r}")
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, got {k!r}")
        empty = (np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64))
        allowed_ids = None
        if allowed is not None:
            allowed_ids = np.asarray(allowed)
            if allowed_ids.size == 0:
                return empty
            if allowed_ids.ndim != 1 or not np.issubdtype(allowed_ids.dtype, np.integer):
                raise InvalidInputError(f"allowed must be a 1-D array of integer ids, got dtype {allowed_ids.dtype}")
        repeats = Counter(self._vocabulary[t] for t in self._tokens(query) if t in self._vocabulary)
        if not repeats or not self._total_length:  # no live document has a single word
            return empty
        columns = np.array(list(repeats.keys()), dtype=np.int64)
        frequency = self._frequency[columns].astype(np.float64)
        weights = np.log(1.0 + (self._documents - frequency + 0.5) / (frequency + 0.5)) * np.array(list(repeats.values()))
        average_length = self._total_length / self._documents
        layout = self._layout()
        weights = weights.astype(np.float32)
        if allowed_ids is not None and len(allowed_ids) <= FEW_ALLOWED:
            # Score only the allowed documents instead of every posting of the query's words.
            positions = layout.positions(np.unique(allowed_ids.astype(np.int64)))
            return best(score_rows(layout, positions, columns, weights, average_length), layout.rowids[positions], k)
        scores = scan(layout, columns, weights, average_length)
        scores[~layout.alive()] = 0
        if allowed_ids is not None:
            scores[~np.isin(layout.rowids, allowed_ids)] = 0
        return best(scores, layout.rowids, k)

    def _layout(self) -> Layout:
        """The searched segments end to end, kept until the set of segments changes."""
        if self._search_layout is None or not self._search_layout.matches(self._segments):
            self._search_layout = Layout(self._segments)
        return self._search_layout


def _int_ids(values, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
        raise InvalidInputError(f"{name} must be a 1-D sequence of integers, got dtype {array.dtype}, shape {array.shape}")
    return array.astype(np.int64)
