"""The sparse engines that benchmarks/sparse_engines.py compares, each behind the same small interface.

Every engine indexes texts under int64 row ids and offers ``build``, ``search(query, k) -> row ids``,
``add(rowid, text)``, ``delete(rowid)`` (each durable on return, as a collection commit must be),
``reopen()`` (read the index back from disk, as opening a collection does) and ``disk_bytes()``.
The segmented engine is the product's densekit.sparse_segments. Tokenization follows today's
SparseIndex (bm25s, densekit.sparse_words): lowercase, words of two or more word characters, bm25s'
33 English stop words, optional Snowball English stemming (PyStemmer).
"""

from __future__ import annotations

import shutil
import sqlite3
from functools import partial
from pathlib import Path

import numpy as np
from bm25s.stopwords import STOPWORDS_EN

from densekit.sparse import SparseIndex
from densekit.sparse_words import words

STOPWORDS = frozenset(STOPWORDS_EN)


def query_terms(query: str) -> list[str]:
    """Distinct non-stop-word terms of a query (unstemmed), in order of first appearance."""
    return list(dict.fromkeys(words(query)))


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

    def reopen(self) -> None:
        self.index = SparseIndex.load(self.folder)

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

    def reopen(self) -> None:
        self.connection.close()
        self.connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.connection.execute("PRAGMA synchronous=FULL")
        self.connection.execute("SELECT rowid FROM fts WHERE fts MATCH 'a' LIMIT 1").fetchall()

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

    def reopen(self) -> None:
        self.writer = None  # releases the index's writer lock
        self.index = self.tantivy.Index.open(str(self.folder))
        self.index.register_tokenizer("densekit", self.analyzer)
        self.writer = self.index.writer(heap_size=50_000_000, num_threads=1)
        self.searcher = self.index.searcher()

    def disk_bytes(self) -> int:
        return folder_bytes(self.folder)


class SegmentedEngine:
    """densekit.sparse_segments.SegmentedSparseIndex in a SQLite file (WAL, synchronous=FULL): each
    build batch, add and delete is one committed transaction, as a collection commit would be."""

    def __init__(self, folder: Path, stem: bool, batch: int = 100):
        from densekit.sparse_segments import SegmentedSparseIndex

        self.folder = Path(folder)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.connection = sqlite3.connect(self.folder / "items.sqlite", isolation_level=None)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=FULL")
        self.index = SegmentedSparseIndex(self.connection, "sparse", stem=stem)
        self.batch = batch

    def _transaction(self, write) -> None:
        self.connection.execute("BEGIN")
        write()
        self.connection.execute("COMMIT")

    def build(self, rowids, texts) -> None:
        rowids, texts = list(rowids), list(texts)
        for start in range(0, len(texts), self.batch):
            end = start + self.batch
            self._transaction(partial(self.index.add, rowids[start:end], texts[start:end]))
        self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def add(self, rowid: int, text: str) -> None:
        self._transaction(lambda: self.index.add([rowid], [text]))

    def delete(self, rowid: int) -> None:
        self._transaction(lambda: self.index.delete([rowid]))

    def search(self, query: str, k: int) -> list[int]:
        return self.index.search(query, k)[1].tolist()

    def reopen(self) -> None:
        from densekit.sparse_segments import SegmentedSparseIndex

        self.connection.close()
        self.connection = sqlite3.connect(self.folder / "items.sqlite", isolation_level=None)
        self.connection.execute("PRAGMA synchronous=FULL")
        self.index = SegmentedSparseIndex(self.connection, "sparse")

    def disk_bytes(self) -> int:
        self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return folder_bytes(self.folder)
