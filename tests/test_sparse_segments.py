"""SegmentedSparseIndex: exact BM25 against a brute force and bm25s, incremental writes, transactions."""

import math
import random
import re
import sqlite3

import numpy as np
import pytest
import scipy.sparse

from densekit.errors import CollectionError, InvalidInputError
from densekit.sparse import SparseIndex, stemmer_available
from densekit.sparse_segments import SegmentedSparseIndex

STOP = {"a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no",
        "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to",
        "was", "will", "with"}
WORDS = ("river castle painter orchestra glacier senator violin harbour comet novel miner lantern "
         "the of and a to in is was not no bridge storm abbey poet cargo duke falcon mill").split()


def random_corpus(count: int, seed: int) -> list[str]:
    """Texts with Zipf-like word frequencies, so document frequencies span rare to near-universal."""
    draw = random.Random(seed)
    weights = [1 / (rank + 1) for rank in range(len(WORDS))]
    return [" ".join(draw.choices(WORDS, weights, k=draw.randint(0, 25))).capitalize() + "." for _ in range(count)]


def brute_force(documents: dict[int, str], query: str, k: int) -> list[tuple[float, int]]:
    """BM25 written out from its definition (Lucene IDF, k1=1.5, b=0.75), every document scored."""
    def tokens(text):
        return [w for w in re.findall(r"\b\w\w+\b", text.lower()) if w not in STOP]

    bags = {rowid: tokens(text) for rowid, text in documents.items()}
    count = len(bags)
    average = sum(len(bag) for bag in bags.values()) / count
    results = []
    for rowid, bag in bags.items():
        score = 0.0
        for term in tokens(query):  # a repeated query word counts again
            frequency = sum(term in other for other in bags.values())
            tf = bag.count(term)
            if tf:
                idf = math.log(1 + (count - frequency + 0.5) / (frequency + 0.5))
                score += idf * tf / (tf + 1.5 * (1 - 0.75 + 0.75 * len(bag) / average))
        if score > 0:
            results.append((score, rowid))
    results.sort(key=lambda pair: (-pair[0], pair[1]))
    return results[:k]


def assert_matches(index, documents, queries, k=10):
    for query in queries:
        scores, rowids = index.search(query, k)
        expected = brute_force(documents, query, k)
        assert rowids.tolist() == [rowid for _, rowid in expected], query
        np.testing.assert_allclose(scores, [score for score, _ in expected], rtol=1e-5)


QUERIES = ["river castle", "the painter of the orchestra", "falcon", "comet comet lantern", "duke mill abbey storm",
           "nothing matches zzz"]


@pytest.fixture()
def connection():
    opened = sqlite3.connect(":memory:")
    yield opened
    opened.close()


def test_scores_equal_brute_force_bm25(connection):
    texts = random_corpus(120, seed=1)
    index = SegmentedSparseIndex(connection, "sparse", stem=False)
    with connection:
        index.add(np.arange(120) * 3, texts)
    assert_matches(index, {i * 3: t for i, t in enumerate(texts)}, QUERIES)


def test_scores_equal_todays_bm25s_index(connection):
    texts = random_corpus(80, seed=2)
    ids = np.arange(80, dtype=np.int64) + 1000
    reference = SparseIndex(stem=False)
    reference.build(ids, texts)
    index = SegmentedSparseIndex(connection, "sparse", stem=False)
    index.add(ids[:50], texts[:50])  # two segments: statistics must still be global
    index.add(ids[50:], texts[50:])
    for query in QUERIES[:-1]:
        expected_scores, expected_ids = reference.search(query, 15)
        scores, rowids = index.search(query, 15)
        assert rowids.tolist() == expected_ids.tolist()
        np.testing.assert_allclose(scores, expected_scores, rtol=1e-5)


def test_incremental_adds_deletes_and_merges_equal_a_fresh_index(connection):
    texts = random_corpus(300, seed=3)
    index = SegmentedSparseIndex(connection, "sparse", stem=False)
    live: dict[int, str] = {}
    draw = random.Random(4)
    position = 0
    while position < 200:  # batches of 1..12 documents: enough segments for automatic merges
        size = draw.randint(1, 12)
        batch = {rowid: texts[rowid] for rowid in range(position, min(position + size, 200))}
        index.add(list(batch), list(batch.values()))
        live.update(batch)
        position += size
        if draw.random() < 0.5:
            gone = draw.sample(sorted(live), 3)
            assert index.delete(gone + [10_000]) == 3  # an unknown id is ignored
            for rowid in gone:
                del live[rowid]
    # Re-adding a deleted id with new text (an upsert) is allowed.
    reused = next(rowid for rowid in range(200) if rowid not in live)
    index.add([reused], [texts[250]])
    live[reused] = texts[250]
    assert index.statistics()["segments"] < 40  # merged along the way
    assert len(index) == len(live) and index.ids().tolist() == sorted(live)
    assert_matches(index, live, QUERIES)

    index.merge()
    assert index.statistics()["segments"] == 1
    assert connection.execute("SELECT count(*) FROM sparse_deleted").fetchone() == (0,)
    assert_matches(index, live, QUERIES)


def test_small_segments_over_a_wide_vocabulary(tmp_path):
    # 1,500 distinct words, then one-document segments: their postings are laid out by sorting
    # rather than as a vocabulary-wide matrix; both layouts must score alike and survive reopening.
    connection = sqlite3.connect(tmp_path / "items.sqlite")
    documents = {rowid: f"word{rowid} river" for rowid in range(1500)}
    index = SegmentedSparseIndex(connection, "sparse", stem=False)
    index.add(list(documents), list(documents.values()))
    for rowid, text in [(2000, "river castle word7"), (2001, "castle castle comet")]:
        index.add([rowid], [text])
        documents[rowid] = text
    connection.commit()
    queries = ["castle word7", "comet river", "word1499 castle"]
    assert_matches(index, documents, queries)
    assert_matches(SegmentedSparseIndex(sqlite3.connect(tmp_path / "items.sqlite"), "sparse"), documents, queries)


def test_reopening_reads_the_same_index_from_sqlite(tmp_path):
    path = tmp_path / "items.sqlite"
    texts = random_corpus(60, seed=5)
    with sqlite3.connect(path) as connection:
        index = SegmentedSparseIndex(connection, "words", stem=False)
        index.add(range(30), texts[:30])
        index.add(range(30, 60), texts[30:])
        index.delete([3, 40])
    connection.close()
    reopened = SegmentedSparseIndex(sqlite3.connect(path), "words", stem=True)  # the stored setting wins
    assert reopened.stemmer_language is None
    live = {i: t for i, t in enumerate(texts) if i not in (3, 40)}
    assert_matches(reopened, live, QUERIES)
    assert reopened.statistics() == index.statistics()


def test_writes_belong_to_the_callers_transaction(tmp_path):
    connection = sqlite3.connect(tmp_path / "items.sqlite")
    index = SegmentedSparseIndex(connection, "sparse", stem=False)
    with connection:
        index.add([1, 2], ["the river castle", "a comet over the harbour"])
    connection.execute("BEGIN")
    index.add([3], ["falcon falcon falcon"])
    index.delete([1])
    assert index.search("falcon", 5)[1].tolist() == [3]
    connection.rollback()
    index.reload()
    assert index.search("falcon", 5)[1].size == 0
    assert index.search("river", 5)[1].tolist() == [1]
    # Another connection sees only committed state.
    other = SegmentedSparseIndex(sqlite3.connect(tmp_path / "items.sqlite"), "sparse")
    assert other.ids().tolist() == [1, 2]


def test_only_deleted_documents_had_words(connection):
    index = SegmentedSparseIndex(connection, "sparse", stem=False)
    index.add([1], ["river castle"])
    index.delete([1])
    index.add([2], ["the of and"])  # stop words only: indexed, never matched
    with np.errstate(all="raise"):
        assert index.search("river", 5)[1].size == 0
    assert len(index) == 1 and index.statistics()["total_length"] == 0


def test_refresh_catches_up_with_another_connection(tmp_path):
    path = tmp_path / "items.sqlite"
    texts = random_corpus(90, seed=7)
    writer_connection = sqlite3.connect(path)
    writer_connection.execute("PRAGMA journal_mode=WAL")
    writer = SegmentedSparseIndex(writer_connection, "sparse", stem=False)
    with writer_connection:
        writer.add(range(40), texts[:40])
    reader = SegmentedSparseIndex(sqlite3.connect(path), "sparse")
    assert reader.refresh() is False
    live = {i: texts[i] for i in range(40)}
    for start in range(40, 90, 5):  # new segments, new terms and tombstones, committed elsewhere
        with writer_connection:
            writer.add(range(start, start + 5), texts[start:start + 5])
            writer.delete([start - 7])
        live.update({i: texts[i] for i in range(start, start + 5)})
        del live[start - 7]
    with writer_connection:
        writer.add([500], ["zeppelin river"])  # a word the reader has never seen
    live[500] = "zeppelin river"
    assert reader.refresh() is True
    assert reader.statistics() == writer.statistics()
    assert_matches(reader, live, QUERIES + ["zeppelin"])
    with writer_connection:
        writer.merge()  # replaces every segment the reader holds: it reads everything again
        writer.delete([500])
    del live[500]
    assert reader.refresh() is True
    assert reader.statistics() == writer.statistics() and reader.statistics()["segments"] == 1
    assert_matches(reader, live, QUERIES + ["zeppelin"])


def test_allowed_ids_restrict_hits_and_still_fill_k(connection):
    texts = random_corpus(100, seed=6)
    index = SegmentedSparseIndex(connection, "sparse", stem=False)
    index.add(range(100), texts)
    live = {i: t for i, t in enumerate(texts)}
    allowed = np.array([i for i in range(100) if i % 3 == 0])
    scores, rowids = index.search("river castle painter", 5, allowed=allowed)
    expected = brute_force(live, "river castle painter", 100)
    assert rowids.tolist() == [rowid for _, rowid in expected if rowid % 3 == 0][:5]
    assert index.search("river", 5, allowed=np.array([], dtype=np.int64))[1].size == 0


def test_bad_input_is_named(connection):
    index = SegmentedSparseIndex(connection, "sparse", stem=False)
    index.add([1], ["river"])
    with pytest.raises(InvalidInputError, match="already indexed"):
        index.add([1], ["castle"])
    with pytest.raises(InvalidInputError, match="repeated: \\[5\\]"):
        index.add([5, 5], ["a", "b"])
    with pytest.raises(InvalidInputError, match="2 rowids but 1 texts"):
        index.add([6, 7], ["a"])
    with pytest.raises(InvalidInputError, match="text 0 is int"):
        index.add([8], [8])
    with pytest.raises(InvalidInputError, match="k must be a positive integer"):
        index.search("river", 0)
    with pytest.raises(InvalidInputError, match="query must be a non-empty string"):
        index.search("  ", 3)
    with pytest.raises(InvalidInputError, match="table must be letters"):
        SegmentedSparseIndex(connection, "sparse; DROP TABLE x")
    connection.execute("UPDATE sparse_settings SET value = '99' WHERE key = 'format'")
    with pytest.raises(CollectionError, match="format '99'"):
        index.reload()


@pytest.mark.skipif(not stemmer_available(), reason="PyStemmer is not installed")
def test_stemming_matches_word_forms(connection):
    index = SegmentedSparseIndex(connection, "sparse", stem=True)
    index.add([1, 2], ["She runs along the rivers", "A castle stood"])
    assert index.stemmer_language == "english"
    assert index.search("running river", 5)[1].tolist() == [1]


def test_a_few_allowed_documents_are_scored_exactly_as_a_full_scan_scores_them(connection, monkeypatch):
    import densekit.sparse_segments as segments

    index = SegmentedSparseIndex(connection, "sparse", stem=False)
    texts = random_corpus(300, seed=8)
    for start in range(0, 300, 40):  # several segments, and words added after the first ones
        index.add(range(start, min(start + 40, 300)), texts[start : start + 40])
    index.delete([5, 77, 150])
    generator = np.random.default_rng(3)
    for query in QUERIES:
        allowed = generator.choice(300, size=60, replace=False)
        few = index.search(query, 10, allowed=allowed)
        monkeypatch.setattr(segments, "FEW_ALLOWED", 0)  # the posting scan
        scanned = index.search(query, 10, allowed=allowed)
        monkeypatch.undo()
        assert few[1].tolist() == scanned[1].tolist() and np.array_equal(few[0], scanned[0])


def test_a_segment_written_piece_by_piece_is_the_same_blob(tmp_path):
    """Segment.insert streams the BLOB through sqlite3 blob I/O: byte for byte what to_blob packs,
    and it reads back as the same segment."""
    from densekit.sparse_segment import Segment, unpack_arrays

    rng = np.random.default_rng(2)
    counts = scipy.sparse.random(300, 50, density=0.1, format="csr", random_state=3, dtype=np.float32)
    counts.data = np.ceil(counts.data * 4)
    segment = Segment(0, rng.permutation(1000)[:300].astype(np.int64), np.asarray(counts.sum(axis=1)).ravel(), counts)
    connection = sqlite3.connect(tmp_path / "s.sqlite")
    connection.execute("CREATE TABLE t_segments (id INTEGER PRIMARY KEY, data BLOB, added_gen INTEGER)")
    key = segment.insert(connection, "t_segments", 4)
    stored, generation = connection.execute("SELECT data, added_gen FROM t_segments WHERE id = ?", (key,)).fetchone()
    assert stored == segment.to_blob() and generation == 4
    back = Segment.from_blob(key, stored, 50)
    assert (back.by_document != counts).nnz == 0 and np.array_equal(back.rowids, segment.rowids)
    assert set(unpack_arrays(stored)) >= {"rowids", "indices", "term_documents"}


def test_a_vocabulary_that_repeats_a_term_is_refused(tmp_path):
    """The terms table has no UNIQUE index (writes cost less without it): loading checks instead,
    both reading the whole index and catching up with another connection's new terms."""
    path = tmp_path / "items.sqlite"
    writer = SegmentedSparseIndex(sqlite3.connect(path), "sparse", stem=False)
    with writer.connection:
        writer.add([1, 2], ["river castle", "comet harbour"])
    reader = SegmentedSparseIndex(sqlite3.connect(path), "sparse")
    with writer.connection:
        writer.connection.execute("INSERT INTO sparse_terms (id, term) VALUES (4, 'river')")
    with pytest.raises(CollectionError, match="'river' twice"):
        reader.refresh()
    with pytest.raises(CollectionError, match="holds a term twice"):
        SegmentedSparseIndex(sqlite3.connect(path), "sparse")


def test_tables_made_with_a_unique_vocabulary_are_written_and_read_as_before(tmp_path):
    """Collections made before kept a UNIQUE index on the terms (its constraint acts as this one does)."""
    path = tmp_path / "items.sqlite"
    texts = random_corpus(60, seed=9)
    with sqlite3.connect(path) as connection:
        index = SegmentedSparseIndex(connection, "words", stem=False)
        connection.execute("CREATE UNIQUE INDEX words_terms_unique ON words_terms(term)")
        index.add(range(30), texts[:30])
        index.add(range(30, 60), texts[30:])
    reopened = SegmentedSparseIndex(sqlite3.connect(path), "words")
    assert_matches(reopened, dict(enumerate(texts)), QUERIES)
    assert reopened.statistics() == index.statistics()


@pytest.mark.parametrize(("values", "stored"), [([1, 2, 255], "|u1"), ([1, 256, 65535], "<u2"), ([1, 65536], "<f4"),
                                                 ([1, 2.5], "<f4")])
def test_a_blob_keeps_counts_in_the_smallest_exact_type(tmp_path, values, stored):
    """Word counts are whole numbers: stored as uint8 (or uint16) they take a quarter (a half) of
    float32's bytes; a count that does not fit, or is not whole, stays float32. Read back equal."""
    from densekit.sparse_segment import Segment, unpack_arrays

    counts = scipy.sparse.csr_matrix(np.asarray([values], dtype=np.float64))
    segment = Segment(0, np.array([7], dtype=np.int64), np.asarray([sum(values)], dtype=np.float32), counts)
    arrays = unpack_arrays(segment.to_blob())
    assert arrays["counts"].dtype.str == stored and arrays["term_counts"].dtype.str == stored
    back = Segment.from_blob(1, segment.to_blob(), len(values))
    assert back.by_document.toarray().tolist() == [values] and back.term_counts.tolist() == values


def test_scores_read_from_narrow_counts_are_the_same_bits(tmp_path):
    """BM25 of a reopened index (counts read back as uint8 and uint16) equals, bit for bit, BM25 of the
    index that wrote them (counts in memory as float32): the same float32 arithmetic on the same values."""
    path = tmp_path / "items.sqlite"
    texts = random_corpus(80, seed=11) + [" ".join(["comet"] * 300 + ["river"] * 3)]  # one count past 255
    connection = sqlite3.connect(path)
    index = SegmentedSparseIndex(connection, "words", stem=False)
    index.add(range(40), texts[:40])
    index.add(range(40, 81), texts[40:])
    connection.commit()
    written = {query: index.search(query, 20) for query in QUERIES}
    reopened = SegmentedSparseIndex(sqlite3.connect(path), "words", stem=False)
    kinds = {str(segment.term_counts.dtype) for segment in reopened._segments}
    assert kinds == {"uint8", "uint16"}
    assert {str(segment.term_documents.dtype) for segment in reopened._segments} == {"uint16"}
    for query, (scores, rowids) in written.items():
        again_scores, again_rowids = reopened.search(query, 20)
        assert again_rowids.tolist() == rowids.tolist() and again_scores.tobytes() == scores.tobytes(), query


def test_blobs_are_written_as_format_2_and_format_1_still_reads(tmp_path):
    """A BLOB with uint16 positions is marked DKSEG2, which a densekit from before refuses (it added a
    segment's start to them without casting and scored the wrong documents past 65,535); BLOBs of
    format 1 (float32 counts, int32 positions) read back as before."""
    from densekit.sparse_segment import Segment, pack_arrays, unpack_arrays

    counts = scipy.sparse.csr_matrix(np.array([[0.0, 2.0, 1.0], [3.0, 0.0, 0.0]]))
    segment = Segment(0, np.array([5, 9], dtype=np.int64), np.array([3.0, 3.0], dtype=np.float32), counts)
    assert segment.to_blob().startswith(b"DKSEG2\n")
    old = {name: array.astype(np.float32) if name in ("counts", "term_counts") else
           array.astype(np.int32) if name == "term_documents" else array
           for name, array in unpack_arrays(segment.to_blob()).items()}
    blob = b"DKSEG1\n" + pack_arrays(**old)[len(b"DKSEG2\n"):]
    back = Segment.from_blob(1, blob, 3)
    assert back.term_counts.dtype == np.float32 and back.by_document.toarray().tolist() == counts.toarray().tolist()
    with pytest.raises(ValueError, match="unknown format"):
        unpack_arrays(b"DKSEG9\n" + blob[7:])
