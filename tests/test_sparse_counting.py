"""sparse_counting counts each chunk and each document from one split of the document's text: the
counts (and their order) must be those of splitting every chunk and every piece on its own."""

import random
import sqlite3
from collections import Counter

import numpy as np
import pytest

from densekit.chunking import chunk_text
from densekit.sparse import document_pieces
from densekit.sparse_counting import DocumentText, Windows, WordTable, count_rows, in_order_of_appearance, joined
from densekit.sparse_segments import SegmentedSparseIndex
from densekit.sparse_words import words

VOCABULARY = ["The", "the", "river", "RIVER", "Rivers", "of", "a", "I", "x", "and", "état", "Straße", "İstanbul",
              "ΣΟΦΙΑ", "ΟΔΟΣ", "ΑΣΑ", "σοφία", "naïve", "co-op", "don't", "42", "3.14", "snake_case", "__init__", "Ünïcödé", "日本語",
              "ﬁne", "ǅemal", "e\u0301te", "\u00a0", "\t", "\n", "...", "!", ",", "(", ")"]


def random_text(rng: random.Random, words_count: int, alphabet: list[str]) -> str:
    parts = []
    for _ in range(words_count):
        parts.append(rng.choice(alphabet))
        parts.append(rng.choice([" ", " ", " ", "", "\n", ", ", "-"]))
    return "".join(parts)


def character_spans(size: int):
    """Tokens of ``size`` characters: chunk edges fall inside words."""
    return lambda text: [(start, min(start + size, len(text))) for start in range(0, len(text), size)]


def word_spans(text: str) -> list[tuple[int, int]]:
    import re

    return [match.span() for match in re.finditer(r"\w+|[^\w\s]", text)]


def expected_rows(members):
    """The per-text path: each chunk's words, and the document's from its pieces (Counter order)."""
    chunks = {rowid: list(Counter(words(text)).items()) for rowid, text, _ in members}
    total: Counter = Counter()
    for piece in document_pieces([text for _, text, _ in members], [span for _, _, span in members]):
        total.update(Counter(words(piece)))
    return chunks, list(total.items())


def counted(rows, table):
    """Each row's (term, count) pairs from CSR counts."""
    indptr, indices, counts = rows
    return [[(table.terms[term], int(count)) for term, count in zip(indices[indptr[row]:indptr[row + 1]].tolist(),
                                                                     counts[indptr[row]:indptr[row + 1]].tolist())]
            for row in range(len(indptr) - 1)]


def random_document(seed):
    rng = random.Random(seed)
    alphabet = VOCABULARY if seed % 2 else [word for word in VOCABULARY if word not in ("İstanbul", "ΣΟΦΙΑ", "ΟΔΟΣ", "ΑΣΑ")]
    text = random_text(rng, rng.randint(0, 120), alphabet)
    spans = [character_spans(rng.randint(1, 7)), word_spans][seed % 3 == 0]
    size = rng.randint(2, 12)
    chunks = chunk_text(text, spans, size, rng.randint(0, size - 1)) if text else []
    members = [(1000 * seed + number, chunk.text, (chunk.start, chunk.end)) for number, chunk in enumerate(chunks)]
    rng.shuffle(members)  # the store gives them in row order, not by offset
    if members and seed % 5 == 0:
        members.append((1000 * seed + 999, "a chunk WITHOUT offsets", None))
    return members


@pytest.mark.parametrize("first", range(0, 40, 4))
def test_chunk_and_document_counts_equal_counting_each_text(first):
    """Four documents and a lone text in one batch: each chunk's row and each document's row hold
    the counts of splitting that chunk, or that document's pieces, on its own."""
    documents = [random_document(seed) for seed in range(first, first + 4)]
    table, windows, expected, row = WordTable(), None, [], 0
    windows = Windows(table)
    lone = "A lone TEXT, of the river"
    windows.add(lone, [(0, len(lone))], [row])
    expected.append(list(Counter(words(lone)).items()))
    row += 1
    for members in documents:
        chunk_rows, document_row = expected_rows(members)
        document = DocumentText(members)
        if members and all(span is not None for _, _, span in members):
            assert document.whole
        rowids = [rowid for rowid, _, _ in members]
        document.add_chunks(windows, rowids, list(range(row, row + len(rowids))))
        expected += [chunk_rows[rowid] for rowid in rowids]
        row += len(rowids)
        document.add_document(windows, row)
        expected.append(document_row)
        row += 1
    assert counted(windows.counts(row), table) == expected


def test_chunks_that_are_not_slices_of_one_text_are_counted_one_by_one():
    members = [(1, "alpha beta gamma", (0, 16)), (2, "DELTA epsilon zeta", (11, 29))]  # overlap disagrees
    document = DocumentText(members)
    assert not document.whole
    table = WordTable()
    windows = Windows(table)
    chunk_rows, document_row = expected_rows(members)
    document.add_chunks(windows, [1, 2], [0, 1])
    document.add_document(windows, 2)
    assert counted(windows.counts(3), table) == [chunk_rows[1], chunk_rows[2], document_row]


@pytest.mark.parametrize("seed", range(6))
def test_count_rows_gives_each_rows_counter_in_first_occurrence_order(seed):
    """Windows of a row need not be adjacent nor rows in order; -1 (a dropped word) is not counted."""
    rng = np.random.default_rng(seed)
    row_count, term_count = int(rng.integers(1, 30)), int(rng.integers(1, 50))
    windows = [rng.integers(-1, term_count, size=int(rng.integers(0, 40))) for _ in range(int(rng.integers(0, 60)))]
    rows = rng.integers(0, row_count, size=len(windows))
    expected = [Counter() for _ in range(row_count)]
    for window, row in zip(windows, rows.tolist()):
        expected[row].update(term for term in window.tolist() if term >= 0)
    terms, lengths = joined(windows)
    indptr, indices, counts = count_rows(terms, lengths, rows, row_count, term_count)
    assert [list(zip(indices[indptr[row]:indptr[row + 1]].tolist(), counts[indptr[row]:indptr[row + 1]].tolist()))
            for row in range(row_count)] == [list(counter.items()) for counter in expected]


def test_in_order_of_appearance():
    values = np.random.default_rng(3).integers(0, 500, size=5000)
    assert in_order_of_appearance(values).tolist() == list(dict.fromkeys(values.tolist()))
    assert in_order_of_appearance(np.zeros(0, dtype=np.int64)).tolist() == []


def test_rows_write_the_same_segment_and_terms_as_counters():
    rng = random.Random(7)
    texts = [random_text(rng, rng.randint(0, 40), VOCABULARY) for _ in range(60)]
    rowids = np.arange(10, 70, dtype=np.int64)
    by_counters = SegmentedSparseIndex(sqlite3.connect(":memory:"), "sparse")
    by_counters.add(rowids[:5], ["the river of état", "", "x", "naïve naïve", "42"])
    by_counters.add_counted(rowids[5:], [Counter(words(text)) for text in texts[5:]])
    by_rows = SegmentedSparseIndex(sqlite3.connect(":memory:"), "sparse")
    by_rows.add(rowids[:5], ["the river of état", "", "x", "naïve naïve", "42"])
    table = WordTable()
    terms, lengths = joined([table.text_ids(text) for text in texts[5:]])
    by_rows.add_rows(rowids[5:], table, *count_rows(terms, lengths, np.arange(len(lengths)), len(lengths), len(table.terms)))
    for query in ("SELECT id, term FROM sparse_terms ORDER BY id", "SELECT id, data, added_gen FROM sparse_segments JOIN sparse_blobs ON segment = id ORDER BY id"):
        assert by_rows.connection.execute(query).fetchall() == by_counters.connection.execute(query).fetchall()
    assert by_rows.statistics() == by_counters.statistics()
    assert by_rows.search("river état", 5)[1].tolist() == by_counters.search("river état", 5)[1].tolist()


def test_rows_of_one_table_over_several_writes_number_terms_as_counters():
    """One WordTable writes three batches (as a writer does): terms the index has from an earlier
    write, terms the table numbered for an earlier batch, and new ones mixed in each batch."""
    rng = random.Random(11)
    batches = [[random_text(rng, rng.randint(0, 30), VOCABULARY) for _ in range(20)] for _ in range(3)]
    by_counters = SegmentedSparseIndex(sqlite3.connect(":memory:"), "sparse")
    by_rows = SegmentedSparseIndex(sqlite3.connect(":memory:"), "sparse")
    for index in (by_counters, by_rows):  # the index knows some words before the table does
        index.add(np.array([1, 2]), [" ".join(VOCABULARY[::3]), "zzz unseen"])
    table = WordTable()
    for number, texts in enumerate(batches):
        rowids = np.arange(100 * (number + 1), 100 * (number + 1) + len(texts), dtype=np.int64)
        by_counters.add_counted(rowids, [Counter(words(text)) for text in texts])
        terms, lengths = joined([table.text_ids(text) for text in texts])
        by_rows.add_rows(rowids, table, *count_rows(terms, lengths, np.arange(len(lengths)), len(lengths), len(table.terms)))
    for query in ("SELECT id, term FROM sparse_terms ORDER BY id", "SELECT id, data, added_gen FROM sparse_segments JOIN sparse_blobs ON segment = id ORDER BY id"):
        assert by_rows.connection.execute(query).fetchall() == by_counters.connection.execute(query).fetchall()
    assert by_rows.statistics() == by_counters.statistics()


@pytest.mark.parametrize("text", ["ΟΔΟΣΑΣ ΟΔΟΣ ΑΣΑ", "İSTANBUL İstanbul ıi"])
def test_texts_whose_lowercase_depends_on_neighbours_or_grows(text):
    """A capital sigma lowercases by what follows (a chunk cut after it sees a final sigma); 'İ'
    lowercases to two characters. Both are counted window by window, as the per-text path does."""
    chunks = chunk_text(text, character_spans(1), 4, 1)
    members = [(number, chunk.text, (chunk.start, chunk.end)) for number, chunk in enumerate(chunks)]
    chunk_rows, document_row = expected_rows(members)
    document, table = DocumentText(members), WordTable()
    windows = Windows(table)
    document.add_chunks(windows, range(len(members)), range(len(members)))
    document.add_document(windows, len(members))
    assert counted(windows.counts(len(members) + 1), table) == [chunk_rows[n] for n in range(len(members))] + [document_row]
