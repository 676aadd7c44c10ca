"""The sparse engines that benchmarks/sparse_engines.py compares, each behind the same small interface.

Every engine indexes texts under int64 row ids and offers ``build``, ``search(query, k) -> row ids``,
``add(rowid, text)``, ``delete(rowid)`` (each durable on return, as a collection commit must be) and
``disk_bytes()``. Tokenization follows today's densekit SparseIndex (bm25s): lowercase, words of two or
more word characters, bm25s' 33 English stop words, optional Snowball English stemming (PyStemmer).
"""

from __future__ import annotations

import io
import re
import shutil
import sqlite3
from pathlib import Path

import numpy as np
from bm25s.stopwords import STOPWORDS_EN

from densekit.sparse import SparseIndex

WORD = re.compile(r"(?u)\b\w\w+\b")  # bm25s' default token pattern
STOPWORDS = frozenset(STOPWORDS_EN)


def query_terms(query: str, stemmer=None) -> list[str]:
    """Distinct non-stop-word terms of a query, in order of first appearance (stemmed when asked)."""
    words = [word for word in WORD.findall(query.lower()) if word not in STOPWORDS]
    if stemmer is not None:
        words = stemmer.stemWords(words)
    return list(dict.fromkeys(words))


def _english_stemmer(stem: bool):
    if not stem:
        return None
    import Stemmer

    return Stemmer.Stemmer("english")


def folder_bytes(path: Path) -> int:
    return sum(item.stat().st_size for item in Path(path).rglob("*") if item.is_file())


class Bm25sEngine:
    """Today's densekit SparseIndex: every add or delete rebuilds and saves the whole index."""

    def __init__(self, folder: Path, stem: bool):
        self.folder = Path(folder)
        self.index = SparseIndex(stem=stem)
        self.rowids: list[int] = []
        self.texts: list[str] = []

    def build(self, rowids, texts) -> None:
        self.rowids, self.texts = list(rowids), list(texts)
        self._rebuild()

    def _rebuild(self) -> None:
        self.index.build(np.array(self.rowids, dtype=np.int64), self.texts)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.index.save(self.folder)

    def add(self, rowid: int, text: str) -> None:
        self.rowids.append(rowid)
        self.texts.append(text)
        self._rebuild()

    def delete(self, rowid: int) -> None:
        position = self.rowids.index(rowid)
        del self.rowids[position], self.texts[position]
        self._rebuild()

    def search(self, query: str, k: int) -> list[int]:
        return self.index.search(query, k)[1].tolist()

    def disk_bytes(self) -> int:
        return folder_bytes(self.folder)


class Fts5Engine:
    """SQLite FTS5 with its built-in bm25() (k1=1.2, b=0.75), the query an OR of its distinct terms.

    ``max_terms`` keeps only that many of the query's rarest terms (document frequency read from an
    fts5vocab table), trading exactness for speed on long questions.
    """

    def __init__(self, path: Path, tokenizer: str, max_terms: int | None = None):
        self.path = Path(path)
        self.max_terms = max_terms
        if self.path.exists():
            self.path.unlink()
        self.connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=FULL")
        self.connection.execute(f"CREATE VIRTUAL TABLE fts USING fts5(text, tokenize='{tokenizer}')")
        self.connection.execute("CREATE VIRTUAL TABLE fts_terms USING fts5vocab(fts, row)")
        self.stems = tokenizer.startswith("porter")

    def build(self, rowids, texts) -> None:
        with self.connection:
            self.connection.execute("BEGIN")
            self.connection.executemany(
                "INSERT INTO fts(rowid, text) VALUES (?, ?)", zip((int(r) for r in rowids), texts)
            )
        self.connection.execute("INSERT INTO fts(fts) VALUES ('optimize')")
        self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def add(self, rowid: int, text: str, commit: bool = True) -> None:
        self.connection.execute("BEGIN")
        self.connection.execute("INSERT INTO fts(rowid, text) VALUES (?, ?)", (rowid, text))
        self.connection.execute("COMMIT" if commit else "ROLLBACK")

    def delete(self, rowid: int, commit: bool = True) -> None:
        self.connection.execute("BEGIN")
        self.connection.execute("DELETE FROM fts WHERE rowid = ?", (rowid,))
        self.connection.execute("COMMIT" if commit else "ROLLBACK")

    def _rarest(self, terms: list[str]) -> list[str]:
        if self.max_terms is None or len(terms) <= self.max_terms:
            return terms
        # fts5vocab holds stemmed terms under the porter tokenizer; unknown (unstemmed) words count as
        # rare, which keeps them: a cheap approximation that the MRR column measures.
        marks = ",".join("?" * len(terms))
        counts = dict(self.connection.execute(f"SELECT term, doc FROM fts_terms WHERE term IN ({marks})", terms))
        return sorted(terms, key=lambda term: counts.get(term, 0))[: self.max_terms]

    def search(self, query: str, k: int) -> list[int]:
        terms = self._rarest(query_terms(query))
        if not terms:
            return []
        expression = " OR ".join(f'"{term}"' for term in terms)
        rows = self.connection.execute(
            "SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT ?", (expression, k)
        )
        return [row[0] for row in rows]

    def disk_bytes(self) -> int:
        self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return self.path.stat().st_size

    def close(self) -> None:
        self.connection.close()


class TantivyEngine:
    """tantivy (Rust, Lucene-like): BM25 (k1=1.2, b=0.75) with block-max WAND over segments."""

    def __init__(self, folder: Path, stem: bool):
        import tantivy

        self.tantivy = tantivy
        self.folder = Path(folder)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("text", tokenizer_name="densekit")
        builder.add_integer_field("rowid", indexed=True, fast=True)
        self.schema = builder.build()
        self.index = tantivy.Index(self.schema, path=str(self.folder))
        analyzer = (
            tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(r"\b\w\w+\b"))
            .filter(tantivy.Filter.lowercase())
            .filter(tantivy.Filter.custom_stopword(sorted(STOPWORDS)))
        )
        if stem:
            analyzer = analyzer.filter(tantivy.Filter.stemmer("english"))
        self.analyzer = analyzer.build()
        self.index.register_tokenizer("densekit", self.analyzer)
        self.writer = self.index.writer(heap_size=50_000_000, num_threads=1)

    def _document(self, rowid: int, text: str):
        return self.tantivy.Document(rowid=int(rowid), text=text)

    def _commit(self) -> None:
        self.writer.commit()
        self.index.reload()
        self.searcher = self.index.searcher()

    def build(self, rowids, texts) -> None:
        for rowid, text in zip(rowids, texts):
            self.writer.add_document(self._document(rowid, text))
        self._commit()

    def add(self, rowid: int, text: str) -> None:
        self.writer.add_document(self._document(rowid, text))
        self._commit()

    def delete(self, rowid: int) -> None:
        self.writer.delete_documents_by_term("rowid", int(rowid))
        self._commit()

    def search(self, query: str, k: int) -> list[int]:
        terms = list(dict.fromkeys(self.analyzer.analyze(query)))
        if not terms:
            return []
        should = self.tantivy.Occur.Should
        subqueries = [(should, self.tantivy.Query.term_query(self.schema, "text", term)) for term in terms]
        hits = self.searcher.search(self.tantivy.Query.boolean_query(subqueries), k, count=False).hits
        if not hits:
            return []
        return [int(v) for v in self.searcher.fast_field_values("rowid", [address for _, address in hits])]

    def disk_bytes(self) -> int:
        return folder_bytes(self.folder)


class _Segment:
    """Term counts of one batch of documents, in both column (per term) and row (per document) order."""

    def __init__(self, rowids: np.ndarray, lengths: np.ndarray, counts, key: int = 0):
        self.key = key
        self.rowids = rowids
        self.lengths = lengths
        self.by_term = counts.tocsc()
        self.by_document = counts.tocsr()
        self.alive = np.ones(len(rowids), dtype=bool)


class SegmentedBm25Engine:
    """bm25s' scoring (Lucene IDF, k1=1.5, b=0.75) over per-batch segments with global statistics.

    Segments hold raw term counts, not precomputed scores, so IDF and the average length come from
    the live totals at query time and adding or deleting a document never touches other segments.
    Segments are stored as BLOBs in SQLite (WAL, synchronous=FULL) so a write is one small row in the
    caller's transaction; a delete is one tombstone row. When a size tier (powers of ``merge_factor``)
    holds ``merge_factor`` segments they are merged into one, dropping deleted rows.
    """

    k1, b = 1.5, 0.75

    def __init__(self, folder: Path, stem: bool, merge_factor: int = 8, batch: int = 100):
        self.folder = Path(folder)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.connection = sqlite3.connect(self.folder / "segments.sqlite", isolation_level=None)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=FULL")
        self.connection.execute("CREATE TABLE segments (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        self.connection.execute("CREATE TABLE deleted (rowid INTEGER PRIMARY KEY, segment INTEGER NOT NULL)")
        self.stemmer = _english_stemmer(stem)
        self.merge_factor = merge_factor
        self.batch = batch
        self.vocabulary: dict[str, int] = {}
        self.document_frequency = np.zeros(0, dtype=np.int64)
        self.segments: list[_Segment] = []
        self.where: dict[int, tuple[_Segment, int]] = {}
        self.documents = 0
        self.total_length = 0
        self.keys = 0

    def _tokens(self, text: str) -> list[str]:
        words = [word for word in WORD.findall(text.lower()) if word not in STOPWORDS]
        return self.stemmer.stemWords(words) if self.stemmer is not None else words

    def _segment(self, rowids, texts) -> _Segment:
        from scipy.sparse import coo_matrix

        rows, columns, lengths = [], [], []
        for position, text in enumerate(texts):
            tokens = self._tokens(text)
            lengths.append(len(tokens))
            for token in tokens:
                rows.append(position)
                columns.append(self.vocabulary.setdefault(token, len(self.vocabulary)))
        width = len(self.vocabulary)
        counts = coo_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, columns)), shape=(len(texts), width)
        ).tocsr()
        counts.sum_duplicates()
        if width > len(self.document_frequency):
            grown = np.zeros(width, dtype=np.int64)
            grown[: len(self.document_frequency)] = self.document_frequency
            self.document_frequency = grown
        self.document_frequency[:width] += np.bincount(counts.indices, minlength=width)
        self.documents += len(texts)
        self.total_length += int(sum(lengths))
        self.keys += 1
        return _Segment(np.asarray(rowids, dtype=np.int64), np.asarray(lengths, dtype=np.float32), counts, self.keys)

    def _install(self, segment: _Segment) -> None:
        self.segments.append(segment)
        for position, rowid in enumerate(segment.rowids.tolist()):
            self.where[rowid] = (segment, position)

    @staticmethod
    def _blob(segment: _Segment) -> bytes:
        buffer = io.BytesIO()
        matrix = segment.by_document
        np.savez(buffer, rowids=segment.rowids, lengths=segment.lengths, data=matrix.data.astype(np.uint16),
                 indices=matrix.indices, indptr=matrix.indptr)
        return buffer.getvalue()

    def _commit_segment(self, segment: _Segment, replaces: list[_Segment] = ()) -> None:
        self.connection.execute("BEGIN")
        for old in replaces:
            self.connection.execute("DELETE FROM segments WHERE id = ?", (old.key,))
            self.connection.execute("DELETE FROM deleted WHERE segment = ?", (old.key,))
        self.connection.execute("INSERT INTO segments VALUES (?, ?)", (segment.key, self._blob(segment)))
        self.connection.execute("COMMIT")

    def _tier(self, segment: _Segment) -> int:
        return int(np.log(max(1, len(segment.rowids))) / np.log(self.merge_factor))

    def _merge_if_needed(self) -> None:
        from scipy.sparse import vstack

        tiers: dict[int, list[_Segment]] = {}
        for segment in self.segments:
            tiers.setdefault(self._tier(segment), []).append(segment)
        full = [group for group in tiers.values() if len(group) >= self.merge_factor]
        if not full:
            return
        group = full[0][: self.merge_factor]
        width = len(self.vocabulary)
        parts, rowids, lengths = [], [], []
        for segment in group:
            keep = np.flatnonzero(segment.alive)
            matrix = segment.by_document[keep]
            matrix.resize((len(keep), width))
            parts.append(matrix)
            rowids.append(segment.rowids[keep])
            lengths.append(segment.lengths[keep])
            self.segments.remove(segment)
        self.keys += 1
        merged = _Segment(np.concatenate(rowids), np.concatenate(lengths), vstack(parts).tocsr(), self.keys)
        self._install(merged)
        self._commit_segment(merged, replaces=group)
        self._merge_if_needed()

    def build(self, rowids, texts) -> None:
        rowids, texts = list(rowids), list(texts)
        for start in range(0, len(texts), self.batch):
            segment = self._segment(rowids[start:start + self.batch], texts[start:start + self.batch])
            self._install(segment)
            self._commit_segment(segment)
            self._merge_if_needed()
        self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def add(self, rowid: int, text: str) -> None:
        segment = self._segment([rowid], [text])
        self._install(segment)
        self._commit_segment(segment)
        self._merge_if_needed()

    def delete(self, rowid: int) -> None:
        segment, position = self.where.pop(rowid)
        segment.alive[position] = False
        row = segment.by_document
        self.document_frequency[row.indices[row.indptr[position]:row.indptr[position + 1]]] -= 1
        self.documents -= 1
        self.total_length -= int(segment.lengths[position])
        self.connection.execute("BEGIN")
        self.connection.execute("INSERT INTO deleted VALUES (?, ?)", (rowid, segment.key))
        self.connection.execute("COMMIT")

    def search(self, query: str, k: int) -> list[int]:
        columns = [self.vocabulary[term] for term in query_terms(query, self.stemmer) if term in self.vocabulary]
        if not columns or not self.documents:
            return []
        frequency = self.document_frequency[columns].astype(np.float64)
        idf = np.log(1.0 + (self.documents - frequency + 0.5) / (frequency + 0.5)).astype(np.float32)
        average_length = self.total_length / self.documents
        all_scores, all_rowids = [], []
        for segment in self.segments:
            matrix = segment.by_term
            width = matrix.shape[1]
            present = [(column, weight) for column, weight in zip(columns, idf) if column < width
                       and matrix.indptr[column + 1] > matrix.indptr[column]]
            if not present:
                continue
            norm = self.k1 * (1 - self.b + self.b * segment.lengths / average_length)
            scores = np.zeros(len(segment.rowids), dtype=np.float32)
            for column, weight in present:
                start, end = matrix.indptr[column], matrix.indptr[column + 1]
                documents, counts = matrix.indices[start:end], matrix.data[start:end]
                scores[documents] += weight * counts / (counts + norm[documents])
            scores[~segment.alive] = 0
            hits = np.flatnonzero(scores > 0)
            if len(hits) > k:
                hits = hits[np.argpartition(-scores[hits], k - 1)[:k]]
            all_scores.append(scores[hits])
            all_rowids.append(segment.rowids[hits])
        if not all_scores:
            return []
        scores, rowids = np.concatenate(all_scores), np.concatenate(all_rowids)
        order = np.lexsort((rowids, -scores))[:k]
        return rowids[order].tolist()

    def disk_bytes(self) -> int:
        self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return folder_bytes(self.folder)
